package dev.jdiffusion.image.watermark;

import dev.jdiffusion.image.RgbImage;

import java.nio.charset.StandardCharsets;

/**
 * The invisible watermark of Stability's Stable Diffusion scripts: {@code imwatermark}'s {@code dwtDct} method
 * (WatermarkEncoder / WatermarkDecoder with 'bytes'), bit-compatible with it, quirks included:
 * <ol>
 *   <li>the payload's bits, most significant first; the image as B, G, R;</li>
 *   <li>cv2's integer BGR → YUV ({@link Cv2Yuv}); only U carries the mark (imwatermark's scales [0, 36, 36] with
 *       a loop over channels 0 and 1 skip Y, and never reach V), over rows and columns cut to multiples of 4;</li>
 *   <li>pywt's Haar DWT of U ({@link PywtHaar}); the approximation cA in 4×4 blocks, row-major, block n carrying
 *       bit n mod L: the block's largest |value| outside its corner (first in row-major order on ties) becomes
 *       (⌊|v| / 36⌋ + 0.25 + 0.5·bit)·36 with v's sign — no DCT despite the name;</li>
 *   <li>the inverse DWT with the horizontal and vertical details swapped (imwatermark passes (cV, cH, cD));</li>
 *   <li>float64 to uint8 as numpy casts it: truncated toward zero, wrapped modulo 256; cv2's YUV → BGR of the
 *       whole image (so even unmarked pixels take the integer round trip).</li>
 * </ol>
 * Decoding reads each block's largest value the same way, votes 1 where |v| mod 36 > 18, and takes a bit as 1
 * when its share of votes × 255 exceeds 127. Images under 256×256 pixels in all are refused, as imwatermark
 * refuses them.
 */
public final class InvisibleWatermark {
    /** imwatermark's scale for U (and V, which its loop never reaches). */
    static final double SCALE = 36;
    static final int BLOCK = 4;
    /** imwatermark refuses images of fewer pixels than this. */
    public static final int MIN_PIXELS = 256 * 256;

    private InvisibleWatermark() {}

    /** What the decoder read. */
    public record Decoded(boolean[] bits, double[] onesShare) {
        /** The bits packed most significant first, bits/8 bytes (WatermarkDecoder('bytes', bits)). */
        public byte[] bytes() {
            byte[] out = new byte[bits.length / 8];
            for (int i = 0; i < out.length * 8; i++) if (bits[i]) out[i / 8] |= (byte) (0x80 >>> (i % 8));
            return out;
        }

        /** The bytes as UTF-8 text, malformed sequences replaced by U+FFFD (Python's errors='replace' does likewise). */
        public String text() { return new String(bytes(), StandardCharsets.UTF_8); }
    }

    /** An image marked with {@code text}'s UTF-8 bytes, as the SD scripts mark theirs ({@code "StableDiffusionV1"}). */
    public static RgbImage encode(RgbImage image, String text) {
        return encode(image, text.getBytes(StandardCharsets.UTF_8));
    }

