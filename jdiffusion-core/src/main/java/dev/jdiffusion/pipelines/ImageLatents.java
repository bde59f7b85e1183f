package dev.jdiffusion.pipelines;

import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.schedulers.TorchGenerator;
import dev.jdiffusion.tensor.TensorOps;

/** Pictures into latents, as img2img and inpainting take them. */
final class ImageLatents {
    private ImageLatents() {}

    /**
     * A picture's latents as diffusers' {@code _encode_vae_image} samples them: (mean + std · randn) · scaling_factor,
     * one draw of the latents' size from the generator. {@code chw} is (3, height, width) in [-1, 1].
     */
    static float[] encode(AutoencoderKL vae, float[] chw, int height, int width, TorchGenerator generator) {
        AutoencoderKL.LatentDist dist = vae.encode(TensorOps.nchwToNhwc(chw, 1, 3, height, width));
        var meanT = dist.mean();
        int lh = meanT.dim(1), lw = meanT.dim(2), lc = meanT.dim(3);
        float[] mean = TensorOps.nhwcToNchw(meanT), std = TensorOps.nhwcToNchw(dist.std());
        float[] sample = generator.randn(1, lc, lh, lw);
        float sf = vae.scalingFactor();
        float[] z = new float[mean.length];
        for (int i = 0; i < z.length; i++) z[i] = sf * (mean[i] + std[i] * sample[i]);
        return z;
    }
}
