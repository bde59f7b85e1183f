package dev.jdiffusion.cli;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.checkpoint.BuiltinConfigs;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.training.TrainingBenchmark;
import java.util.ArrayList;
import java.util.List;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.checkpoint.ModelFamily;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.models.controlnet.ControlNetConfig;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.pipelines.Benchmark;
import dev.jdiffusion.pipelines.ControlNets;
import dev.jdiffusion.pipelines.SafetyCheckerBenchmark;
import dev.jdiffusion.pipelines.SafetyCheckerStep;
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

    @Option(names = "--train", description = "Time training instead: a UNet and a VAE training step (forward + backward of every weight) at --batch, next to their forward passes.")
    boolean train;

    @Option(names = "--no-vae", description = "With --train: time the UNet only (the full-size VAE at 256² costs minutes per step).")
    boolean noVae;

    @Option(names = "--gradient-checkpointing", description = "With --train: recompute blocks in the backward pass.")
    boolean gradientCheckpointing;
    @Option(names = "--safety-checker", description = "Time the safety checker instead, on one --width x --height image:"
            + " with --architecture sd15, SD 1.5's (CLIP ViT-L/14, random --dtype weights); with --model, the model's own.")
    boolean safetyChecker;

    @Option(names = "--lora-rank", paramLabel = "R",
            description = "Instead: time applying a random rank-R LoRA (kohya layout: UNet attention, feed-forward, proj_in/out; text encoder) to the model.")
    Integer loraRank;

    @Option(names = "--locon", description = "With --lora-rank: the LoRA also adapts every UNet convolution (LoCon).")
    boolean locon;

    @Option(names = "--lora-out", paramLabel = "FILE", description = "With --lora-rank: keep the random LoRA in FILE (for timing a generation with it).")
    java.nio.file.Path loraOut;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        // Read once when the kernels first run (a constant for the JIT): set it before any model code runs.
        if (profile) System.setProperty("jdiffusion.profile", "true");
        if (train) return trainBench(out, err);
        if (safetyChecker) return benchSafetyChecker(out, err);
        StableDiffusionModel model;
        if (source.architecture != null) {
            ModelFamily family = switch (source.architecture.toLowerCase(Locale.ROOT)) {
                case "sd15", "sd1.5", "sd1" -> ModelFamily.SD1;
                case "sd21", "sd2.1", "sd2" -> ModelFamily.SD2;
                default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "unknown architecture '" + source.architecture + "'; valid: sd15, sd21");
            };
            model = StableDiffusionModel.randomWeights(family, dtype());
        } else {
            model = StableDiffusionModel.load(ModelLocator.resolve(source.model));
        }
        if (loraRank != null) return lora(model, out, err);
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
                RandomWeights weights = new RandomWeights(dtype(), 4);
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

    /** `bench --train`: UNet and VAE training steps at the given size and batch, against their forward passes. */
    private int trainBench(PrintWriter out, PrintWriter err) {
        JsonConfig unetConfig, vaeConfig;
        WeightSource unetWeights, vaeWeights;
        String name;
        if (source.architecture != null) {
            ModelFamily family = source.architecture.toLowerCase(Locale.ROOT).startsWith("sd2") ? ModelFamily.SD2 : ModelFamily.SD1;
            unetConfig = BuiltinConfigs.read(family, "unet", "config.json");
            vaeConfig = BuiltinConfigs.read(family, "vae", "config.json");
            DType dt = dtype.toLowerCase(Locale.ROOT).equals("f32") ? DType.F32 : DType.F16;
            unetWeights = new RandomWeights(dt, 2);
            vaeWeights = new RandomWeights(dt, 3);
            name = family.builtInConfigs() + " (random weights)";
        } else {
            DiffusersFolder f = DiffusersFolder.open(ModelLocator.resolve(source.model));
            unetConfig = f.config("unet");
            vaeConfig = f.config("vae");
            unetWeights = WeightSource.of(f.weights("unet", false));
            vaeWeights = WeightSource.of(f.weights("vae", false));
            name = f.root().getFileName().toString();
        }
        AutoencoderKLConfig vc = AutoencoderKLConfig.from(vaeConfig);
        int factor = vc.downscaleFactor();
        if (width % factor != 0 || height % factor != 0)
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--width and --height must be multiples of " + factor);
        java.util.function.Consumer<String> log = json && !profile ? line -> {} : line -> err.println("  " + line);
        List<TrainingBenchmark.Result> results = new ArrayList<>();
        results.add(TrainingBenchmark.unet(UNet2DConditionConfig.from(unetConfig), unetWeights, batch, height / factor, width / factor,
                repeat, gradientCheckpointing, log));
        if (!noVae) results.add(TrainingBenchmark.vae(vc, vaeWeights, batch, height, width, repeat, gradientCheckpointing, log));
        long rss = Benchmark.peakRss();
        if (json) {
            ObjectMapper m = new ObjectMapper();
            ObjectNode o = m.createObjectNode();
            o.put("model", name).put("width", width).put("height", height).put("batch", batch).put("threads", Parallel.threads())
                    .put("gradient_checkpointing", gradientCheckpointing);
            for (TrainingBenchmark.Result r : results)
                o.putObject(r.what()).put("trained_values", r.trainedValues()).put("forward_s", r.forwardSeconds())
                        .put("forward_gflop", r.forwardFlops() / 1e9).put("step_s", r.stepSeconds()).put("step_gflop", r.stepFlops() / 1e9)
                        .put("samples_per_s", r.samplesPerSecond()).put("forward_gflops", r.forwardGflops())
                        .put("step_gflops", r.stepGflops()).put("backward_gflops", r.backwardGflops());
            o.put("peak_rss_mb", rss < 0 ? -1 : rss / (1024 * 1024));
            out.println(o);
        } else {
            out.printf(Locale.ROOT, "%s, %dx%d, batch %d, %d threads, median of %d%s%n", name, width, height, batch,
                    Parallel.threads(), repeat, gradientCheckpointing ? ", gradient checkpointing" : "");
            for (TrainingBenchmark.Result r : results)
                out.printf(Locale.ROOT, "%-5s forward %7.3f s (%.2f GFLOP, %.1f GFLOP/s)   training step %7.3f s (%.2f GFLOP, %.1f GFLOP/s; backward %.1f GFLOP/s)   %.2f samples/s%n",
                        r.what(), r.forwardSeconds(), r.forwardFlops() / 1e9, r.forwardGflops(), r.stepSeconds(), r.stepFlops() / 1e9,
                        r.stepGflops(), r.backwardGflops(), r.samplesPerSecond());
            out.printf(Locale.ROOT, "peak RSS %d MB%n", rss / (1024 * 1024));
        }
        return 0;
    }
    private int benchSafetyChecker(PrintWriter out, PrintWriter err) {
        SafetyCheckerStep step;
        String name;
        if (source.architecture != null) {
            if (!source.architecture.toLowerCase(Locale.ROOT).startsWith("sd1"))
                throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "--safety-checker: only sd15 ships one (SD 2.x pipelines have none)");
            step = SafetyCheckerBenchmark.sd15(dtype());
            name = "SD 1.5 safety checker (CLIP ViT-L/14, random " + dtype.toLowerCase(Locale.ROOT) + " weights)";
        } else {
            java.nio.file.Path dir = ModelLocator.resolve(source.model);
            step = SafetyCheckerStep.forModel(dir).orElseThrow(() -> new IllegalArgumentException(source.model + ": this model has no safety checker"));
            name = source.model + " safety checker";
        }
        SafetyCheckerBenchmark.Result r = SafetyCheckerBenchmark.run(step, width, height, repeat,
                json ? line -> {} : line -> err.println("  " + line));
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("model", name).put("width", width).put("height", height).put("repeat", repeat).put("threads", Parallel.threads());
            o.put("preprocess_s", r.preprocessSeconds()).put("safety_checker_s", r.checkerSeconds()).put("total_s", r.totalSeconds());
            o.put("gflop", r.flops() / 1e9);
            out.println(o);
        } else {
            out.printf(Locale.ROOT, "%s, one %dx%d image, %d threads, median of %d%n", name, width, height, Parallel.threads(), repeat);
            out.printf(Locale.ROOT, "preprocess      %8.3f s%n", r.preprocessSeconds());
            out.printf(Locale.ROOT, "safety checker  %8.3f s  (%.1f GFLOP, %.1f GFLOP/s)%n", r.checkerSeconds(), r.flops() / 1e9,
                    r.flops() / r.checkerSeconds() / 1e9);
            out.printf(Locale.ROOT, "per image       %8.3f s%n", r.totalSeconds());
        }
        return 0;
    }

    private DType dtype() {
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

    private int lora(StableDiffusionModel model, PrintWriter out, PrintWriter err) throws java.io.IOException {
        if (loraRank < 1) throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--lora-rank must be at least 1");
        Benchmark.LoraResult r = Benchmark.lora(model, loraRank, locon, repeat, loraOut, json ? line -> {} : line -> err.println("  " + line));
        double mb = 1024 * 1024;
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("model", model.name()).put("lora_rank", r.rank()).put("locon", locon).put("lora_layers", r.layers())
                    .put("lora_mb", r.loraBytes() / mb).put("adapted_mb", r.adaptedBytes() / mb).put("model_mb", r.modelBytes() / mb)
                    .put("apply_s", r.seconds()).put("apply_cpu_s", r.cpuSeconds())
                    .put("full_f32_copy_s", r.fullCopySeconds()).put("full_f32_copy_cpu_s", r.fullCopyCpuSeconds())
                    .put("threads", Parallel.threads())
                    .put("peak_rss_mb", r.peakRssBytes() < 0 ? -1 : r.peakRssBytes() / (1024 * 1024));
            out.println(o);
        } else {
            out.printf(Locale.ROOT, "%s, LoRA rank %d%s, %d layers, %.1f MB file, median of %d%n", model.name(), r.rank(),
                    locon ? " with convolutions (LoCon)" : "", r.layers(), r.loraBytes() / mb, repeat);
            out.printf(Locale.ROOT, "apply         %8.3f s  CPU %.3f s  (merges %.0f MB of the model's %.0f MB)%n", r.seconds(),
                    r.cpuSeconds(), r.adaptedBytes() / mb, r.modelBytes() / mb);
            out.printf(Locale.ROOT, "baseline      %8.3f s  CPU %.3f s  (every tensor to float32 once)%n", r.fullCopySeconds(),
                    r.fullCopyCpuSeconds());
            out.printf(Locale.ROOT, "ratio         %8.2f    CPU %.2f%n", r.seconds() / r.fullCopySeconds(), r.cpuSeconds() / r.fullCopyCpuSeconds());
            out.printf(Locale.ROOT, "peak RSS      %8d MB%n", r.peakRssBytes() / (1024 * 1024));
        }
        return 0;
    }
}