    /** {@code WatermarkEncoder().set_watermark('bytes', payload); encode(bgr, 'dwtDct')}. */
    public static RgbImage encode(RgbImage image, byte[] payload) {
        checkSize(image);
        if (payload.length == 0) throw new IllegalArgumentException("the watermark text is empty: nothing to embed");
        boolean[] bits = new boolean[payload.length * 8];
        for (int i = 0; i < bits.length; i++) bits[i] = (payload[i / 8] >> (7 - i % 8) & 1) != 0;

        int w = image.width(), h = image.height();
        int[] yuv = toYuv(image);
        int rows = h / 4 * 4, cols = w / 4 * 4;
        double[][] bands = PywtHaar.dwt2(channel(yuv, w, rows, cols, 1), rows, cols);
        double[] cA = bands[0];
        int ar = rows / 2, ac = cols / 2, n = 0;
        for (int bi = 0; bi < ar / BLOCK; bi++)
            for (int bj = 0; bj < ac / BLOCK; bj++) {
                int at = largestOutsideCorner(cA, ac, bi, bj);
                double v = cA[at], a = Math.abs(v);
                double marked = (floorDiv(a, SCALE) + 0.25 + (bits[n % bits.length] ? 0.5 : 0.0)) * SCALE;
                cA[at] = v >= 0 ? marked : -1.0 * marked;
                n++;
            }
        double[] u = PywtHaar.idwt2(cA, bands[2], bands[1], bands[3], rows, cols);   // (cV, cH) swapped, as imwatermark
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) yuv[(y * w + x) * 3 + 1] = ((int) u[y * cols + x]) & 0xff;
        return fromYuv(yuv, w, h);
    }

    /** {@code WatermarkDecoder('bytes', bits).decode(bgr, 'dwtDct')}, with the vote shares behind each bit. */
    public static Decoded decode(RgbImage image, int bits) {
        checkSize(image);
        if (bits <= 0) throw new IllegalArgumentException("the watermark length must be a positive number of bits, got " + bits);
        int w = image.width(), h = image.height();
        int[] yuv = toYuv(image);
        int rows = h / 4 * 4, cols = w / 4 * 4;
        double[] cA = PywtHaar.dwt2(channel(yuv, w, rows, cols, 1), rows, cols)[0];
        int ac = cols / 2, ar = rows / 2, n = 0;
        int[] ones = new int[bits], votes = new int[bits];
        for (int bi = 0; bi < ar / BLOCK; bi++)
            for (int bj = 0; bj < ac / BLOCK; bj++) {
                double a = Math.abs(cA[largestOutsideCorner(cA, ac, bi, bj)]);
                if (a % SCALE > 0.5 * SCALE) ones[n % bits]++;
                votes[n % bits]++;
                n++;
            }
        boolean[] out = new boolean[bits];
        double[] share = new double[bits];
        for (int i = 0; i < bits; i++) {
            // numpy's mean of an empty list is NaN, and NaN * 255 > 127 is false.
            share[i] = votes[i] == 0 ? Double.NaN : ones[i] / (double) votes[i];
            out[i] = share[i] * 255 > 127;
        }
        return new Decoded(out, share);
    }

    private static void checkSize(RgbImage image) {
        if ((long) image.width() * image.height() < MIN_PIXELS)
            throw new IllegalArgumentException("image too small for the invisible watermark: " + image.width() + "x"
                    + image.height() + " has fewer pixels than 256x256 (imwatermark refuses it too)");
        // Where imwatermark would embed nothing (or fail inside pywt), say so rather than return an unmarked image.
        if (image.width() < 2 * BLOCK || image.height() < 2 * BLOCK)
            throw new IllegalArgumentException("image too narrow for the invisible watermark: " + image.width() + "x"
                    + image.height() + " holds no 8x8 block to carry a bit");
    }

    /** Python's float floor division for a ≥ 0, b > 0 (via fmod, as CPython and numpy compute it). */
    private static double floorDiv(double a, double b) {
        double mod = a % b;
        double div = (a - mod) / b;
        double floor = Math.floor(div);
        return div - floor > 0.5 ? floor + 1.0 : floor;
    }

    /** Index in cA of the block's largest |value| among its 15 entries after [0][0], the first on ties (np.argmax). */
    private static int largestOutsideCorner(double[] cA, int stride, int bi, int bj) {
        int best = -1;
        double max = -1;
        for (int p = 1; p < BLOCK * BLOCK; p++) {
            int at = (bi * BLOCK + p / BLOCK) * stride + bj * BLOCK + p % BLOCK;
            double a = Math.abs(cA[at]);
            if (a > max) {
                max = a;
                best = at;
            }
        }
        return best;
    }

    private static int[] toYuv(RgbImage image) {
        byte[] rgb = image.rgb();
        int[] px = new int[rgb.length];
        for (int i = 0; i < rgb.length; i += 3) {   // RGB → BGR
            px[i] = rgb[i + 2] & 0xff;
            px[i + 1] = rgb[i + 1] & 0xff;
            px[i + 2] = rgb[i] & 0xff;
        }
        Cv2Yuv.bgrToYuv(px);
        return px;
    }

    private static RgbImage fromYuv(int[] yuv, int w, int h) {
        Cv2Yuv.yuvToBgr(yuv);
        byte[] rgb = new byte[yuv.length];
        for (int i = 0; i < rgb.length; i += 3) {
            rgb[i] = (byte) yuv[i + 2];
            rgb[i + 1] = (byte) yuv[i + 1];
            rgb[i + 2] = (byte) yuv[i];
        }
        return new RgbImage(w, h, rgb);
    }

    private static double[] channel(int[] px, int w, int rows, int cols, int c) {
        double[] out = new double[rows * cols];
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) out[y * cols + x] = px[(y * w + x) * 3 + c];
        return out;
    }
}
