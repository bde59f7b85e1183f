package dev.jdiffusion.pipelines;

import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.FlopCounter;
import dev.jdiffusion.tensor.Gemm;
import dev.jdiffusion.tensor.OpProfile;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;

/**
 * Times the three parts of a generation: the text encoder (a CFG pair of prompts), one UNet
 * evaluation at the given batch (2 = one CFG step for one image) and one VAE decode of one image.
 * Each is warmed up (at least once), then run {@code repeat} times; the median is reported.
 */
public final class Benchmark {
    private Benchmark() {}

    /** What to time: the image size, the UNet batch, and how many timed runs each part gets (the median is kept). */
    public record Settings(int width, int height, int batch, int repeat) {
        public Settings {
            if (width <= 0 || height <= 0 || batch < 1 || repeat < 1)
                throw new IllegalArgumentException("bench needs positive width, height, batch and repeat");
        }
    }

    /**
     * The median seconds of each part, and what they imply.
     *
     * @param unetFlops    multiply-add work of one UNet evaluation (plain conv/matmul/attention count, 2 per MAC)
     * @param peakRssBytes the process's peak resident memory (VmHWM), or -1 where the OS does not tell
     * @param gemmGflops the best of a few runs of one fixed float32 matrix multiply (4096×1280 by 1280×1280)
     *                   in the same process: how fast this machine runs the kernels right now, so that runs on
     *                   noisy or different machines can be compared (UNet GFLOP/s relative to it)
     */
    public record Result(double textEncoderSeconds, double unetSeconds, double vaeDecodeSeconds, long unetFlops,
                         long peakRssBytes, double gemmGflops) {
        public double unetGflops() { return unetFlops / unetSeconds / 1e9; }
    }

    public static Result run(StableDiffusionModel model, Settings s, Consumer<String> log) {
        int f = model.vae().config().downscaleFactor();
        if (s.width() % f != 0 || s.height() % f != 0)
            throw new IllegalArgumentException("width and height must be multiples of " + f + ", got " + s.width() + "x" + s.height());
        int lh = s.height() / f, lw = s.width() / f, lc = model.unet().config().inChannels();
        Random random = new Random(0);
        Tensor latents = gaussian(random, s.batch(), lh, lw, lc);
        Tensor context = gaussian(random, s.batch(), model.tokenizer().maxLength(), model.unet().config().crossAttentionDim());
        float[] timesteps = new float[s.batch()];
        Arrays.fill(timesteps, 500f);
        int[][] ids = {model.tokenizer().encodePadded("a photo of an astronaut riding a horse on the moon"),
                model.tokenizer().encodePadded("")};
        Tensor decodeInput = gaussian(random, 1, lh, lw, model.vae().config().latentChannels());

        double text = median(s.repeat(), log, "text encoder", () -> model.textEncoder().forward(ids));
        long before = FlopCounter.total();
        model.unet().forward(latents, timesteps, context);
        long unetFlops = FlopCounter.total() - before;
        OpProfile.reset();
        double unet = median(s.repeat(), log, "unet", () -> Buffers.recycle(model.unet().forward(latents, timesteps, context)));
        if (OpProfile.enabled()) {
            log.accept("unet kernels over the warm-up and " + s.repeat() + " timed runs, heaviest first:");
            OpProfile.report(40).forEach(line -> log.accept("  " + line));
        }
        OpProfile.reset();
        double vae = median(s.repeat(), log, "vae decode", () -> Buffers.recycle(model.vae().decode(decodeInput)));
        if (OpProfile.enabled()) {
            log.accept("vae decode kernels over the warm-up and " + s.repeat() + " timed runs, heaviest first:");
            OpProfile.report(25).forEach(line -> log.accept("  " + line));
        }
        return new Result(text, unet, vae, unetFlops, peakRss(), gemmProbe());
    }

