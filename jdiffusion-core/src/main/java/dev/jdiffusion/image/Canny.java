package dev.jdiffusion.image;

import java.util.Arrays;

/**
 * OpenCV's {@code cv2.Canny(image, low, high)} (aperture 3, L1 gradient) on an 8-bit RGB picture, bit for bit,
 * as the ControlNet annotators call it: per channel a 3×3 Sobel with replicated borders, per pixel the channel
 * whose |dx| + |dy| is largest (the first on ties), non-maximum suppression along the gradient direction
 * quantised with OpenCV's fixed-point tan(22.5°), and hysteresis: pixels above {@code high} are edges, and
 * so is every pixel above {@code low} that is 8-connected to an edge through such pixels.
 */
public final class Canny {
    private static final int CANNY_SHIFT = 15;
    /** OpenCV's (int)(tan(22.5°) · 2^15 + 0.5). */
    private static final int TG22 = (int) (0.4142135623730950488016887242097 * (1 << CANNY_SHIFT) + 0.5);

    private Canny() {}

    /** The edge map as an RGB picture whose three channels are equal (255 edge, 0 not), as the annotators return it. */
    public static RgbImage edges(RgbImage image, double low, double high) {
        byte[] map = edgeMap(image, low, high);
        byte[] rgb = new byte[map.length * 3];
        for (int i = 0; i < map.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = map[i];
        return new RgbImage(image.width(), image.height(), rgb);
    }

    /**
     * One byte per pixel, 255 on edges and 0 elsewhere. The thresholds are swapped when {@code low > high} and
     * floored, as OpenCV does for the L1 gradient.
     */
    public static byte[] edgeMap(RgbImage image, double low, double high) {
        if (!Double.isFinite(low) || !Double.isFinite(high))
            throw new IllegalArgumentException("Canny thresholds must be numbers, got " + low + " and " + high);
        if (low > high) {
            double t = low;
            low = high;
            high = t;
        }
        int lo = (int) Math.floor(low), hi = (int) Math.floor(high);
        int w = image.width(), h = image.height();
        if (w == 0 || h == 0) return new byte[0];
        // Magnitudes with a zero border all round (OpenCV's mag buffer), dx/dy of the winning channel.
        int mw = w + 2;
        int[] mag = new int[(h + 2) * mw];
        short[] dx = new short[w * h], dy = new short[w * h];
        byte[] rgb = image.rgb();
        for (int y = 0; y < h; y++) {
            int ym = Math.max(y - 1, 0), yp = Math.min(y + 1, h - 1);
            for (int x = 0; x < w; x++) {
                int xm = Math.max(x - 1, 0), xp = Math.min(x + 1, w - 1);
                int best = -1, bx = 0, by = 0;
                for (int c = 0; c < 3; c++) {
                    int tl = px(rgb, w, xm, ym, c), t = px(rgb, w, x, ym, c), tr = px(rgb, w, xp, ym, c);
                    int l = px(rgb, w, xm, y, c), r = px(rgb, w, xp, y, c);
                    int bl = px(rgb, w, xm, yp, c), b = px(rgb, w, x, yp, c), br = px(rgb, w, xp, yp, c);
                    int gx = (tr + 2 * r + br) - (tl + 2 * l + bl);
                    int gy = (bl + 2 * b + br) - (tl + 2 * t + tr);
                    int m = Math.abs(gx) + Math.abs(gy);
                    if (m > best) {
                        best = m;
                        bx = gx;
                        by = gy;
                    }
                }
                mag[(y + 1) * mw + x + 1] = best;
                dx[y * w + x] = (short) bx;
                dy[y * w + x] = (short) by;
            }
        }
        // Non-maximum suppression: 2 = edge (above high), 0 = may become one (above low), 1 = never.
        byte[] state = new byte[w * h];
        int[] stack = new int[w * h];
        int top = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int j = (y + 1) * mw + x + 1, m = mag[j];
                boolean keep = false;
                if (m > lo) {
                    int xs = dx[y * w + x], ys = dy[y * w + x];
                    int ax = Math.abs(xs), ay = Math.abs(ys) << CANNY_SHIFT;
                    int tg22x = ax * TG22;
                    if (ay < tg22x) {
                        keep = m > mag[j - 1] && m >= mag[j + 1];
                    } else {
                        int tg67x = tg22x + (ax << (CANNY_SHIFT + 1));
                        if (ay > tg67x) {
                            keep = m > mag[j - mw] && m >= mag[j + mw];
                        } else {
                            int s = (xs ^ ys) < 0 ? -1 : 1;
                            keep = m > mag[j - mw - s] && m > mag[j + mw + s];
                        }
                    }
                }
                int i = y * w + x;
                if (!keep) state[i] = 1;
                else if (m > hi) {
                    state[i] = 2;
                    stack[top++] = i;
                }
            }
        }
        // Hysteresis: grow the edges into 8-connected candidates.
        while (top > 0) {
            int i = stack[--top], x = i % w, y = i / w;
            for (int ny = Math.max(y - 1, 0); ny <= Math.min(y + 1, h - 1); ny++)
                for (int nx = Math.max(x - 1, 0); nx <= Math.min(x + 1, w - 1); nx++) {
                    int n = ny * w + nx;
                    if (state[n] == 0) {
                        state[n] = 2;
                        stack[top++] = n;
                    }
                }
        }
        byte[] out = new byte[w * h];
        for (int i = 0; i < out.length; i++) out[i] = state[i] == 2 ? (byte) 255 : 0;
        return out;
    }

    private static int px(byte[] rgb, int w, int x, int y, int c) { return rgb[(y * w + x) * 3 + c] & 0xff; }

    /** "canny:LOW:HIGH" (A1111's ControlNet threshold A and B) as {low, high}; a clear message otherwise. */
    public static double[] parseSpec(String spec) {
        String[] parts = spec.split(":", -1);
        if (parts.length != 3 || !parts[0].equals("canny"))
            throw new IllegalArgumentException("unknown preprocessor '" + spec + "'; expected canny:LOW:HIGH, e.g. canny:100:200");
        try {
            double[] t = {Double.parseDouble(parts[1]), Double.parseDouble(parts[2])};
            if (Arrays.stream(t).anyMatch(v -> !Double.isFinite(v) || v < 0))
                throw new NumberFormatException();
            return t;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("preprocessor '" + spec + "': LOW and HIGH must be non-negative numbers, e.g. canny:100:200");
        }
    }
}
