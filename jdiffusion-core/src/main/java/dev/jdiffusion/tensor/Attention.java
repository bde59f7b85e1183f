package dev.jdiffusion.tensor;

/**
 * Multi-head scaled dot-product attention, softmax(Q Kᵀ / sqrt(d)) V, on (N, L, heads·d) tensors.
 * A block of query rows at a time: only that block's scores exist at once, never the full L×L matrix.
 */
public final class Attention {
    private static final int QUERY_BLOCK = 32;

    private Attention() {}

    public static Tensor attend(Tensor q, Tensor k, Tensor v, int heads) {
        return attendReference(q, k, v, heads);
    }

    /** The previous implementation (scores of 32 query rows at a time, scalar P·V): kept as a baseline. */
    static Tensor attendReference(Tensor q, Tensor k, Tensor v, int heads) {
        int n = q.dim(0), lq = q.dim(1), width = q.dim(2), lk = k.dim(1);
        if (width % heads != 0) throw new IllegalArgumentException(width + " features do not split into " + heads + " heads");
        int d = width / heads;
        float scale = (float) (1.0 / Math.sqrt(d));
        float[] qs = q.data(), ks = k.data(), vs = v.data(), out = new float[n * lq * width];
        int qBlocks = (lq + QUERY_BLOCK - 1) / QUERY_BLOCK;
        Parallel.forRange(n * heads * qBlocks, 1, (from, to) -> {
            float[] scores = new float[QUERY_BLOCK * lk];
            for (int task = from; task < to; task++) {
                int b = task / (heads * qBlocks), h = (task / qBlocks) % heads, qb = task % qBlocks;
                int i0 = qb * QUERY_BLOCK, rows = Math.min(QUERY_BLOCK, lq - i0);
                int qOff = (b * lq + i0) * width + h * d, kOff = b * lk * width + h * d;
                Gemm.ntBlocked(rows, lk, d, qs, qOff, width, ks, kOff, width, scores, 0, lk, false);
                for (int r = 0; r < rows; r++) {
                    int so = r * lk;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < lk; j++) max = Math.max(max, scores[so + j] * scale);
                    float sum = 0;
                    for (int j = 0; j < lk; j++) {
                        float e = (float) Math.exp(scores[so + j] * scale - max);
                        scores[so + j] = e;
                        sum += e;
                    }
                    float inv = 1f / sum;
                    int o = (b * lq + i0 + r) * width + h * d;
                    for (int j = 0; j < lk; j++) {
                        float p = scores[so + j] * inv;
                        int vo = (b * lk + j) * width + h * d;
                        for (int t = 0; t < d; t++) out[o + t] += p * vs[vo + t];
                    }
                }
            }
        });
        return new Tensor(out, n, lq, width);
    }
}
