package dev.jdiffusion.image;

import java.util.Objects;

/**
 * Pillow's {@code Image.resize} for 8-bit images, bit for bit: the same filter kernels (box, bilinear,
 * Hamming, bicubic with a = −0.5, Lanczos-3) widened by the scale when shrinking, the same coefficients
 * rounded to 22-bit fixed point, a horizontal pass over only the rows the vertical pass reads, each pass
 * rounding to 8 bits, and RGBA/LA premultiplied by alpha around the resize as Pillow converts them to
 * RGBa/La. diffusers' image processors and the CLIP image processor resize with Pillow, so matching it
 * exactly is what makes preprocessed inputs (and so images) equal the reference.
 */
public final class PilResize {
    private PilResize() {}

    /** Pillow's {@code Image.Resampling} filters (NEAREST is not a convolution and is not offered here). */
    public enum Filter {
        BOX(0.5), BILINEAR(1.0), HAMMING(1.0), BICUBIC(2.0), LANCZOS(3.0);

        final double support;

        Filter(double support) { this.support = support; }

        double weight(double x) {
            return switch (this) {
                case BOX -> x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
                case BILINEAR -> {
                    double a = Math.abs(x);
                    yield a < 1.0 ? 1.0 - a : 0.0;
                }
                case HAMMING -> {
                    double a = Math.abs(x);
                    if (a == 0.0) yield 1.0;
                    if (a >= 1.0) yield 0.0;
                    a *= Math.PI;
                    yield Math.sin(a) / a * (0.54f + 0.46f * Math.cos(a));
                }
                case BICUBIC -> {
                    final double c = -0.5;
                    double a = Math.abs(x);
                    if (a < 1.0) yield ((c + 2.0) * a - (c + 3.0)) * a * a + 1;
                    if (a < 2.0) yield (((a - 5) * a + 8) * a - 4) * c;
                    yield 0.0;
                }
                case LANCZOS -> -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
            };
        }

        private static double sinc(double x) {
            if (x == 0.0) return 1.0;
            x *= Math.PI;
            return Math.sin(x) / x;
        }
    }

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** An RGB image resized as {@code PIL.Image.resize((width, height), filter)} resizes an "RGB" image. */
    public static RgbImage resize(RgbImage image, int width, int height, Filter filter) {
        if (image.width() == width && image.height() == height) return image;
        return new RgbImage(width, height, resize(image.rgb(), image.width(), image.height(), 3, width, height, filter, null));
    }

    /**
     * Interleaved 8-bit pixels with {@code bands} channels (1 = "L", 3 = "RGB"; for "RGBA"/"LA" see
     * {@link #resizeWithAlpha}) resized to {@code outWidth × outHeight}.
     *
     * @param box the source region {x0, y0, x1, y1} as Pillow's {@code box} argument, or null for the whole image
     */
    public static byte[] resize(byte[] pixels, int width, int height, int bands, int outWidth, int outHeight,
                                Filter filter, double[] box) {
        Objects.requireNonNull(filter, "filter");
        if (pixels.length != width * height * bands)
            throw new IllegalArgumentException(width + "x" + height + "x" + bands + " needs " + width * height * bands
                    + " bytes, got " + pixels.length);
        if (outWidth < 1 || outHeight < 1)
            throw new IllegalArgumentException("resize to " + outWidth + "x" + outHeight + ": sizes must be positive");
        double[] b = box != null ? box : new double[]{0, 0, width, height};
        // Pillow passes the box as C floats.
        float x0 = (float) b[0], y0 = (float) b[1], x1 = (float) b[2], y1 = (float) b[3];
        boolean horizontal = outWidth != width || x0 != 0 || x1 != outWidth;
        boolean vertical = outHeight != height || y0 != 0 || y1 != outHeight;
        Coefficients ch = Coefficients.of(width, x0, x1, outWidth, filter);
        Coefficients cv = Coefficients.of(height, y0, y1, outHeight, filter);
        byte[] in = pixels;
        int inW = width, inH = height;
        if (horizontal) {
            int first = cv.bounds[0], last = cv.bounds[2 * outHeight - 2] + cv.bounds[2 * outHeight - 1];
            for (int i = 0; i < outHeight; i++) cv.bounds[2 * i] -= first;
            in = horizontalPass(in, inW, bands, first, last - first, ch, outWidth);
            inW = outWidth;
            inH = last - first;
        }
        if (vertical) in = verticalPass(in, inW, bands, cv, outHeight);
        return in == pixels ? pixels.clone() : in;
    }

