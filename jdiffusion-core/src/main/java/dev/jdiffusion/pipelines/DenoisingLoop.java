package dev.jdiffusion.pipelines;

import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.unet.UNetResiduals;
import dev.jdiffusion.schedulers.Scheduler;
import dev.jdiffusion.schedulers.TorchGenerator;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

import java.util.Arrays;

/**
 * The one denoising loop of every task (text-to-image, image-to-image, inpainting, each with or without
 * ControlNets), as diffusers' pipelines run it:
 * <pre>
 * for i in timesteps[first:]:
 *     x   = scheduler.scale_model_input(latents, i)
 *     in  = (x ⧺ x if CFG else x) ⧺channels extra            (inpainting UNets: mask, masked-image latents)
 *     res = controlnets(x, i)                                  (residuals for the UNet's skips and mid block)
 *     eps = unet(in, t, context, res) → uncond + g·(cond − uncond)
 *     latents = scheduler.step(eps, i, latents)
 *     latents = afterStep(i, latents)                          (4-channel inpainting: blend the known region back)
 *     listener.onStep                                          (progress, previews, cancel or keep the estimate)
 * </pre>
 * A task supplies only its hooks; the loop knows nothing of masks or control images.
 */
final class DenoisingLoop {

    /** Residuals for the UNet at one step, or null for none (no ControlNet, or all outside their window). */
    interface Residuals {
        /**
         * @param loopIndex  0-based index of this step among the steps run (diffusers' {@code i})
         * @param loopLength the number of UNet evaluations in the loop ({@code len(timesteps)})
         * @param x          the scaled latents (NCHW, batch n)
         * @param unetInput  what the UNet gets before any extra channels: x, or x ⧺ x with CFG (NHWC)
         */
        UNetResiduals at(int loopIndex, int loopLength, float[] x, Tensor unetInput, float t);
    }

    /** Runs after each scheduler step with the step's full index; returns the latents to go on with. */
    interface AfterStep {
        float[] apply(int stepIndex, float[] latents);
    }

    private final UNet2DConditionModel unet;
    private final Scheduler scheduler;
    private final TorchGenerator generator;
    private final Tensor context;
    private final boolean cfg;
    private final float guidance;
    private float[] extra;
    private int extraChannels;
    private Residuals residuals;
    private AfterStep afterStep;

    /**
     * @param context the text context: uncond ⧺ cond (batch 2n) with CFG, else cond (batch n)
     */
    DenoisingLoop(UNet2DConditionModel unet, Scheduler scheduler, TorchGenerator generator, Tensor context, boolean cfg,
                  float guidance) {
        this.unet = unet;
        this.scheduler = scheduler;
        this.generator = generator;
        this.context = context;
        this.cfg = cfg;
        this.guidance = guidance;
    }

    /** Channels concatenated after the latents for the UNet, NCHW with batch n (repeated for CFG here), not scaled. */
    DenoisingLoop extraChannels(float[] nchw, int channels) {
        this.extra = nchw;
        this.extraChannels = channels;
        return this;
    }

    DenoisingLoop residuals(Residuals r) {
        this.residuals = r;
        return this;
    }

    DenoisingLoop afterStep(AfterStep a) {
        this.afterStep = a;
        return this;
    }

    /**
     * Denoises from step {@code first} to the end.
     *
     * @param latents the starting latents, NCHW (n, c, h, w)
     * @return the final latents
     */
    float[] run(float[] latents, int n, int c, int h, int w, int first, StepListener listener) {
        double[] timesteps = scheduler.timesteps();
        int total = timesteps.length - first;
        int batch = cfg ? 2 * n : n;
        if (unet.config().inChannels() != c + extraChannels)
            throw new IllegalArgumentException("the UNet takes " + unet.config().inChannels() + " input channels, but the "
                    + "task gives " + c + " latent" + (extraChannels > 0 ? " + " + extraChannels + " extra" : "")
                    + " channels (an inpainting model needs a mask; a text-to-image model cannot take one as input)");
        float[] ts = new float[batch];
        for (int i = first; i < timesteps.length; i++) {
            if (Thread.currentThread().isInterrupted()) throw new GenerationCancelledException(i - first, total);
            float t = (float) timesteps[i];
            float[] x = scheduler.scaleModelInput(latents, i);
            Tensor in = TensorOps.nchwToNhwc(cfg ? twice(x) : x, batch, c, h, w);
            UNetResiduals res = residuals == null ? null : residuals.at(i - first, total, x, in, t);
            Tensor unetIn = extra == null ? in : withExtra(in, batch, n, h * w, c);
            Arrays.fill(ts, t);
            Tensor out = unet.forward(unetIn, ts, context, res);
            if (res != null) {
                res.down().forEach(Buffers::recycle);
                Buffers.recycle(res.mid());
            }
            float[] eps = TensorOps.nhwcToNchw(out);
            Buffers.recycle(out);
            if (cfg) eps = guide(eps, x.length);
            float[] before = latents;
            latents = scheduler.step(eps, i, before, generator);
            if (afterStep != null) latents = afterStep.apply(i, latents);
            int done = i - first + 1;
            if (listener.wantsPreview(done, total))
                listener.onPreview(new StepPreview(done, total, scheduler.predOriginalSample(eps, i, before), n, c, h, w));
            if (!listener.onStep(done, total) && i + 1 < timesteps.length) {
                if (!listener.keepPartialResult()) throw new GenerationCancelledException(done, total);
                return scheduler.predOriginalSample(eps, i, before);  // A1111's interrupt: the denoised estimate
            }
        }
        return latents;
    }

    private static float[] twice(float[] x) {
        float[] out = Arrays.copyOf(x, 2 * x.length);
        System.arraycopy(x, 0, out, x.length, x.length);
        return out;
    }

    /** (latents ⧺ extra) along channels, NHWC; the extra channels of image b serve both CFG halves. */
    private Tensor withExtra(Tensor in, int batch, int n, int pixels, int c) {
        int ce = extraChannels, ct = c + ce;
        float[] src = in.data(), out = new float[batch * pixels * ct];
        for (int b = 0; b < batch; b++) {
            int e = b % n;
            for (int p = 0; p < pixels; p++) {
                int o = (b * pixels + p) * ct;
                System.arraycopy(src, (b * pixels + p) * c, out, o, c);
                for (int k = 0; k < ce; k++) out[o + c + k] = extra[(e * ce + k) * pixels + p];
            }
        }
        return new Tensor(out, batch, in.dim(1), in.dim(2), ct);
    }

    /** uncond + g · (cond − uncond), element-wise over the two halves. */
    private float[] guide(float[] out, int half) {
        float[] guided = new float[half];
        for (int i = 0; i < half; i++) {
            float u = out[i], cond = out[half + i];
            guided[i] = u + guidance * (cond - u);
        }
        return guided;
    }
}
