package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.schedulers.Scheduler;
import dev.jdiffusion.schedulers.TorchGenerator;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Inpainting as diffusers' StableDiffusionInpaintPipeline computes it, as hooks of the shared {@link DenoisingLoop}:
 * <ul>
 *   <li>A UNet with 9 input channels gets the scaled latents ⧺ the latent mask ⧺ the masked picture's latents
 *       (neither scaled; both repeated for CFG).</li>
 *   <li>A 4-channel UNet runs as text-to-image, and after every step the known region is put back:
 *       {@code latents = (1 − m)·add_noise(image_latents, noise, t[i+1]) + m·latents}, the last step without noise.</li>
 *   <li>With a padding crop (A1111's "inpaint only masked"), the region around the mask is cut out, generated at the
 *       full size, and pasted back over the original with the mask's soft edge ({@link VaeImageProcessor#applyOverlay}).</li>
 * </ul>
 * The random draws come in diffusers' order from the one generator: the init picture's latent sample (unless a
 * 9-channel model starts from pure noise), the noise, the masked picture's latent sample (drawn even by a
 * 4-channel model, which does not use it), then the sampler's. A 9-channel model without a mask repaints
 * everything, as A1111 runs it: a mask of ones over a mid-grey (zero) picture.
 */
final class Inpainting {
    private final AutoencoderKL vae;
    private final GenerationRequest request;
    private final int width, height, factor, unetChannels;
    private final VaeImageProcessor.CropBox crop;
    private final double strength;
    private float[] noise, imageLatents, maskLatent, maskedLatents;
    private int n, lc, lh, lw;

    /** True when the request inpaints: it has a mask, or the model is an inpainting model (9 UNet input channels). */
    static boolean applies(GenerationRequest r, int unetChannels) { return r.mask() != null || unetChannels == 9; }

    Inpainting(AutoencoderKL vae, int unetChannels, GenerationRequest request, int width, int height, int factor) {
        if (unetChannels != 4 && unetChannels != 9)
            throw new IllegalArgumentException("inpainting needs a UNet with 4 or 9 input channels, this one has " + unetChannels);
        if (request.mask() != null && request.initImage() == null)
            throw new IllegalArgumentException("a mask needs an init image: the picture whose masked part is repainted");
        if (request.paddingMaskCrop() != null && request.mask() == null)
            throw new IllegalArgumentException("the padding mask crop needs a mask");
        this.vae = vae;
        this.request = request;
        this.width = width;
        this.height = height;
        this.factor = factor;
        this.unetChannels = unetChannels;
        this.strength = request.initImage() != null ? request.strength() : 1.0;
        this.crop = request.paddingMaskCrop() == null ? null
                : VaeImageProcessor.cropRegion(request.mask(), width, height, request.paddingMaskCrop());
    }

    /** The crop box of "inpaint only masked" (the ControlNets' control images are cut the same way), or null. */
    VaeImageProcessor.CropBox crop() { return crop; }

    /** The strength the timesteps start from: the request's, or 1 for a 9-channel model without an init image. */
    double strength() { return strength; }