    /**
     * A ControlNet step against a plain step, timed in the same run on the same inputs.
     *
     * @param plainSeconds      one UNet evaluation (median)
     * @param controlNetSeconds one ControlNet evaluation plus the UNet evaluation with its residuals (median)
     * @param controlNetFlops   the ControlNet's own work per evaluation
     * @param weightBytes       the ControlNet's weights as mapped (or made, for random weights)
     * @param peakRssPlainBytes the process's peak resident memory before the ControlNet first ran (VmHWM), -1 if unknown
     * @param peakRssBytes      the same after the ControlNet steps
     * @param residualBytes     the residuals a step holds while the UNet runs (what a ControlNet step keeps alive
     *                          beyond the UNet's own activations; the net's intermediates reuse the UNet's buffers)
     * @param embeddingBytes    the control image's conditioning embedding, kept for the whole generation
     */
    public record ControlNetResult(double plainSeconds, double controlNetSeconds, long controlNetFlops, long weightBytes,
                                   long peakRssPlainBytes, long peakRssBytes, long residualBytes, long embeddingBytes) {
        public double ratio() { return controlNetSeconds / plainSeconds; }
    }

    /**
     * Times plain UNet evaluations and ControlNet steps (the net on the same latents, its residuals into the UNet)
     * alternately, after one warm-up of each, at the settings' size and batch; the control image's embedding is made
     * once, as a generation does. Reports the medians.
     */
    public static ControlNetResult controlNet(StableDiffusionModel model, dev.jdiffusion.models.controlnet.ControlNetModel net,
                                              long weightBytes, Settings s, Consumer<String> log) {
        int f = model.vae().config().downscaleFactor();
        int lh = s.height() / f, lw = s.width() / f, lc = model.vae().config().latentChannels();
        Random random = new Random(0);
        Tensor latents = gaussian(random, s.batch(), lh, lw, lc);
        Tensor context = gaussian(random, s.batch(), model.tokenizer().maxLength(), model.unet().config().crossAttentionDim());
        float[] timesteps = new float[s.batch()];
        Arrays.fill(timesteps, 500f);
        Runnable plainStep = () -> Buffers.recycle(model.unet().forward(latents, timesteps, context));
        plainStep.run();  // warm-up; what the process peaked at before the ControlNet ran
        long rssPlain = peakRss();
        Tensor image = Tensor.zeros(s.batch(), s.height(), s.width(), net.config().conditioningChannels());
        for (int i = 0; i < image.size(); i++) image.data()[i] = random.nextFloat();
        Tensor embedding = net.embedCondition(image);
        Runnable netStep = () -> {
            var residuals = net.forwardEmbedded(latents, timesteps, context, embedding, 1f, false);
            Buffers.recycle(model.unet().forward(latents, timesteps, context, residuals));
            releaseAll(residuals);
        };
        long before = FlopCounter.total();
        var first = net.forwardEmbedded(latents, timesteps, context, embedding, 1f, false);
        long netFlops = FlopCounter.total() - before;
        long residualBytes = 4L * (first.mid().size() + first.down().stream().mapToLong(Tensor::size).sum());
        releaseAll(first);
        // Warm the ControlNet step up, then alternate plain and ControlNet steps so that both see the same machine state.
        netStep.run();
        double[] plain = new double[s.repeat()], withNet = new double[s.repeat()];
        for (int i = 0; i < s.repeat(); i++) {
            plain[i] = timed(plainStep)[0];
            withNet[i] = timed(netStep)[0];
            log.accept(String.format(java.util.Locale.ROOT, "plain step %.3f s, controlnet step %.3f s (%d/%d)",
                    plain[i], withNet[i], i + 1, s.repeat()));
        }
        return new ControlNetResult(median(plain), median(withNet), netFlops, weightBytes, rssPlain, peakRss(), residualBytes,
                4L * embedding.size());
    }

    private static double median(double[] t) {
        double[] c = t.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }

    private static void releaseAll(dev.jdiffusion.models.unet.UNetResiduals r) {
        r.down().forEach(Buffers::recycle);
        Buffers.recycle(r.mid());
    }

