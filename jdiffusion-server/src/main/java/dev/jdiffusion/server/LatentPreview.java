package dev.jdiffusion.server;

import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.StepPreview;

/**
 * A1111's "Approx cheap" live preview: each latent pixel's four channels mapped to RGB by a fixed linear map fitted
 * to the SD 1.x/2.x VAE, at latent resolution (the page scales it up). It costs nothing next to a step, so previews
 * can come at every step; "Full" previews decode with the VAE instead.
 */
final class LatentPreview {
    private LatentPreview() {}

    /** latent channel → (r, g, b), A1111's sd_vae_approx.cheap_approximation for SD 1.x/2.x. */
    private static final float[][] COEFFS = {
            {0.298f, 0.207f, 0.208f},
            {0.187f, 0.286f, 0.173f},
            {-0.158f, 0.189f, 0.264f},
            {-0.184f, -0.271f, -0.473f}};

    /** The first image of the batch. Latents other than four channels show channel 0 as grey. */
    static RgbImage approximate(StepPreview p) {
        int h = p.height(), w = p.width(), plane = h * w;
        float[] x = p.denoised();
        byte[] rgb = new byte[plane * 3];
        for (int i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                float v = 0;
                if (p.channels() == 4) {
                    for (int l = 0; l < 4; l++) v += x[l * plane + i] * COEFFS[l][c];
                } else {
                    v = x[i];
                }
                float u = Math.clamp((v + 1f) / 2f, 0f, 1f);
                rgb[i * 3 + c] = (byte) Math.round(u * 255f);
            }
        }
        return new RgbImage(w, h, rgb);
    }
}
