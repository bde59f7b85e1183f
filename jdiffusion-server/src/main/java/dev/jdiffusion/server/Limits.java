package dev.jdiffusion.server;

/**
 * What one request may ask for, so that no client can make the server allocate without bound.
 *
 * @param maxBodyBytes   the largest request body (base64 images included); larger ones get 413
 * @param maxSide        the largest width or height of a generated image, in pixels
 * @param maxImages      the most images one request may make (batch_size × n_iter)
 * @param maxSteps       the most denoising steps
 * @param maxInputPixels the largest decoded input image (init image, png-info), checked before its pixels are decoded
 */
public record Limits(int maxBodyBytes, int maxSide, int maxImages, int maxSteps, long maxInputPixels) {
    public static final Limits DEFAULTS = new Limits(64 << 20, 2048, 64, 500, 4096L * 4096);
}
