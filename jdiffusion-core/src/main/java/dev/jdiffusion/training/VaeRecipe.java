package dev.jdiffusion.training;

import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

/**
 * One step of autoencoder training (LDM's loss without the perceptual and GAN terms): moments = encoder(x),
 * z = μ + σ·ε with log σ² clamped to [-30, 20], x̂ = decoder(z), loss = mean|x − x̂| + kl_weight · mean over
 * the batch of 0.5·Σ(μ² + σ² − 1 − log σ²). Tensors in and out are NCHW.
 */
public final class VaeRecipe {
    private final AutoencoderKL vae;
    private final double klWeight;

    public VaeRecipe(AutoencoderKL vae, double klWeight) {
        this.vae = vae;
        this.klWeight = klWeight;
    }

    /** Forward and backward of one batch of images in [-1, 1] (N, 3, H, W) with posterior noise ε (N, C, h, w); returns the loss. */
    public double step(Tape tape, float[] pixels, int n, int height, int width, float[] posteriorNoise) {
        Tensor x = TensorOps.nchwToNhwc(pixels, n, 3, height, width);
        int lc = vae.config().latentChannels();
        double[] kl = new double[1];
        Tensor[] moments = new Tensor[1];
        Tensor recon = tape.record(() -> {
            moments[0] = vae.encodeMoments(x);
            int lh = moments[0].dim(1), lw = moments[0].dim(2);
            if (posteriorNoise.length != n * lc * lh * lw)
                throw new IllegalArgumentException("posterior noise has " + posteriorNoise.length + " values, the latents "
                        + n * lc * lh * lw + " (" + n + "×" + lc + "×" + lh + "×" + lw + ")");
            Tensor eps = TensorOps.nchwToNhwc(posteriorNoise, n, lc, lh, lw);
            Tensor z = Posterior.sample(moments[0], eps, klWeight / n, kl);
            return vae.decode(z);
        });
        float[] xs = x.data(), r = recon.data(), grad = new float[r.length];
        if (r.length != xs.length) throw new IllegalStateException("decoder output " + recon + " is not the input's shape " + x);
        double l1 = 0;
        for (int i = 0; i < r.length; i++) {
            double d = (double) r[i] - xs[i];
            l1 += Math.abs(d);
            grad[i] = (float) (Math.signum(d) / r.length);
        }
        tape.backward(recon, grad);
        return l1 / r.length + klWeight * kl[0] / n;
    }
}
