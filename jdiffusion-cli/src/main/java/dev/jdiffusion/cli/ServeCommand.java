package dev.jdiffusion.cli;

import dev.jdiffusion.io.checkpoint.PredictionType;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.server.JDiffusionServer;
import dev.jdiffusion.server.Limits;
import dev.jdiffusion.server.ServerOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** `jdiffusion serve`: AUTOMATIC1111's HTTP API (/sdapi/v1/...) and a web page, until stopped (Ctrl-C). */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve AUTOMATIC1111's web API (/sdapi/v1/txt2img, img2img, progress, ...) and a web page at /.",
                "A1111 clients work unchanged: point them at http://HOST:PORT."})
final class ServeCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--model", description = "The model to start with: a diffusers folder, a single-file .safetensors/.ckpt checkpoint, or a Hugging Face repo id in the local cache"
            + " (default: the bundled model, " + BundledModel.RELATIVE + ").")
    String model;

    @Option(names = "--models-dir", description = "A folder of further models (diffusers folders, .safetensors, .ckpt) that clients may switch to with sd_model_checkpoint.")
    Path modelsDir;

    @Option(names = "--lora-dir", paramLabel = "DIR", description = "Where a prompt's <lora:NAME:SCALE> tags find NAME.safetensors (A1111's models/Lora); listed by /sdapi/v1/loras.")
    Path loraDir;

    @Option(names = "--embeddings-dir", paramLabel = "DIR", description = "Textual-inversion embeddings every prompt may use (A1111's embeddings/); those for another model width are skipped. Listed by /sdapi/v1/embeddings.")
    Path embeddingsDir;

    @Option(names = "--config", description = "Single-file --model of non-standard size: a diffusers folder whose configs describe it.")
    Path config;

    @Option(names = "--prediction-type", description = "What the --model's UNet predicts when the weights cannot tell (SD 2.x): epsilon or v_prediction.")
    String predictionType;

    @Option(names = "--vae", description = "Use another VAE: a diffusers folder or a single file.")
    Path vae;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}, this machine only; 0.0.0.0 for all).")
    String host;

    @Option(names = "--port", defaultValue = "7860", description = "Port (default: ${DEFAULT-VALUE}, as A1111; 0 picks a free one).")
    int port;

    @Option(names = "--api-auth", description = "USER:PASS[,USER:PASS...]: HTTP basic auth for the API and the page (/internal/ping stays open).")
    String apiAuth;

    @Option(names = "--queue-size", defaultValue = "16", description = "Requests that may wait behind the running one; more get 503 at once (default: ${DEFAULT-VALUE}).")
    int queueSize;

    @Option(names = "--cors-allow-origins", split = ",", description = "Origins (comma-separated, or *) whose web pages may call the API.")
    List<String> corsOrigins = List.of();

    @Option(names = "--output-dir", defaultValue = "outputs", description = "Where save_images writes, as A1111's outputs/ (default: ${DEFAULT-VALUE}).")
    Path outputDir;

    @Option(names = "--max-body-mb", defaultValue = "64", description = "Largest request body in MiB (default: ${DEFAULT-VALUE}).")
    int maxBodyMb;

    @Option(names = "--max-size", defaultValue = "2048", description = "Largest width or height a request may ask for (default: ${DEFAULT-VALUE}).")
    int maxSize;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr(), out = spec.commandLine().getOut();
        Map<String, String> credentials = credentials();
        if (queueSize < 0) throw new ParameterException(spec.commandLine(), "--queue-size must be 0 or more");
        if (port < 0 || port > 65535) throw new ParameterException(spec.commandLine(), "--port must be 0 to 65535");
        if (maxBodyMb < 1 || maxBodyMb > 1024) throw new ParameterException(spec.commandLine(), "--max-body-mb must be 1 to 1024");
        if (maxSize < 8) throw new ParameterException(spec.commandLine(), "--max-size must be at least 8");
        if (modelsDir != null && !Files.isDirectory(modelsDir))
            throw new ParameterException(spec.commandLine(), "--models-dir " + modelsDir + ": not a folder");
        if (loraDir != null && !Files.isDirectory(loraDir))
            throw new ParameterException(spec.commandLine(), "--lora-dir " + loraDir + ": not a folder");
        if (embeddingsDir != null && !Files.isDirectory(embeddingsDir))
            throw new ParameterException(spec.commandLine(), "--embeddings-dir " + embeddingsDir + ": not a folder");
        PredictionType prediction = null;
        if (predictionType != null) {
            try {
                prediction = PredictionType.parse(predictionType);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--prediction-type: " + e.getMessage());
            }
        }
        if (!JDiffusionServer.isLoopback(host) && credentials.isEmpty())
            err.println("jdiffusion: warning: listening on " + host + " without --api-auth: anyone who can reach this machine can use the server");
        Limits d = Limits.DEFAULTS;
        ServerOptions options = new ServerOptions(model != null ? ModelLocator.resolve(model) : BundledModel.locate(), modelsDir, new LoadOptions(config, prediction, vae),
                host, port, credentials, queueSize, corsOrigins, outputDir,
                new Limits(maxBodyMb << 20, maxSize, d.maxImages(), d.maxSteps(), d.maxInputPixels()), loraDir, embeddingsDir);
        JDiffusionServer server;
        try {
            server = JDiffusionServer.start(options);
        } catch (io.netty.channel.ChannelException e) {
            throw new IllegalArgumentException("cannot listen on " + host + ":" + port + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            if (e.getCause() instanceof java.net.BindException b)
                throw new IllegalArgumentException("cannot listen on " + host + ":" + port + ": " + b.getMessage(), e);
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "jdiffusion-serve-stop"));
        String shown = host.contains(":") ? "[" + host + "]" : host;
        out.println("jdiffusion: serving " + server.modelTitle() + " at http://" + shown + ":" + server.port() + "/ (API: /sdapi/v1; Ctrl-C stops)");
        out.flush();
        stopped.await();
        return 0;
    }

    private Map<String, String> credentials() {
        Map<String, String> m = new LinkedHashMap<>();
        if (apiAuth == null) return m;
        for (String pair : Arrays.stream(apiAuth.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList()) {
            int colon = pair.indexOf(':');
            if (colon <= 0) throw new ParameterException(spec.commandLine(), "--api-auth expects USER:PASS[,USER:PASS...]");
            m.put(pair.substring(0, colon), pair.substring(colon + 1));
        }
        return m;
    }
}
