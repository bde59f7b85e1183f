package dev.jdiffusion.training;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.pipelines.Benchmark;
import dev.jdiffusion.tensor.Autograd;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.FlopCounter;
import dev.jdiffusion.tensor.OpProfile;
import dev.jdiffusion.tensor.Tensor;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Training throughput: the median time of a forward pass alone and of a training step (forward recorded
 * on the tape, then the whole backward into float32 gradients of every weight), with the floating-point work
 * each does (2 per multiply-add, as {@link FlopCounter} counts: the backward of a matrix product is two
 * products of the same size). The optimizer's update is element-wise and not included.
 */
public final class TrainingBenchmark {
    private TrainingBenchmark() {}

    /**
     * @param forwardFlops work of one forward pass; @param stepFlops of one forward + backward
     */
    public record Result(String what, int batch, double forwardSeconds, long forwardFlops, double stepSeconds, long stepFlops,
                         long trainedValues) {
        public double samplesPerSecond() { return batch / stepSeconds; }
        public double forwardGflops() { return forwardFlops / forwardSeconds / 1e9; }
        public double stepGflops() { return stepFlops / stepSeconds / 1e9; }
        /** The backward alone: the step's extra work over the extra time. */
        public double backwardGflops() { return (stepFlops - forwardFlops) / Math.max(1e-9, stepSeconds - forwardSeconds) / 1e9; }
    }

    /** A UNet training step at (batch, height/f, width/f) latents with a 77-token context. */
    public static Result unet(UNet2DConditionConfig config, WeightSource weights, int batch, int latentH, int latentW,
                              int repeat, boolean checkpointing, Consumer<String> log) {
        Parameters params = new Parameters();
        UNet2DConditionModel unet = new UNet2DConditionModel(config, params.source("unet", weights, n -> true));
        Random r = new Random(0);
        Tensor x = gaussian(r, batch, latentH, latentW, config.inChannels());
        Tensor context = gaussian(r, batch, 77, config.crossAttentionDim());
        float[] t = new float[batch];
        Arrays.fill(t, 500f);
        return measure("unet", batch, repeat, params, checkpointing, () -> unet.forward(x, t, context), log);
    }

    /** An autoencoder training step: encoder and decoder at (batch, height, width) images. */
    public static Result vae(AutoencoderKLConfig config, WeightSource weights, int batch, int height, int width, int repeat,
                             boolean checkpointing, Consumer<String> log) {
        Parameters params = new Parameters();
        AutoencoderKL vae = new AutoencoderKL(config, params.source("vae", weights, n -> true));
        Tensor x = gaussian(new Random(0), batch, height, width, config.inChannels());
        int lc = config.latentChannels();
        return measure("vae", batch, repeat, params, checkpointing, () -> {
            Tensor m = vae.encodeMoments(x);
            // The mean half of the moments stands in for the sample (the sampling is element-wise and cheap).
            Tensor mean = slice(m, lc);
            return vae.decode(mean);
        }, log);
    }

    private static Tensor slice(Tensor moments, int lc) {
        int pixels = moments.size() / (2 * lc);
        float[] z = new float[pixels * lc];
        for (int p = 0; p < pixels; p++) System.arraycopy(moments.data(), p * 2 * lc, z, p * lc, lc);
        int[] shape = moments.shape();
        shape[shape.length - 1] = lc;
        Tensor out = new Tensor(z, shape);
        Autograd.Recorder rec = Autograd.recorder();
        if (rec != null && rec.requiresGrad(moments)) rec.record("slice", out, new Tensor[]{moments}, g -> {
            float[] go = g.output(), gm = new float[moments.size()];
            for (int p = 0; p < pixels; p++) System.arraycopy(go, p * lc, gm, p * 2 * lc, lc);
            g.input(0, gm);
        });
        return out;
    }

    private static Result measure(String what, int batch, int repeat, Parameters params, boolean checkpointing,
                                  Supplier<Tensor> forward, Consumer<String> log) {
        long f0 = FlopCounter.total();
        Buffers.recycle(Autograd.with(null, forward));
        long forwardFlops = FlopCounter.total() - f0;
        double fwd = Benchmark.median(repeat, log, what + " forward", () -> Buffers.recycle(Autograd.with(null, forward)));
        Runnable step = () -> {
            Tape tape = new Tape(params, checkpointing);
            Tensor y = tape.record(forward);
            float[] seed = new float[y.size()];
            for (int i = 0; i < seed.length; i++) seed[i] = (i % 7 - 3) * 1e-3f;
            tape.backward(y, seed);
            params.zeroGrad();
        };
        long s0 = FlopCounter.total();
        step.run();
        long stepFlops = FlopCounter.total() - s0;
        OpProfile.reset();
        double train = Benchmark.median(repeat, log, what + " training step", step);
        if (OpProfile.enabled()) {
            log.accept(what + " training step kernels, heaviest first:");
            OpProfile.report(40).forEach(line -> log.accept("  " + line));
        }
        return new Result(what, batch, fwd, forwardFlops, train, stepFlops, params.count());
    }

    private static Tensor gaussian(Random r, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) d[i] = (float) r.nextGaussian();
        return t;
    }
}