    /**
     * An image whose last band is alpha ("RGBA": bands = 4, "LA": bands = 2), resized as Pillow does:
     * premultiplied by alpha, resized, then divided back.
     */
    public static byte[] resizeWithAlpha(byte[] pixels, int width, int height, int bands, int outWidth, int outHeight,
                                         Filter filter) {
        return resizeWithAlpha(pixels, width, height, bands, outWidth, outHeight, filter, null);
    }

    /** {@link #resizeWithAlpha(byte[], int, int, int, int, int, Filter)} of the source region {@code box} (see {@link #resize}). */
    public static byte[] resizeWithAlpha(byte[] pixels, int width, int height, int bands, int outWidth, int outHeight,
                                         Filter filter, double[] box) {
        if (bands != 2 && bands != 4) throw new IllegalArgumentException("an image with alpha has 2 or 4 bands, not " + bands);
        byte[] pre = pixels.clone();
        for (int p = 0; p < pre.length; p += bands) {
            int a = pre[p + bands - 1] & 0xff;
            for (int c = 0; c < bands - 1; c++) {
                int t = (pre[p + c] & 0xff) * a + 128;
                pre[p + c] = (byte) (((t >> 8) + t) >> 8);
            }
        }
        byte[] out = resize(pre, width, height, bands, outWidth, outHeight, filter, box);
        for (int p = 0; p < out.length; p += bands) {
            int a = out[p + bands - 1] & 0xff;
            if (a == 255 || a == 0) continue;
            for (int c = 0; c < bands - 1; c++) out[p + c] = (byte) Math.min(255, 255 * (out[p + c] & 0xff) / a);
        }
        return out;
    }

    /** Per output position: the first input index, the count, and ksize fixed-point weights. */
    private record Coefficients(int ksize, int[] bounds, int[] weights) {
        static Coefficients of(int inSize, float in0, float in1, int outSize, Filter filter) {
            double scale = (double) (in1 - in0) / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = filter.support * filterScale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            int[] bounds = new int[2 * outSize];
            int[] kk = new int[outSize * ksize];
            double[] k = new double[ksize];
            for (int xx = 0; xx < outSize; xx++) {
                double center = in0 + (xx + 0.5) * scale;
                double ww = 0.0, ss = 1.0 / filterScale;
                int xmin = Math.max(0, (int) (center - support + 0.5));
                int xmax = Math.min(inSize, (int) (center + support + 0.5)) - xmin;
                for (int x = 0; x < xmax; x++) {
                    double w = filter.weight((x + xmin - center + 0.5) * ss);
                    k[x] = w;
                    ww += w;
                }
                for (int x = 0; x < ksize; x++) {
                    double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
                    kk[xx * ksize + x] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                bounds[2 * xx] = xmin;
                bounds[2 * xx + 1] = Math.max(xmax, 0);
            }
            return new Coefficients(ksize, bounds, kk);
        }
    }

    private static int clip8(int v) { return Math.clamp(v >> PRECISION_BITS, 0, 255); }

    private static byte[] horizontalPass(byte[] in, int inW, int bands, int rowOffset, int rows, Coefficients c, int outW) {
        byte[] out = new byte[outW * rows * bands];
        for (int y = 0; y < rows; y++) {
            int inRow = (y + rowOffset) * inW * bands, outRow = y * outW * bands;
            for (int xx = 0; xx < outW; xx++) {
                int xmin = c.bounds[2 * xx], n = c.bounds[2 * xx + 1], kb = xx * c.ksize;
                for (int b = 0; b < bands; b++) {
                    int ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < n; x++) ss += (in[inRow + (x + xmin) * bands + b] & 0xff) * c.weights[kb + x];
                    out[outRow + xx * bands + b] = (byte) clip8(ss);
                }
            }
        }
        return out;
    }

    private static byte[] verticalPass(byte[] in, int w, int bands, Coefficients c, int outH) {
        int stride = w * bands;
        byte[] out = new byte[outH * stride];
        for (int yy = 0; yy < outH; yy++) {
            int ymin = c.bounds[2 * yy], n = c.bounds[2 * yy + 1], kb = yy * c.ksize;
            for (int i = 0; i < stride; i++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < n; y++) ss += (in[(y + ymin) * stride + i] & 0xff) * c.weights[kb + y];
                out[yy * stride + i] = (byte) clip8(ss);
            }
        }
        return out;
    }
}
