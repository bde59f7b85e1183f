package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * 3×3, stride 1, padding 1 convolution by Winograd's minimal filtering F(4×4, 3×3) (Lavin and Gray,
 * "Fast Algorithms for Convolutional Neural Networks", 2016), on channels-last activations.
 *
 * <p>Each 4×4 output tile is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A with d the 6×6 input patch: 36 multiplies per
 * input/output channel pair instead of 144. Over all tiles that is 36 independent matrix products
 * (tiles × cin)·(cin × cout), one per point ξ of the 6×6 transform, which run on the packed
 * micro-kernel of {@link PackedGemm}. The weights are transformed (and converted from their file dtype)
 * once per call into packed panels; the tiles are processed in chunks small enough for the transformed
 * inputs and products of a chunk to stay in cache, one chunk per task.
 *
 * <p>Numerics: the transforms use the points 0, ±1, ±2, ±1/2 and grow rounding error by about 10×
 * over a direct float32 convolution (still ~1e-6 relative at SD's channel counts), well inside the
 * reference tolerances.
 */
final class Winograd {
    private static final VectorSpecies<Float> S = PackedGemm.S;
    private static final int L = PackedGemm.L, NR = PackedGemm.NR, MR = PackedGemm.MR;
    /** Output tile size, input patch size, transform points. */
    static final int M = 4, A = 6, XI = A * A;
    /** Bytes of transformed inputs plus products per chunk (per thread): big enough that each chunk reuses the transformed weights many times (they come from L3), small enough to stay in L2/L3. */
    private static final long CHUNK_BYTES = Long.getLong("jdiffusion.winograd.chunkBytes", 8L << 20);
    /** Below this many tiles per thread the per-call weight transform does not pay for itself. */
    static final int MIN_TILES_PER_THREAD = Integer.getInteger("jdiffusion.winograd.minTilesPerThread", 24);
    static final boolean ENABLED = !Boolean.getBoolean("jdiffusion.winograd.disable");

    private Winograd() {}

    /** Whether a convolution of this shape runs here (else as an implicit GEMM). */
    static boolean applies(int n, int h, int w, int cin, int cout, int kh, int kw, int stride, int padding) {
        if (!ENABLED || kh != 3 || kw != 3 || stride != 1 || padding != 1 || cin % L != 0 || cout % L != 0) return false;
        long tiles = (long) n * ceilDiv(h, M) * ceilDiv(w, M);
        return tiles >= (long) MIN_TILES_PER_THREAD * Parallel.threads();
    }

    /**
     * out (n, h, w, cout) (+)= conv3x3(x (n, h, w, cin), weight [cout, cin, 3, 3]) + bias; with
     * {@code accumulate} out's contents (a residual) are added.
     */
    static void conv3x3(float[] x, int n, int h, int w, int cin, WeightTensor weight, float[] bias, float[] out,
                        boolean accumulate) {
        conv3x3(x, n, h, w, cin, false, null, weight, bias, out, accumulate);
    }

    /**
     * As above; with {@code upsample2x} x is (n, h/2, w/2, cin) and the convolution runs over its
     * nearest-neighbour 2× upsampling (h, w), read in place: the 4× larger upsampled tensor (hundreds of
     * MB in the VAE decoder) is never made. With {@code norm} (whose x is x) the convolution runs over the
     * group-normalized (and SiLU'd) input, applied as pixels are loaded, so that tensor is never made either.
     *
     * <p>The transformed weights of all output channels would take 36·cin·cout floats (236 MB for
     * 1280×1280): they are built a block of output channels at a time, at most
     * {@link PackedGemm#KEEP_LIMIT} bytes, and each block runs over all tiles (the input transform is
     * repeated per block; it is a small part of the work).
     */
    static void conv3x3(float[] x, int n, int h, int w, int cin, boolean upsample2x, Norms.Normalized norm,
                        WeightTensor weight, float[] bias, float[] out, boolean accumulate) {
        int cout = weight.dim(0);
        int blockPanels = (int) Math.max(1, PackedGemm.KEEP_LIMIT / (4L * XI * cin * NR));
        int blocks = ceilDiv(ceilDiv(cout, NR), blockPanels);
        blockPanels = ceilDiv(ceilDiv(cout, NR), blocks); // even blocks
        int ty = ceilDiv(h, M), tx = ceilDiv(w, M), tiles = n * ty * tx, threads = Parallel.threads();
        for (int j0 = 0; j0 < cout; j0 += blockPanels * NR) {
            int first = j0, cols = Math.min(blockPanels * NR, cout - j0), panels = ceilDiv(cols, NR);
            long xiStride = (long) panels * cin * NR;
            float[] u = PackedGemm.borrow(XI * xiStride);
            try {
                Parallel.forTasks(panels, p -> transformWeights(weight, cin, first, cols, p, xiStride, u));
                int maxT = (int) Math.max(MR, CHUNK_BYTES / (4L * XI * (cin + cols)) / MR * MR);
                int chunks = ceilDiv(ceilDiv(tiles, maxT), threads) * threads;
                int chunkTiles = PackedGemm.roundUp(ceilDiv(tiles, chunks), MR);
                int tasks = ceilDiv(tiles, chunkTiles);
                Parallel.forTasks(tasks, t -> {
                    int t0 = t * chunkTiles, t1 = Math.min(tiles, t0 + chunkTiles), count = t1 - t0;
                    PackedGemm.Ctx ctx = PackedGemm.context();
                    float[] v = ctx.winogradInputs(XI * chunkTiles * cin), m = ctx.winogradProducts(XI * chunkTiles * cols);
                    float[] patch = ctx.winogradScratch(Math.max(XI, A * M + M * M) * L); // input patch, or output rows + pixels
                    for (int i = 0; i < count; i++) transformInput(x, h, w, cin, upsample2x, norm, ty, tx, t0 + i, v, i, count, patch);
                    for (int xi = 0; xi < XI; xi++)
                        PackedGemm.multiplyPacked(count, cols, cin, v, xi * count * cin, cin, u, (int) (xi * xiStride),
                                m, xi * count * cols, cols, ctx);
                    for (int i = 0; i < count; i++)
                        transformOutput(m, i, count, cols, first, cout, h, w, ty, tx, t0 + i, bias, out, accumulate, patch);
                });
            } finally {
                PackedGemm.release(u);
            }
        }
    }

    // ---------------------------------------------------------------- weights: U = G g Gᵀ

    /**
     * Panel p of every transform point: u[ξ·xiStride + p·cin·NR + c·NR + jj] = (G g Gᵀ)[ξ] for output
     * channel first + p·NR + jj and input channel c (zeros past the block's blockCols channels). The panel's weight rows are staged as
     * float32, then L output channels at a time are gathered per input channel and transformed as
     * vectors, so that every store writes L consecutive floats.
     */
    private static void transformWeights(WeightTensor weight, int cin, int first, int blockCols, int p, long xiStride,
                                         float[] u) {
        int j0 = first + p * NR, cols = Math.min(NR, blockCols - p * NR), k = 9 * cin;
        float[] rows = PackedGemm.context().winogradScratch(NR * k);
        for (int jj = 0; jj < cols; jj++) weight.copyTo((long) (j0 + jj) * k, rows, jj * k, k);
        java.util.Arrays.fill(rows, cols * k, NR * k, 0f);
        int[] lanes = new int[L];
        for (int l = 0; l < L; l++) lanes[l] = l * k;
        // Scratch: the 9 taps of L output channels (gathered), then the 6×3 rows of G g. Helpers take arrays
        // and offsets, never vectors, so that nothing is boxed even where the JIT does not inline them.
        float[] g9 = new float[9 * L], gg = new float[A * 3 * L];
        for (int half = 0; half < NR / L; half++) {
            for (int c = 0; c < cin; c++) {
                int g = half * L * k + c * 9;
                for (int e = 0; e < 9; e++) FloatVector.fromArray(S, rows, g + e, lanes, 0).intoArray(g9, e * L);
                // G down each kernel column (ky), into gg[a][kx]; then each row of that through G, into u.
                for (int kx = 0; kx < 3; kx++) gTimes(g9, kx * L, 3 * L, gg, kx * L, 3 * L);
                int o = p * cin * NR + c * NR + half * L;
                for (int a = 0; a < A; a++) gTimes(gg, a * 3 * L, L, u, (int) (a * A * xiStride) + o, (int) xiStride);
            }
        }
    }

    private static final float SIXTH = 1f / 6, TWELFTH = 1f / 12, TWENTY_FOURTH = 1f / 24;

    /**
     * G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1] times the three
     * vectors src[so + k·ss], the six results stored at dst[d0 + r·ds].
     */
    private static void gTimes(float[] src, int so, int ss, float[] dst, int d0, int ds) {
        FloatVector x0 = FloatVector.fromArray(S, src, so), x1 = FloatVector.fromArray(S, src, so + ss),
                x2 = FloatVector.fromArray(S, src, so + 2 * ss);
        FloatVector s02 = x0.add(x2), q0 = x0.mul(TWENTY_FOURTH).add(x2.mul(SIXTH)), q1 = x1.mul(TWELFTH);
        x0.mul(0.25f).intoArray(dst, d0);
        s02.add(x1).mul(-SIXTH).intoArray(dst, d0 + ds);
        s02.sub(x1).mul(-SIXTH).intoArray(dst, d0 + 2 * ds);
        q0.add(q1).intoArray(dst, d0 + 3 * ds);
        q0.sub(q1).intoArray(dst, d0 + 4 * ds);
        x2.intoArray(dst, d0 + 5 * ds);
    }

    // ---------------------------------------------------------------- inputs: V = Bᵀ d B

    /**
     * Tile {@code tile} (batch-major, then row, then column of tiles) of x: writes
     * v[ξ·count·cin + i·cin + c] for every point ξ and channel c. Border tiles are first copied into a
     * zero-padded 6×6 patch so that the transform itself never tests bounds.
     */
    private static void transformInput(float[] x, int h, int w, int cin, boolean upsample2x, Norms.Normalized norm,
                                       int ty, int tx, int tile, float[] v, int i, int count, float[] patch) {
        int b = tile / (ty * tx), rem = tile - b * ty * tx, y0 = (rem / tx) * M - 1, x0 = (rem % tx) * M - 1;
        boolean interior = !upsample2x && norm == null && y0 >= 0 && x0 >= 0 && y0 + A <= h && x0 + A <= w;
        // The source image: x itself, or (upsampling) x at half the resolution.
        int sh = upsample2x ? h / 2 : h, sw = upsample2x ? w / 2 : w, shift = upsample2x ? 1 : 0;
        int vStride = count * cin;
        for (int c = 0; c < cin; c += L) {
            float[] src;
            int o0, rowStride, colStride;
            if (interior) {
                src = x;
                o0 = ((b * h + y0) * w + x0) * cin + c;
                rowStride = w * cin;
                colStride = cin;
            } else {
                src = patch;
                o0 = 0;
                rowStride = A * L;
                colStride = L;
                for (int r = 0; r < A; r++)
                    for (int q = 0; q < A; q++) {
                        int yy = y0 + r, xx = x0 + q, d = (r * A + q) * L;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) java.util.Arrays.fill(patch, d, d + L, 0f); // padding: zeros, normalized or not
                        else if (norm != null) norm.applyVector(b, (b * sh + (yy >> shift)) * sw + (xx >> shift), c, patch, d);
                        else System.arraycopy(x, ((b * sh + (yy >> shift)) * sw + (xx >> shift)) * cin + c, patch, d, L);
                    }
            }
            // Rows: Bᵀ along x for each of the 6 patch rows, into the patch buffer (in place for a border
            // tile: bt loads a whole row before it stores); then columns: Bᵀ along y, into v.
            for (int r = 0; r < A; r++) bt(src, o0 + r * rowStride, colStride, patch, r * A * L, L);
            for (int q = 0; q < A; q++) bt(patch, q * L, A * L, v, q * vStride + i * cin + c, A * vStride);
        }
    }

    /** Six vectors d_k = src[so + k·ss] through Bᵀ, stored at dst[d0 + k·ds]. */
    private static void bt(float[] src, int so, int ss, float[] dst, int d0, int ds) {
        FloatVector d0v = FloatVector.fromArray(S, src, so), d1 = FloatVector.fromArray(S, src, so + ss),
                d2 = FloatVector.fromArray(S, src, so + 2 * ss), d3 = FloatVector.fromArray(S, src, so + 3 * ss),
                d4 = FloatVector.fromArray(S, src, so + 4 * ss), d5 = FloatVector.fromArray(S, src, so + 5 * ss);
        FloatVector t1 = d2.fma(FloatVector.broadcast(S, -4f), d4), t2 = d1.fma(FloatVector.broadcast(S, -4f), d3);        // d4 - 4 d2, d3 - 4 d1
        FloatVector t3 = d4.sub(d2), t4 = d3.sub(d1).mul(2f);          // d4 - d2, 2 (d3 - d1)
        d0v.fma(FloatVector.broadcast(S, 4f), d2.fma(FloatVector.broadcast(S, -5f), d4)).intoArray(dst, d0);               // 4 d0 - 5 d2 + d4
        t1.add(t2).intoArray(dst, d0 + ds);                            // -4 d1 - 4 d2 + d3 + d4
        t1.sub(t2).intoArray(dst, d0 + 2 * ds);                        //  4 d1 - 4 d2 - d3 + d4
        t3.add(t4).intoArray(dst, d0 + 3 * ds);                        // -2 d1 - d2 + 2 d3 + d4
        t3.sub(t4).intoArray(dst, d0 + 4 * ds);                        //  2 d1 - d2 - 2 d3 + d4
        d1.fma(FloatVector.broadcast(S, 4f), d3.fma(FloatVector.broadcast(S, -5f), d5)).intoArray(dst, d0 + 5 * ds);       // 4 d1 - 5 d3 + d5
    }

    // ---------------------------------------------------------------- outputs: Y = Aᵀ m A

    /**
     * Tile {@code tile}'s 4×4 pixels, output channels first..first+cols, from its 36 products
     * m[ξ·count·cols + i·cols + j], plus bias (and out).
     */
    private static void transformOutput(float[] m, int i, int count, int cols, int first, int cout, int h, int w, int ty,
                                        int tx, int tile, float[] bias, float[] out, boolean accumulate, float[] scratch) {
        int b = tile / (ty * tx), rem = tile - b * ty * tx, oy = (rem / tx) * M, ox = (rem % tx) * M;
        int mStride = count * cols;
        int rows = Math.min(M, h - oy), pixels = Math.min(M, w - ox);
        for (int j = 0; j < cols; j += L) {
            // Rows of the 6×6 products through Aᵀ (6 → 4 values), then the columns, into the scratch's
            // second part (4×4 pixels), then bias (and the residual already in out) as the pixels are stored.
            for (int r = 0; r < A; r++) at(m, r * A * mStride + i * cols + j, mStride, scratch, r * M * L, L);
            for (int q = 0; q < pixels; q++) at(scratch, q * L, M * L, scratch, (A * M + q) * L, M * L);
            for (int yy = 0; yy < rows; yy++)
                for (int q = 0; q < pixels; q++)
                    storePixel(scratch, (A * M + yy * M + q) * L, bias, first + j, out,
                            ((b * h + oy + yy) * w + ox + q) * cout + first + j, accumulate);
        }
    }

    private static void storePixel(float[] src, int so, float[] bias, int j, float[] out, int o, boolean accumulate) {
        FloatVector y = FloatVector.fromArray(S, src, so);
        if (bias != null) y = y.add(FloatVector.fromArray(S, bias, j));
        if (accumulate) y = y.add(FloatVector.fromArray(S, out, o));
        y.intoArray(out, o);
    }

    /** Six vectors m_k = src[so + k·ss] through Aᵀ, the four results stored at dst[d0 + k·ds]. */
    private static void at(float[] src, int so, int ss, float[] dst, int d0, int ds) {
        FloatVector m0 = FloatVector.fromArray(S, src, so), m1 = FloatVector.fromArray(S, src, so + ss),
                m2 = FloatVector.fromArray(S, src, so + 2 * ss), m3 = FloatVector.fromArray(S, src, so + 3 * ss),
                m4 = FloatVector.fromArray(S, src, so + 4 * ss), m5 = FloatVector.fromArray(S, src, so + 5 * ss);
        FloatVector s12 = m1.add(m2), d12 = m1.sub(m2), s34 = m3.add(m4), d34 = m3.sub(m4);
        m0.add(s12).add(s34).intoArray(dst, d0);                   // m0 + m1 + m2 + m3 + m4
        d34.fma(FloatVector.broadcast(S, 2f), d12).intoArray(dst, d0 + ds);                  // m1 - m2 + 2 (m3 - m4)
        s34.fma(FloatVector.broadcast(S, 4f), s12).intoArray(dst, d0 + 2 * ds);              // m1 + m2 + 4 (m3 + m4)
        d34.fma(FloatVector.broadcast(S, 8f), d12).add(m5).intoArray(dst, d0 + 3 * ds);      // m1 - m2 + 8 (m3 - m4) + m5
    }

    private static int ceilDiv(int a, int b) { return (a + b - 1) / b; }
}