    /**
     * Encodes the pictures and draws the starting latents; call after {@code scheduler.setTimesteps}.
     *
     * @param first the first step index (img2img's begin index for the strength)
     * @return the starting latents (n, 4, h, w)
     */
    float[] prepare(Scheduler scheduler, TorchGenerator generator, int n, int latentChannels, int first) {
        this.n = n;
        this.lc = latentChannels;
        this.lh = height / factor;
        this.lw = width / factor;
        boolean strengthMax = strength == 1.0;
        float[] init = request.initImage() == null ? new float[3 * height * width]  // mid-grey in [-1, 1]
                : VaeImageProcessor.preprocessImage(PilImage.of(request.initImage()), width, height, crop);
        if (unetChannels == 4 || !strengthMax) imageLatents = repeat(ImageLatents.encode(vae, init, height, width, generator), n);
        noise = generator.randn(n, lc, lh, lw);
        float[] latents;
        if (strengthMax) {
            latents = noise.clone();
            float sigma = scheduler.initNoiseSigma();
            for (int i = 0; i < latents.length; i++) latents[i] *= sigma;
        } else {
            latents = scheduler.addNoise(imageLatents, noise, first);
        }
        float[] mask = request.mask() == null ? ones(height * width)
                : VaeImageProcessor.preprocessMask(request.mask(), width, height, crop);
        float[] masked = new float[init.length];
        int pixels = height * width;
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < pixels; p++) masked[c * pixels + p] = init[c * pixels + p] * (mask[p] < 0.5f ? 1f : 0f);
        maskLatent = repeat(nearest(mask, height, width, lh, lw), n);
        maskedLatents = repeat(ImageLatents.encode(vae, masked, height, width, generator), n);
        return latents;
    }

    /** The noise drawn for the starting latents (n, 4, h, w); for stage tests. */
    float[] noise() { return noise; }

    /** The latent mask (n, 1, h, w). */
    float[] maskLatent() { return maskLatent; }

    /** The masked picture's latents (n, 4, h, w). */
    float[] maskedImageLatents() { return maskedLatents; }

    /** The init picture's latents (n, 4, h, w), or null when not encoded (9 channels at strength 1). */
    float[] imageLatents() { return imageLatents; }

    /** Plugs the task into the loop: extra UNet channels (9-channel models) or the blend after each step (4-channel). */
    void configure(DenoisingLoop loop, Scheduler scheduler) {
        if (unetChannels == 9) {
            int pixels = lh * lw, ce = 1 + lc;
            float[] extra = new float[n * ce * pixels];
            for (int b = 0; b < n; b++) {
                System.arraycopy(maskLatent, b * pixels, extra, b * ce * pixels, pixels);
                System.arraycopy(maskedLatents, b * lc * pixels, extra, (b * ce + 1) * pixels, lc * pixels);
            }
            loop.extraChannels(extra, ce);
        } else {
            int last = scheduler.timesteps().length - 1;
            loop.afterStep((i, latents) -> blend(i < last ? scheduler.addNoise(imageLatents, noise, i + 1) : imageLatents, latents));
        }
    }

    /** (1 − m)·known + m·latents, the latent mask broadcast over the channels. */
    private float[] blend(float[] known, float[] latents) {
        int pixels = lh * lw;
        float[] out = new float[latents.length];
        for (int b = 0; b < n; b++)
            for (int c = 0; c < lc; c++)
                for (int p = 0; p < pixels; p++) {
                    int i = (b * lc + c) * pixels + p;
                    float m = maskLatent[b * pixels + p];
                    out[i] = (1f - m) * known[i] + m * latents[i];
                }
        return out;
    }

    /** The decoded pictures, pasted back over the original where the crop made them (else as they are). */
    List<RgbImage> finish(List<RgbImage> decoded) {
        if (crop == null) return decoded;
        List<RgbImage> out = new ArrayList<>();
        for (RgbImage img : decoded)
            out.add(VaeImageProcessor.applyOverlay(request.mask(), PilImage.of(request.initImage()), img, crop));
        return out;
    }

    /** torch's interpolate(mode='nearest') of a (h, w) map: source index floor(dst · in/out) in float, clamped. */
    static float[] nearest(float[] map, int h, int w, int oh, int ow) {
        float sy = (float) h / oh, sx = (float) w / ow;
        float[] out = new float[oh * ow];
        for (int y = 0; y < oh; y++) {
            int iy = Math.min((int) (y * sy), h - 1);
            for (int x = 0; x < ow; x++) out[y * ow + x] = map[iy * w + Math.min((int) (x * sx), w - 1)];
        }
        return out;
    }

    private static float[] repeat(float[] one, int n) {
        if (n == 1) return one;
        float[] out = new float[one.length * n];
        for (int b = 0; b < n; b++) System.arraycopy(one, 0, out, b * one.length, one.length);
        return out;
    }

    private static float[] ones(int size) {
        float[] a = new float[size];
        Arrays.fill(a, 1f);
        return a;
    }
}
