package dev.jdiffusion.image.watermark;

/**
 * OpenCV's 8-bit {@code cvtColor(COLOR_BGR2YUV)} and {@code COLOR_YUV2BGR}: fixed point with 14 fractional bits,
 * rounded by adding 2¹³ before the arithmetic shift, saturated to 0..255 — the integer path cv2 takes for
 * uint8 images, not the float formulas of its documentation. Pixels are interleaved 3 bytes; the channel
 * order is whatever the caller keeps (imwatermark works in B, G, R and Y, U, V).
 */
final class Cv2Yuv {
    private static final int SHIFT = 14, HALF = 1 << (SHIFT - 1), DELTA = 128 << SHIFT;
    // BGR → YUV: Y = 0.114 B + 0.587 G + 0.299 R; U = 0.492 (B − Y); V = 0.877 (R − Y), scaled by 2¹⁴.
    private static final int B2Y = 1868, G2Y = 9617, R2Y = 4899, U_FROM_B = 8061, V_FROM_R = 14369;
    // YUV → BGR: B = Y + 2.032 U'; G = Y − 0.395 U' − 0.581 V'; R = Y + 1.140 V', scaled by 2¹⁴.
    private static final int U2B = 33292, U2G = -6472, V2G = -9519, V2R = 18678;

    private Cv2Yuv() {}

    private static int sat(int v) { return v < 0 ? 0 : Math.min(v, 255); }

    /** In place: each pixel's (B, G, R) becomes (Y, U, V). */
    static void bgrToYuv(int[] px) {
        for (int i = 0; i < px.length; i += 3) {
            int b = px[i], g = px[i + 1], r = px[i + 2];
            int y = (b * B2Y + g * G2Y + r * R2Y + HALF) >> SHIFT;
            int u = ((b - y) * U_FROM_B + DELTA + HALF) >> SHIFT;
            int v = ((r - y) * V_FROM_R + DELTA + HALF) >> SHIFT;
            px[i] = sat(y);
            px[i + 1] = sat(u);
            px[i + 2] = sat(v);
        }
    }

    /** In place: each pixel's (Y, U, V) becomes (B, G, R). */
    static void yuvToBgr(int[] px) {
        for (int i = 0; i < px.length; i += 3) {
            int y = px[i], u = px[i + 1] - 128, v = px[i + 2] - 128;
            px[i] = sat(y + ((u * U2B + HALF) >> SHIFT));
            px[i + 1] = sat(y + ((u * U2G + v * V2G + HALF) >> SHIFT));
            px[i + 2] = sat(y + ((v * V2R + HALF) >> SHIFT));
        }
    }
}
