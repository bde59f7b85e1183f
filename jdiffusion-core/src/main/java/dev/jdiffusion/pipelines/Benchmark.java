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
     * compiles the kernels meanwhile), then the median of {@code repeat} timed runs, in seconds.
     */
    static double median(int repeat, Consumer<String> log, String what, Runnable work) {
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
