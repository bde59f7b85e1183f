package dev.jdiffusion.evaluation;

import dev.jdiffusion.image.RgbImage;

import java.util.List;

/**
 * Which gallery images a picture looks like, measured as an outsider would (issue 10's prompt-following measure):
 * both images on white, Gaussian blur with σ 1.5, averaged down to 16×16 RGB, squared L2 distance, the best of the
 * picture shifted by up to ±4 pixels (uncovered pixels white). The blur is a 13-tap kernel (radius 6 = 4σ,
 * exp(−x²/2σ²) normalised), separable, with the image lying on an infinite white background; levels are 0..255.
 * Gallery descriptors are computed once; a query costs 81 shifted descriptors and 81 × gallery distances.
 */
public final class NearestImages {
    public static final double SIGMA = 1.5;
    public static final int RADIUS = 6, GRID = 16, MAX_SHIFT = 4;
    private static final float[] KERNEL = kernel();
    private static final float WHITE = 255f;

    private final int width, height;
    private final float[][] gallery;

    /** @param gallery images of one size, a multiple of 16 on each side */
    public NearestImages(List<RgbImage> gallery) {
        if (gallery.isEmpty()) throw new IllegalArgumentException("the gallery is empty");
        this.width = gallery.getFirst().width();
        this.height = gallery.getFirst().height();
        this.gallery = new float[gallery.size()][];
        for (int i = 0; i < gallery.size(); i++) {
            RgbImage g = gallery.get(i);
            checkSize(g, "gallery image " + i);
            this.gallery[i] = descriptor(g, 0, 0);
        }
    }

    public int size() { return gallery.length; }

    private void checkSize(RgbImage img, String what) {
        if (img.width() != width || img.height() != height)
            throw new IllegalArgumentException(what + " is " + img.width() + "x" + img.height() + ", the gallery's images "
                    + width + "x" + height);
        if (width % GRID != 0 || height % GRID != 0)
            throw new IllegalArgumentException("image sides must be multiples of " + GRID + ", got " + width + "x" + height);
    }

    /** For each gallery image, the squared L2 distance of its descriptor to the query's, the best over the 81 shifts. */
    public double[] distances(RgbImage query) {
        checkSize(query, "the query");
        double[] best = new double[gallery.length];
        java.util.Arrays.fill(best, Double.POSITIVE_INFINITY);
        for (int dy = -MAX_SHIFT; dy <= MAX_SHIFT; dy++)
            for (int dx = -MAX_SHIFT; dx <= MAX_SHIFT; dx++) {
                float[] q = descriptor(query, dx, dy);
                for (int i = 0; i < gallery.length; i++) best[i] = Math.min(best[i], squaredDistance(q, gallery[i]));
            }
        return best;
    }

    /**
     * How many gallery images that are not targets lie strictly closer than the closest target: 0 means a target is
     * the nearest (top-1), below 5 that one is among the 5 nearest. Equal distances (identical images) do not count
     * against the target.
     *
     * @param targets the gallery indices that count as right (the images whose name was the prompt)
     */
    public static int rank(double[] distances, java.util.Set<Integer> targets) {
        if (targets.isEmpty()) throw new IllegalArgumentException("no target image");
        double best = Double.POSITIVE_INFINITY;
        for (int t : targets) best = Math.min(best, distances[t]);
        int closer = 0;
        for (int i = 0; i < distances.length; i++) if (!targets.contains(i) && distances[i] < best) closer++;
        return closer;
    }

    static double squaredDistance(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            s += d * d;
        }
        return s;
    }

    /**
     * The image shifted by (dx, dy) (content moves right and down: out(x, y) = in(x − dx, y − dy), white where
     * nothing comes from), blurred, averaged over (w/16)×(h/16) blocks: 16×16×3 values, row-major, RGB last.
     */
    public static float[] descriptor(RgbImage img, int dx, int dy) {
        int w = img.width(), h = img.height();
        // Shifted image on a white canvas padded by the blur radius: the outside world is white.
        int pw = w + 2 * RADIUS, ph = h + 2 * RADIUS;
        float[] canvas = new float[pw * ph * 3];
        java.util.Arrays.fill(canvas, WHITE);
        for (int y = 0; y < h; y++) {
            int sy = y - dy;
            if (sy < 0 || sy >= h) continue;
            for (int x = 0; x < w; x++) {
                int sx = x - dx;
                if (sx < 0 || sx >= w) continue;
                int o = ((y + RADIUS) * pw + x + RADIUS) * 3;
                for (int c = 0; c < 3; c++) canvas[o + c] = img.get(sx, sy, c);
            }
        }
        // Horizontal pass over the rows the vertical pass needs, then vertical pass for the image's own pixels.
        float[] horizontal = new float[ph * w * 3];
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    float s = 0;
                    for (int k = -RADIUS; k <= RADIUS; k++) s += KERNEL[k + RADIUS] * canvas[(y * pw + x + RADIUS + k) * 3 + c];
                    horizontal[(y * w + x) * 3 + c] = s;
                }
        int bw = w / GRID, bh = h / GRID;
        float[] out = new float[GRID * GRID * 3];
        double[] sums = new double[GRID * GRID * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    float s = 0;
                    for (int k = -RADIUS; k <= RADIUS; k++) s += KERNEL[k + RADIUS] * horizontal[((y + RADIUS + k) * w + x) * 3 + c];
                    sums[((y / bh) * GRID + x / bw) * 3 + c] += s;
                }
        for (int i = 0; i < out.length; i++) out[i] = (float) (sums[i] / (bw * bh));
        return out;
    }

    private static float[] kernel() {
        double[] k = new double[2 * RADIUS + 1];
        double sum = 0;
        for (int i = -RADIUS; i <= RADIUS; i++) sum += k[i + RADIUS] = Math.exp(-i * i / (2 * SIGMA * SIGMA));
        float[] out = new float[k.length];
        for (int i = 0; i < k.length; i++) out[i] = (float) (k[i] / sum);
        return out;
    }
}
