package dev.jdiffusion.pipelines;

/**
 * The denoised sample x0 that the model predicts after a step (diffusers' {@code pred_original_sample}): latents
 * in NCHW order, not yet divided by the VAE's scaling factor. {@link StableDiffusionPipeline#decodeLatents} turns
 * it into images; cheaper approximations can read the channels directly.
 */
public record StepPreview(int step, int totalSteps, float[] denoised, int batch, int channels, int height, int width) {}
