package dev.jdiffusion.image;

import java.awt.image.BufferedImage;

/**
 * An 8-bit RGB image, row-major, 3 bytes per pixel: what a pipeline returns and what PNG files hold.
 */
public record RgbImage(int width, int height, byte[] rgb) {

    public RgbImage {
        if (rgb.length != width * height * 3)
            throw new IllegalArgumentException(width + "x" + height + " RGB needs " + width * height * 3 + " bytes, got " + rgb.length);
    }

    /** Red, green or blue (c = 0, 1, 2) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) { return rgb[(y * width + x) * 3 + c] & 0xff; }

    /**
     * From a decoded image in [-1, 1], channels-last (H, W, 3) starting at {@code offset}: maps to [0, 1],
     * clamps, and rounds to 8 bits half-to-even as numpy's round does (diffusers' postprocessing).
     */
    public static RgbImage fromSigned(float[] hwc, int offset, int width, int height) {
        byte[] out = new byte[width * height * 3];
        for (int i = 0; i < out.length; i++) {
            float v = hwc[offset + i] / 2f + 0.5f;
            v = Math.clamp(v, 0f, 1f);
            out[i] = (byte) (int) Math.rint(v * 255f);
        }
        return new RgbImage(width, height, out);
    }

    /** To (H, W, 3) floats in [-1, 1], as diffusers' image processor normalises an init image. */
    public float[] toSigned() {
        float[] out = new float[rgb.length];
        for (int i = 0; i < out.length; i++) out[i] = 2f * ((rgb[i] & 0xff) / 255f) - 1f;
        return out;
    }

    public BufferedImage toBufferedImage() {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                img.setRGB(x, y, (get(x, y, 0) << 16) | (get(x, y, 1) << 8) | get(x, y, 2));
        return img;
    }

    public static RgbImage fromBufferedImage(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y), o = (y * w + x) * 3;
                out[o] = (byte) (p >> 16);
                out[o + 1] = (byte) (p >> 8);
                out[o + 2] = (byte) p;
            }
        return new RgbImage(w, h, out);
    }

    /** Resized as diffusers' image processor resizes init images: Pillow's LANCZOS, aspect ratio not kept ({@link PilResize}). */
    public RgbImage resized(int newWidth, int newHeight) {
        return PilResize.resize(this, newWidth, newHeight, PilResize.Filter.LANCZOS);
    }
}
