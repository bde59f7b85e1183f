package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.checkpoint.ModelFamily;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.pipelines.Benchmark;
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
        StableDiffusionModel model;
        if (source.architecture != null) {
            ModelFamily family = switch (source.architecture.toLowerCase(Locale.ROOT)) {
                case "sd15", "sd1.5", "sd1" -> ModelFamily.SD1;
                case "sd21", "sd2.1", "sd2" -> ModelFamily.SD2;
                default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "unknown architecture '" + source.architecture + "'; valid: sd15, sd21");
            };
            DType dt = switch (dtype.toLowerCase(Locale.ROOT)) {
                case "f32", "fp32" -> DType.F32;
                case "f16", "fp16" -> DType.F16;
                case "bf16" -> DType.BF16;
                default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                        "unknown dtype '" + dtype + "'; valid: f32, f16, bf16");
            };
            model = StableDiffusionModel.randomWeights(family, dt);
        } else {
            model = StableDiffusionModel.load(ModelLocator.resolve(source.model));
        }
        if (loraRank != null) return lora(model, out, err);
        Benchmark.Result r = Benchmark.run(model, new Benchmark.Settings(width, height, batch, repeat),
                json && !profile ? line -> {} : line -> err.println("  " + line));
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("model", model.name());
            o.put("width", width).put("height", height).put("batch", batch).put("repeat", repeat).put("threads", Parallel.threads());
            o.put("unet_s", r.unetSeconds()).put("vae_decode_s", r.vaeDecodeSeconds()).put("text_encoder_s", r.textEncoderSeconds());
            o.put("unet_gflop", r.unetFlops() / 1e9).put("unet_gflops", r.unetGflops());
            o.put("peak_rss_mb", r.peakRssBytes() < 0 ? -1 : r.peakRssBytes() / (1024 * 1024));
            o.put("gemm_gflops", r.gemmGflops());
            out.println(o);
        } else {
            out.printf(Locale.ROOT, "%s, %dx%d, UNet batch %d, %d threads, median of %d%n", model.name(), width, height,
                    batch, Parallel.threads(), repeat);
            out.printf(Locale.ROOT, "text encoder  %8.3f s%n", r.textEncoderSeconds());
            out.printf(Locale.ROOT, "unet          %8.3f s  (%.1f GFLOP, %.1f GFLOP/s)%n", r.unetSeconds(), r.unetFlops() / 1e9, r.unetGflops());
            out.printf(Locale.ROOT, "vae decode    %8.3f s%n", r.vaeDecodeSeconds());
            out.printf(Locale.ROOT, "peak RSS      %8d MB%n", r.peakRssBytes() / (1024 * 1024));
            out.printf(Locale.ROOT, "GEMM probe    %8.1f GFLOP/s  (4096x1280x1280 float32, best of 5: this machine's speed right now)%n", r.gemmGflops());
        }
        return 0;
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