    /** GFLOP/s of a fixed 4096×1280×1280 float32 linear layer, best of five after a warm-up. */
    static double gemmProbe() {
        Random random = new Random(1);
        int m = 4096, k = 1280, n = 1280;
        float[] w = new float[n * k];
        for (int i = 0; i < w.length; i++) w[i] = (float) random.nextGaussian();
        WeightTensor weight = WeightTensor.ofFloats("probe", w, n, k);
        Tensor x = gaussian(random, m, k);
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 6; i++) {
            long start = System.nanoTime();
            Tensor y = Gemm.linear(x, weight, null);
            if (i > 0) best = Math.min(best, (System.nanoTime() - start) / 1e9);
            Buffers.recycle(y);
        }
        return 2.0 * m * n * k / best / 1e9;
    }

    private static Tensor gaussian(Random r, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) d[i] = (float) r.nextGaussian();
        return t;
    }

    /**
     * Warm-up runs (at least one, more while they add up to under two seconds, at most five: the JIT
     * compiles the kernels meanwhile), then the median of {@code repeat} timed runs, in seconds. Each timed run is
     * logged as "{@code what}: run i/n t s". The inference and the training benchmarks both time this way.
     */
    public static double median(int repeat, Consumer<String> log, String what, Runnable work) {
        long warmStart = System.nanoTime();
        for (int i = 0; i < 5 && (i == 0 || System.nanoTime() - warmStart < 2_000_000_000L); i++) work.run();
        double[] t = new double[repeat];
        for (int i = 0; i < repeat; i++) {
            long start = System.nanoTime();
            work.run();
            t[i] = (System.nanoTime() - start) / 1e9;
            log.accept(String.format(java.util.Locale.ROOT, "%s: run %d/%d %.3f s", what, i + 1, repeat, t[i]));
        }
        Arrays.sort(t);
        return repeat % 2 == 1 ? t[repeat / 2] : (t[repeat / 2 - 1] + t[repeat / 2]) / 2;
    }

    /**
     * What applying a LoRA costs.
     *
     * @param layers        adapted layers (text encoder and UNet)
     * @param loraBytes     the LoRA file's size
     * @param adaptedBytes  bytes of the model's tensors the LoRA adapts (what gets merged copies)
     * @param modelBytes    bytes of all text-encoder and UNet tensors
     * @param seconds       median time of {@link StableDiffusionModel#withAdapters} (read, match, merge, build the parts)
     * @param cpuSeconds    the process's CPU time during that run (all threads; on a shared machine the fairer measure)
     * @param fullCopySeconds baseline in the same run: converting every text-encoder and UNet tensor to float32 once,
     *                      the least that merging into a float32 copy of the whole model would cost
     * @param fullCopyCpuSeconds its CPU time
     */
    public record LoraResult(int rank, int layers, long loraBytes, long adaptedBytes, long modelBytes, double seconds, double cpuSeconds,
                             double fullCopySeconds, double fullCopyCpuSeconds, long peakRssBytes) {}

    /**
     * Times applying a random kohya LoRA of {@code rank} (F16, as LoRAs are shared) to the model: the layers kohya's
     * sd-scripts trains by default (UNet attention, feed-forward and proj_in/out; text-encoder attention and MLP),
     * and with {@code convolutions} also every 3×3 and 1×1 convolution of the UNet's resnets and samplers (LoCon).
     * The LoRA is written to a file first (a temporary one unless {@code keep} names one), as one would be read from disk.
     */
    public static LoraResult lora(StableDiffusionModel model, int rank, boolean convolutions, int repeat, Path keep, Consumer<String> log)
            throws IOException {
        java.util.Map<String, dev.jdiffusion.tensor.WeightTensor> tensors = new java.util.LinkedHashMap<>();
        java.util.Random random = new java.util.Random(7);
        long adapted = 0, total = 0;
        int layers = 0;
        for (var part : java.util.List.of(java.util.Map.entry("lora_te_", model.base().textEncoderWeights().shapes()),
                java.util.Map.entry("lora_unet_", model.base().unetWeights().shapes()))) {
            for (var e : part.getValue().entrySet()) {
                int[] shape = e.getValue();
                long size = 1;
                for (int d : shape) size *= d;
                total += size * 2;
                String name = e.getKey();
                if (!name.endsWith(".weight") || shape.length < 2) continue;
                boolean attention = name.matches(".*(attn[12]\\.to_(q|k|v|out\\.0)|ff\\.net\\.(0\\.proj|2)|proj_in|proj_out"
                        + "|self_attn\\.(q|k|v|out)_proj|mlp\\.fc[12])\\.weight");
                boolean conv = convolutions && name.matches(".*(resnets\\.\\d+\\.(conv1|conv2|conv_shortcut|time_emb_proj)"
                        + "|samplers\\.0\\.conv)\\.weight");
                if (!attention && !conv) continue;
                String key = part.getKey() + name.substring(0, name.length() - 7).replace('.', '_');
                int in = (int) (size / shape[0]);
                int[] downShape = shape.clone();
                downShape[0] = rank;
                int[] upShape = shape.length == 4 ? new int[]{shape[0], rank, 1, 1} : new int[]{shape[0], rank};
                tensors.put(key + ".lora_down.weight", randomF16(random, downShape, 1 / Math.sqrt(in)));
                tensors.put(key + ".lora_up.weight", randomF16(random, upShape, 0.01));
                tensors.put(key + ".alpha", randomF16(random, new int[0], 0));
                adapted += size * 2;
                layers++;
            }
        }
        Path file = keep != null ? keep : Files.createTempFile("jdiffusion-bench-lora", ".safetensors");
        try {
            dev.jdiffusion.io.SafeTensorsWriter.write(file, tensors, java.util.Map.of());
            tensors.clear();
            GenerationRequest request = GenerationRequest.builder("x").lora(file, 0.8).build();
            // Applying and the baseline alternate, so that both see the same machine (a shared one varies by 2× and more).
            Runnable applyLora = () -> {
                if (model.withAdapters(Adapters.of(request)) == model) throw new IllegalStateException("no adapters applied");
            };
            Runnable copyAll = () -> {
                for (var part : java.util.List.of(model.base().textEncoderWeights(), model.base().unetWeights()))
                    for (var e : part.shapes().entrySet()) {
                        dev.jdiffusion.tensor.WeightTensor w = part.get(e.getKey(), e.getValue());
                        float[] f = new float[Math.toIntExact(w.size())];
                        w.copyTo(0, f, 0, f.length);
                    }
            };
            applyLora.run();
            copyAll.run();
            double[][] a = new double[repeat][], c = new double[repeat][];
            for (int i = 0; i < repeat; i++) {
                a[i] = timed(applyLora);
                c[i] = timed(copyAll);
                log.accept(String.format(java.util.Locale.ROOT, "run %d/%d: LoRA rank %d %.3f s (CPU %.3f s), float32 copy of every tensor %.3f s (CPU %.3f s)",
                        i + 1, repeat, rank, a[i][0], a[i][1], c[i][0], c[i][1]));
            }
            long peak = peakRss();
            Arrays.sort(a, java.util.Comparator.comparingDouble(r -> r[0]));
            Arrays.sort(c, java.util.Comparator.comparingDouble(r -> r[0]));
            double[] apply = a[repeat / 2], copy = c[repeat / 2];
            return new LoraResult(rank, layers, Files.size(file), adapted, total, apply[0], apply[1], copy[0], copy[1], peak);
        } finally {
            if (keep == null) Files.deleteIfExists(file);
        }
    }

    /** Wall and process CPU seconds of one run. */
    private static double[] timed(Runnable work) {
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long cpu = os.getProcessCpuTime(), start = System.nanoTime();
        work.run();
        return new double[]{(System.nanoTime() - start) / 1e9, (os.getProcessCpuTime() - cpu) / 1e9};
    }

    /** Random F16 values of standard deviation {@code std} (a 0-dim tensor holds {@code rank}-like alpha 16). */
    private static dev.jdiffusion.tensor.WeightTensor randomF16(java.util.Random r, int[] shape, double std) {
        long n = 1;
        for (int d : shape) n *= d;
        java.lang.foreign.MemorySegment seg = java.lang.foreign.MemorySegment.ofArray(new byte[(int) n * 2]);
        java.lang.foreign.ValueLayout.OfShort s = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++)
            seg.setAtIndex(s, i, Float.floatToFloat16(shape.length == 0 ? 16f : (float) (r.nextGaussian() * std)));
        return new dev.jdiffusion.tensor.WeightTensor("r", dev.jdiffusion.tensor.DType.F16, shape, seg);
    }

    /** Peak resident set size from /proc/self/status (Linux), or -1. */
    public static long peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
