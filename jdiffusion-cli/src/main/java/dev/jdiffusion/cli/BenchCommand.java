package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.checkpoint.ModelFamily;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.models.controlnet.ControlNetConfig;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.pipelines.Benchmark;
import dev.jdiffusion.pipelines.ControlNets;
import dev.jdiffusion.pipelines.StableDiffusionModel;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.Parallel;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

/** `jdiffusion bench`: times the text encoder, one UNet evaluation and one VAE decode. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time the text encoder, one UNet evaluation and one VAE decode (median of --repeat runs after a warm-up).")
final class BenchCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    static final class Source {
        @Option(names = "--model", description = "A model to time (folder, single file or cached hub id).")
        String model;

        @Option(names = "--architecture", description = "A published architecture with random weights made in memory: sd15 or sd21.")
        String architecture;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--dtype", defaultValue = "f16", description = "With --architecture: the weights' dtype, f32, f16 or bf16 (default: ${DEFAULT-VALUE}, as fp16 checkpoints).")
    String dtype;

    @Option(names = "--width", defaultValue = "512", description = "Image width (default: ${DEFAULT-VALUE}).")
    int width;

    @Option(names = "--height", defaultValue = "512", description = "Image height (default: ${DEFAULT-VALUE}).")
    int height;

    @Option(names = "--batch", defaultValue = "2", description = "UNet batch: 2 is one CFG step for one image (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--repeat", defaultValue = "3", description = "Timed runs per part (default: ${DEFAULT-VALUE}).")
    int repeat;

    @Option(names = "--json", description = "Print one JSON object instead of a table.")
    boolean json;

    @Option(names = "--profile", description = "Also print the UNet's time per kernel call shape, heaviest first (on stderr).")
    boolean profile;

    @Option(names = "--controlnet", description = "Also time a ControlNet step (the net plus the UNet with its residuals) against a plain step: a ControlNet (folder, file, hub id), or 'random' for the architecture's ControlNet (conditioning embedding 16, 32, 96, 256) with random weights of --dtype.")
    String controlNet;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        // Read once when the kernels first run (a constant for the JIT): set it before any model code runs.
        if (profile) System.setProperty("jdiffusion.profile", "true");
        StableDiffusionModel model;
        if (source.architecture != null) {
            ModelFamily family = switch (source.architecture.toLowerCase(Locale.ROOT)) {
                case "sd15", "sd1.5", "sd1" -> ModelFamily.SD1;
                case "sd21", "sd2.1", "sd2" -> ModelFamily.SD2;
                default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "unknown architecture '" + source.architecture + "'; valid: sd15, sd21");
            };
            model = StableDiffusionModel.randomWeights(family, weightType());
        } else {
            model = StableDiffusionModel.load(ModelLocator.resolve(source.model));
        }
        Benchmark.Settings settings = new Benchmark.Settings(width, height, batch, repeat);
        java.util.function.Consumer<String> log = json && !profile ? line -> {} : line -> err.println("  " + line);
        Benchmark.Result r = Benchmark.run(model, settings, log);
        Benchmark.ControlNetResult cn = null;
        if (controlNet != null) {
            if (model.unet().config().inChannels() != 4)
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--controlnet: time it with a 4-channel (text-to-image) model");
            ControlNetModel net;
            long weightBytes;
            if (controlNet.equals("random")) {
                RandomWeights weights = new RandomWeights(weightType(), 4);
                net = new ControlNetModel("random ControlNet", ControlNetConfig.fromUnet(model.unet().config(), 4, 3,
                        java.util.List.of(16, 32, 96, 256)), weights);
                weightBytes = weights.bytes();
            } else {
                java.nio.file.Path path = ModelLocator.resolve(controlNet);
                net = ControlNets.load(path, model.unet().config(), model.name());
                weightBytes = sizeOf(path);
            }
            cn = Benchmark.controlNet(model, net, weightBytes, settings, log);
        }
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("model", model.name());
            o.put("width", width).put("height", height).put("batch", batch).put("repeat", repeat).put("threads", Parallel.threads());
            o.put("unet_s", r.unetSeconds()).put("vae_decode_s", r.vaeDecodeSeconds()).put("text_encoder_s", r.textEncoderSeconds());
            o.put("unet_gflop", r.unetFlops() / 1e9).put("unet_gflops", r.unetGflops());
            o.put("peak_rss_mb", r.peakRssBytes() < 0 ? -1 : r.peakRssBytes() / (1024 * 1024));
            o.put("gemm_gflops", r.gemmGflops());
            if (cn != null) {
                o.put("controlnet_plain_step_s", cn.plainSeconds()).put("controlnet_step_s", cn.controlNetSeconds())
                        .put("controlnet_step_ratio", cn.ratio()).put("controlnet_gflop", cn.controlNetFlops() / 1e9)
                        .put("controlnet_weights_mb", cn.weightBytes() / (1024 * 1024))
                        .put("peak_rss_plain_mb", cn.peakRssPlainBytes() / (1024 * 1024))
                        .put("peak_rss_controlnet_mb", cn.peakRssBytes() / (1024 * 1024))
                        .put("controlnet_residuals_mb", cn.residualBytes() / (1024 * 1024))
                        .put("controlnet_embedding_mb", cn.embeddingBytes() / (1024 * 1024));
            }
            out.println(o);
        } else {
            out.printf(Locale.ROOT, "%s, %dx%d, UNet batch %d, %d threads, median of %d%n", model.name(), width, height,
                    batch, Parallel.threads(), repeat);
            out.printf(Locale.ROOT, "text encoder  %8.3f s%n", r.textEncoderSeconds());
            out.printf(Locale.ROOT, "unet          %8.3f s  (%.1f GFLOP, %.1f GFLOP/s)%n", r.unetSeconds(), r.unetFlops() / 1e9, r.unetGflops());
            out.printf(Locale.ROOT, "vae decode    %8.3f s%n", r.vaeDecodeSeconds());
            out.printf(Locale.ROOT, "peak RSS      %8d MB%n", r.peakRssBytes() / (1024 * 1024));
            out.printf(Locale.ROOT, "GEMM probe    %8.1f GFLOP/s  (4096x1280x1280 float32, best of 5: this machine's speed right now)%n", r.gemmGflops());
            if (cn != null) {
                out.printf(Locale.ROOT, "plain step    %8.3f s  (UNet, alternating with the ControlNet steps)%n", cn.plainSeconds());
                out.printf(Locale.ROOT, "ControlNet    %8.3f s  (net + UNet with residuals: %.2fx a plain step; the net %.1f GFLOP)%n",
                        cn.controlNetSeconds(), cn.ratio(), cn.controlNetFlops() / 1e9);
                out.printf(Locale.ROOT, "  weights     %8d MB%n", cn.weightBytes() / (1024 * 1024));
                out.printf(Locale.ROOT, "  peak RSS    %8d MB before the ControlNet ran, %d MB after its steps%n",
                        cn.peakRssPlainBytes() / (1024 * 1024), cn.peakRssBytes() / (1024 * 1024));
                out.printf(Locale.ROOT, "  held        %8d MB of residuals during the UNet, %d MB of control-image embedding%n",
                        cn.residualBytes() / (1024 * 1024), cn.embeddingBytes() / (1024 * 1024));
            }
        }
        return 0;
    }

    private DType weightType() {
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32", "fp32" -> DType.F32;
            case "f16", "fp16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "unknown dtype '" + dtype + "'; valid: f32, f16, bf16");
        };
    }

    /** Bytes of a ControlNet's weight files (what mapping it costs at most). */
    private static long sizeOf(java.nio.file.Path path) throws java.io.IOException {
        if (!java.nio.file.Files.isDirectory(path)) return java.nio.file.Files.size(path);
        try (var files = java.nio.file.Files.list(path)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).mapToLong(p -> p.toFile().length()).sum();
        }
    }
}
