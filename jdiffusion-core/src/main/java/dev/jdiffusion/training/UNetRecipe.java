package dev.jdiffusion.training;

import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.tensor.Autograd;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

/**
 * One step of diffusers' {@code examples/text_to_image/train_text_to_image.py}: latents from the frozen
 * VAE, the DDPM forward process {@code add_noise} at the given timesteps, the text encoder's last hidden
 * state as context, the UNet's prediction against the noise (epsilon) or the velocity (v_prediction), the
 * mean squared error — optionally min-SNR weighted — and its backward into the trained parameters.
 * Tensors in and out of this class are in PyTorch's NCHW order.
 */
public final class UNetRecipe {
    private final AutoencoderKL vae;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final float[] alphasCumprod;
    private final boolean vPrediction;
    private final double snrGamma;
    private final boolean trainTextEncoder;

    /**
     * @param predictionType the scheduler config's prediction_type ("epsilon" or "v_prediction")
     * @param snrGamma       min-SNR γ, or 0 for the plain MSE
     */
    public UNetRecipe(AutoencoderKL vae, ClipTextModel textEncoder, UNet2DConditionModel unet, float[] alphasCumprod,
                      String predictionType, double snrGamma, boolean trainTextEncoder) {
        if (!predictionType.equals("epsilon") && !predictionType.equals("v_prediction"))
            throw new IllegalArgumentException("training supports prediction_type epsilon and v_prediction, not " + predictionType);
        this.vae = vae;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.alphasCumprod = alphasCumprod.clone();
        this.vPrediction = predictionType.equals("v_prediction");
        this.snrGamma = snrGamma;
        this.trainTextEncoder = trainTextEncoder;
    }

    public int numTrainTimesteps() { return alphasCumprod.length; }

    /** The frozen VAE's posterior for a batch of images: mean and standard deviation, (N, C, h, w) each. */
    public record Posterior(float[] mean, float[] std) {}

    /** The VAE encoder's posterior of images in [-1, 1] (N, 3, H, W), log-variance clamped to [-30, 20]; nothing records. */
    public Posterior encode(float[] pixels, int n, int height, int width) {
        return Autograd.with(null, () -> {
            AutoencoderKL.LatentDist dist = vae.encode(TensorOps.nchwToNhwc(pixels, n, 3, height, width));
            return new Posterior(TensorOps.nhwcToNchw(dist.mean()), TensorOps.nhwcToNchw(dist.std()));
        });
    }

    /** z = (mean + std · ε) · scaling_factor: the latents diffusers' script trains on. */
    public float[] latents(Posterior posterior, float[] posteriorNoise) {
        float[] mean = posterior.mean(), std = posterior.std();
        if (posteriorNoise.length != mean.length)
            throw new IllegalArgumentException("posterior noise has " + posteriorNoise.length + " values, the latents " + mean.length);
        float sf = vae.scalingFactor();
        float[] z = new float[mean.length];
        for (int i = 0; i < z.length; i++) z[i] = (mean[i] + std[i] * posteriorNoise[i]) * sf;
        return z;
    }

    /** {@link #latents(Posterior, float[])} of {@link #encode}. */
    public float[] latents(float[] pixels, int n, int height, int width, float[] posteriorNoise) {
        return latents(encode(pixels, n, height, width), posteriorNoise);
    }

    /** The latent shape (C, h, w) of an image of this size. */
    public int[] latentShape(int height, int width) {
        int f = vae.config().downscaleFactor();
        return new int[]{unet.config().inChannels(), height / f, width / f};
    }

    /**
     * Forward and backward of one batch: returns the loss (before any update). Weight gradients are added to
     * the parameters the models were built over.
     *
     * @param latents   (N, C, h, w), already scaled
     * @param inputIds  N token sequences
     * @param noise     (N, C, h, w)
     * @param timesteps N values in [0, num_train_timesteps)
     */
    public double step(Tape tape, float[] latents, int n, int c, int h, int w, int[][] inputIds, float[] noise, int[] timesteps) {
        int per = c * h * w;
        if (latents.length != n * per || noise.length != n * per || inputIds.length != n || timesteps.length != n)
            throw new IllegalArgumentException("batch of " + n + ": latents " + latents.length + ", noise " + noise.length
                    + ", input_ids " + inputIds.length + ", timesteps " + timesteps.length + " do not agree");
        float[] noisy = new float[latents.length], target = new float[latents.length];
        float[] ts = new float[n];
        double[] weights = new double[n];
        for (int b = 0; b < n; b++) {
            int t = timesteps[b];
            if (t < 0 || t >= alphasCumprod.length)
                throw new IllegalArgumentException("timestep " + t + " outside [0, " + alphasCumprod.length + ")");
            float ac = alphasCumprod[t];
            float sa = (float) Math.sqrt(ac), s1 = (float) Math.sqrt(1f - ac);
            for (int i = b * per; i < (b + 1) * per; i++) {
                noisy[i] = sa * latents[i] + s1 * noise[i];
                target[i] = vPrediction ? sa * noise[i] - s1 * latents[i] : noise[i];
            }
            ts[b] = t;
            weights[b] = 1;
            if (snrGamma > 0) {
                float ratio = sa / s1;
                double snr = (float) (ratio * ratio);
                weights[b] = Math.min(snr, snrGamma) / (vPrediction ? snr + 1 : snr);
            }
        }
        Tensor pred = tape.record(() -> {
            Tensor context = trainTextEncoder ? textEncoder.forward(inputIds).lastHiddenState()
                    : Autograd.with(null, () -> textEncoder.forward(inputIds).lastHiddenState());
            return unet.forward(TensorOps.nchwToNhwc(noisy, n, c, h, w), ts, context);
        });
        float[] p = TensorOps.nhwcToNchw(pred);
        // loss = mean over the batch of w_b · mean over the sample of (pred − target)².
        double loss = 0;
        float[] grad = new float[p.length];
        for (int b = 0; b < n; b++) {
            double sq = 0;
            for (int i = b * per; i < (b + 1) * per; i++) {
                double d = (double) p[i] - target[i];
                sq += d * d;
                grad[i] = (float) (2 * d * weights[b] / ((double) n * per));
            }
            loss += weights[b] * sq / per;
        }
        tape.backward(pred, TensorOps.nchwToNhwc(grad, n, c, h, w).data());
        return loss / n;
    }
}
