package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Packed, register-blocked matrix multiply: C (+)= A · Bᵀ with float32 accumulation.
 *
 * <p>B (the weights: N rows of K) is packed per call into panels of {@link #NR} columns, k-major
 * ({@code panel[p][jj] = B[j0 + jj][p]}), converting F16/BF16 to float32 on the way; the panels of one
 * call live in a reused buffer and are freed (returned to a one-slot pool) afterwards, so no fp32 copy
 * of the model stays on the heap. A (activations) is read in place through an {@link ASource}, which
 * hands the kernel {@link #MR} row pointers per k-block: rows of a row-major matrix for linear
 * layers, shifted input pixels for a 3×3 convolution (implicit GEMM: no im2col buffer), or a small
 * gathered patch buffer for convolutions with few input channels.
 *
 * <p>The micro-kernel keeps an MR×NR = 6×(2 vectors) tile of C in 12 vector registers, broadcasting
 * one A element per row and loading two B vectors per k step. Work is split into big tasks (a block
 * of rows × a block of panels) that the cores take from a shared counter.
 */
public final class PackedGemm {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    /** Panel width: two vectors. */
    public static final int NR = 2 * L;
    /** Rows per micro-kernel call. */
    public static final int MR = 6;
    /** Longest k-block (the packed B block of a task stays in L2 across row groups). */
    static final int KC = Integer.getInteger("jdiffusion.gemm.kc", 384);
    /** Panels per task (a task's B block is KC × NC_PANELS·NR floats). */
    static final int NC_PANELS = Integer.getInteger("jdiffusion.gemm.ncPanels", 12);
    /** Convolutions with fewer input channels gather patch rows instead of reading pixels in place. */
    static final int DIRECT_CONV_MIN_CHANNELS = 32;
    /** Packed buffers larger than this (bytes) are not kept for the next call. */
    static final long KEEP_LIMIT = 64L << 20;
    private static final AtomicReference<float[]> SPARE = new AtomicReference<>();
    private static final ThreadLocal<Ctx> CTX = ThreadLocal.withInitial(Ctx::new);

    private PackedGemm() {}

    /** Per-thread scratch: the row pointers of the current row group and growable buffers. */
    public static final class Ctx {
        /** The current row group's k-block, interleaved: apack[p*MR + r] = A(i0 + r, k0 + p). */
        final float[] apack = new float[MR * KC];
        final float[] tile = new float[MR * NR];
        float[] tmp = new float[1024];
        private float[] rowBlock, weightRows, winogradInputs, winogradProducts, winogradScratch;

        float[] winogradInputs(int size) { return winogradInputs = grow(winogradInputs, size); }

        float[] winogradProducts(int size) { return winogradProducts = grow(winogradProducts, size); }

        float[] winogradScratch(int size) { return winogradScratch = grow(winogradScratch, size); }

        private static float[] grow(float[] buf, int size) {
            return buf != null && buf.length >= size ? buf : new float[size];
        }

        /** MR rows of KC floats: weight rows converted for {@link FewRowsGemm}. */
        float[] weightRows() {
            if (weightRows == null) weightRows = new float[MR * KC];
            return weightRows;
        }

        /** NR rows of KC floats: weight rows staged for a panel's transpose. */
        float[] rowBlock() {
            if (rowBlock == null) rowBlock = new float[NR * KC];
            return rowBlock;
        }

        float[] tmp(int size) {
            if (tmp.length < size) tmp = new float[Math.max(size, tmp.length * 2)];
            return tmp;
        }
    }

    /** The calling thread's scratch. */
    static Ctx context() { return CTX.get(); }

    /** The left operand, seen one row group and one k-block at a time. */
    public interface ASource {
        /** Boundaries of the k-blocks: 0 = kb[0] < kb[1] < … < kb[last] = K, each block at most KC long. */
        int[] kBlocks();

        /**
         * Writes {@code dst[p*MR + r] = A(i0 + r, kb[q] + p)} for r < rows, p < kb[q+1] - kb[q]; entries for
         * r ≥ rows may hold anything finite (their results are dropped).
         */
        void pack(int i0, int rows, int q, float[] dst);
    }

    /** The right operand (N rows of K, "Bᵀ"), packed one panel at a time. */
    public interface BSource {
        /**
         * Writes {@code dst[off + p*NR + jj] = B[j0 + jj][p]} for p < K, jj < NR, with zeros for
         * jj ≥ {@code cols}.
         */
        void pack(int j0, int cols, float[] dst, int off, Ctx ctx);
    }

    // ---------------------------------------------------------------- entry points

    /**
     * C[cOff + i*ldc + j] (+)= bias[j] + Σ_p A(i, p) · B(j, p) for i < m, j < n, p < k. With
     * {@code accumulate} C's previous contents are added to (a fused residual add); bias may be null.
     */
    public static void multiply(int m, int n, int k, ASource a, BSource b, float[] c, int cOff, int ldc,
                                float[] bias, boolean accumulate) {
        multiply(m, n, k, a, b, c, cOff, ldc, bias, accumulate, true);
    }

    /** {@link #multiply} on the calling thread only when {@code mayParallel} is false (callers that split the work themselves). */
    static void multiply(int m, int n, int k, ASource a, BSource b, float[] c, int cOff, int ldc,
                         float[] bias, boolean accumulate, boolean mayParallel) {
        if (m <= 0 || n <= 0) return;
        if (k == 0) {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    int idx = cOff + i * ldc + j;
                    c[idx] = (accumulate ? c[idx] : 0f) + (bias == null ? 0f : bias[j]);
                }
            return;
        }
        int panels = (n + NR - 1) / NR;
        int panelSize = Math.multiplyExact(k, NR);
        long keepPanels = Math.max(1, KEEP_LIMIT / 4 / panelSize);
        if (panels > keepPanels) {
            // A B too big for the reusable buffer (the widest UNet convolutions): column slices that fit,
            // rather than a fresh buffer of hundreds of MB every call. A is packed again per slice (cheap).
            int slices = (int) ((panels + keepPanels - 1) / keepPanels), perSlice = (panels + slices - 1) / slices * NR;
            for (int j0 = 0; j0 < n; j0 += perSlice) {
                int cols = Math.min(perSlice, n - j0), from = j0;
                BSource slice = (j, c2, dst, off, ctx) -> b.pack(from + j, c2, dst, off, ctx);
                float[] sliceBias = bias == null ? null : java.util.Arrays.copyOfRange(bias, j0, j0 + cols);
                multiply(m, cols, k, a, slice, c, cOff + j0, ldc, sliceBias, accumulate, mayParallel);
            }
            return;
        }
        float[] packed = borrow((long) panels * panelSize);
        try {
            double flops = 2.0 * m * n * k;
            boolean parallel = mayParallel && flops >= 4e6;
            int packTasks = parallel ? Math.min(panels, 4 * Parallel.threads()) : 1;
            runTasks(packTasks, parallel, t -> {
                Ctx ctx = CTX.get();
                int p0 = (int) ((long) panels * t / packTasks), p1 = (int) ((long) panels * (t + 1) / packTasks);
                for (int p = p0; p < p1; p++) b.pack(p * NR, Math.min(NR, n - p * NR), packed, p * panelSize, ctx);
            });
            int[] kb = a.kBlocks();
            // Tasks are blocks of rows × blocks of panels. Every row block reads all of packed B and every
            // panel block all of A, so split the dimension whose operand is smaller less: n/m panel blocks
            // per row block (wide weights over few rows — the low-resolution layers — split by panels).
            int wantTasks = parallel ? 8 * Parallel.threads() : 1;
            int nChunks = (int) Math.round(Math.sqrt((double) wantTasks * n / m));
            nChunks = Math.clamp(nChunks, (panels + NC_PANELS - 1) / NC_PANELS, panels);
            int ncp = (panels + nChunks - 1) / nChunks;
            nChunks = (panels + ncp - 1) / ncp;
            int mChunks = Math.max(1, Math.min((wantTasks + nChunks - 1) / nChunks, (m + 47) / 48));
            int mc = roundUp((m + mChunks - 1) / mChunks, MR);
            int mTasks = (m + mc - 1) / mc, nTasks = nChunks;
            runTasks(mTasks * nTasks, parallel, t -> {
                Ctx ctx = CTX.get();
                int i0 = (t / nTasks) * mc, i1 = Math.min(m, i0 + mc);
                int q0 = (t % nTasks) * ncp, q1 = Math.min(panels, q0 + ncp);
                for (int q = 0; q + 1 < kb.length; q++) {
                    int k0 = kb[q], kc = kb[q + 1] - k0;
                    boolean load = accumulate || q > 0;
                    float[] bq = q == 0 ? bias : null;
                    for (int i = i0; i < i1; i += MR) {
                        int rows = Math.min(MR, i1 - i);
                        a.pack(i, rows, q, ctx.apack);
                        for (int p = q0; p < q1; p++) {
                            int j = p * NR;
                            tile(kc, ctx, packed, p * panelSize + k0 * NR, c, cOff + i * ldc + j, ldc,
                                    rows, Math.min(NR, n - j), load, bq, j);
                        }
                    }
                }
            });
        } finally {
            release(packed);
        }
    }

    /**
     * Single-threaded C[cOff + i*ldc + j] = Σ_p A[aOff + i*lda + p] · B(j, p) for i < m, j < n, with B
     * already packed as {@link #multiply} packs it: panel q at b[bOff + q·k·NR], k-major. For callers
     * that split the work themselves (each task its own rows) and reuse one packed B across tasks.
     */
    static void multiplyPacked(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff,
                               float[] c, int cOff, int ldc, Ctx ctx) {
        int panels = (n + NR - 1) / NR;
        int[] kb = uniformBlocks(k);
        for (int q = 0; q + 1 < kb.length; q++) {
            int k0 = kb[q], kc = kb[q + 1] - k0;
            for (int i = 0; i < m; i += MR) {
                int rows = Math.min(MR, m - i);
                if (rows == MR && n % NR == 0) {
                    // Whole tiles: the kernel reads the six rows of A in place.
                    for (int p = 0; p < panels; p++)
                        kernel(kc, a, aOff + i * lda + k0, lda, 1, b, bOff + p * k * NR + k0 * NR, c, cOff + i * ldc + p * NR,
                                ldc, q > 0, null, 0);
                    continue;
                }
                packRows(a, aOff, lda, i, rows, k0, kc, ctx.apack);
                for (int p = 0; p < panels; p++) {
                    int j = p * NR;
                    tile(kc, ctx, b, bOff + p * k * NR + k0 * NR, c, cOff + i * ldc + j, ldc, rows,
                            Math.min(NR, n - j), q > 0, null, 0);
                }
            }
        }
    }

    private interface Task { void run(int t); }

    private static void runTasks(int tasks, boolean parallel, Task body) {
        if (parallel) Parallel.forTasks(tasks, body::run);
        else for (int t = 0; t < tasks; t++) body.run(t);
    }

    /** Linear layer core: y[m, n] = x[m, k] · wᵀ + bias with w a [n, k] weight in any float dtype. */
    public static void linear(int m, float[] x, int xOff, WeightTensor w, float[] bias, float[] y, int yOff,
                              boolean accumulate) {
        int n = w.dim(0), k = w.dim(1);
        if (m <= 4) {
            smallM(m, n, k, x, xOff, w, bias, y, yOff, accumulate);
            return;
        }
        if (FewRowsGemm.suits(m, n, k)) {
            FewRowsGemm.multiply(m, k, FewRowsGemm.rows(x, xOff, m, k), w, bias, y, yOff, n, accumulate);
            return;
        }
        multiply(m, n, k, rows(x, xOff, k, k), weightRows(w), y, yOff, n, bias, accumulate);
    }

    /**
     * A handful of rows (time embeddings, pooled text features): memory-bound on the weight, so
     * stream each weight row once, converted, and take dot products; no packing.
     */
    private static void smallM(int m, int n, int k, float[] x, int xOff, WeightTensor w, float[] bias, float[] y,
                               int yOff, boolean accumulate) {
        int chunks = (long) n * k >= (1 << 16) ? Math.min(n, 4 * Parallel.threads()) : 1;
        runTasks(chunks, chunks > 1, t -> {
            float[] row = CTX.get().tmp(k);
            int j0 = (int) ((long) n * t / chunks), j1 = (int) ((long) n * (t + 1) / chunks);
            for (int j = j0; j < j1; j++) {
                w.copyTo((long) j * k, row, 0, k);
                for (int i = 0; i < m; i++) {
                    int idx = yOff + i * n + j;
                    float v = Gemm.dot(k, x, xOff + i * k, row, 0) + (bias == null ? 0f : bias[j]);
                    y[idx] = accumulate ? y[idx] + v : v;
                }
            }
        });
    }

    // ---------------------------------------------------------------- sources

    /** k split into ceil(k/KC) nearly equal blocks. */
    static int[] uniformBlocks(int k) {
        int nb = Math.max(1, (k + KC - 1) / KC);
        int[] kb = new int[nb + 1];
        for (int q = 0; q <= nb; q++) kb[q] = (int) ((long) k * q / nb);
        return kb;
    }

    /** Rows of a row-major matrix: row i is a[aOff + i*lda …+k]. */
    public static ASource rows(float[] a, int aOff, int lda, int k) {
        int[] kb = uniformBlocks(k);
        return new ASource() {
            public int[] kBlocks() { return kb; }

            public void pack(int i0, int rows, int q, float[] dst) { packRows(a, aOff, lda, i0, rows, kb[q], kb[q + 1] - kb[q], dst); }
        };
    }

    /** dst[p*MR + r] = a[aOff + (i0 + r)*lda + k0 + p] for p < kc; rows past {@code rows} repeat the last one. */
    private static void packRows(float[] a, int aOff, int lda, int i0, int rows, int k0, int kc, float[] dst) {
        for (int r = 0; r < MR; r++) {
            int src = aOff + (i0 + Math.min(r, rows - 1)) * lda + k0;
            for (int p = 0; p < kc; p++) dst[p * MR + r] = a[src + p];
        }
    }

    /** B = a linear weight [n, k] (rows contiguous along k), any float dtype. */
    public static BSource weightRows(WeightTensor w) {
        int n = w.dim(0), k = w.dim(1);
        return (j0, cols, dst, off, ctx) -> {
            float[] rows = ctx.rowBlock();
            for (int k0 = 0; k0 < k; k0 += KC) {
                int kc = Math.min(KC, k - k0);
                for (int jj = 0; jj < cols; jj++) w.copyTo((long) (j0 + jj) * k + k0, rows, jj * KC, kc);
                zeroRows(rows, cols, kc);
                for (int p = 0; p < kc; p++) transposeColumn(rows, p, dst, off + (k0 + p) * NR);
            }
        };
    }

    /**
     * The weight rows of one panel, converted to float32, are staged as NR rows of {@link #KC} floats
     * and transposed a column at a time with two gathers: a scatter with stride NR, or a scalar
     * transpose, is several times slower, and packing runs for every weight on every call.
     */
    private static void transposeColumn(float[] rows, int p, float[] dst, int d) {
        FloatVector.fromArray(S, rows, p, ROW_STARTS, 0).intoArray(dst, d);
        FloatVector.fromArray(S, rows, p + L * KC, ROW_STARTS, 0).intoArray(dst, d + L);
    }

    /** Offsets of the first L staged rows: lane l reads row l. */
    private static final int[] ROW_STARTS = java.util.stream.IntStream.range(0, L).map(l -> l * KC).toArray();

    /** Zeros staged rows cols..NR-1 (a partial panel's missing columns) over the first len floats. */
    private static void zeroRows(float[] rows, int cols, int len) {
        for (int jj = cols; jj < NR; jj++) java.util.Arrays.fill(rows, jj * KC, jj * KC + len, 0f);
    }

    /** B = float rows: row j is b[bOff + j*ldb …+k]. */
    public static BSource floatRows(float[] b, int bOff, int ldb, int k) {
        return (j0, cols, dst, off, ctx) -> {
            for (int jj = 0; jj < NR; jj++) {
                int base = off + jj;
                if (jj < cols) {
                    int src = bOff + (j0 + jj) * ldb;
                    for (int p = 0; p < k; p++) dst[base + p * NR] = b[src + p];
                } else {
                    for (int p = 0; p < k; p++) dst[base + p * NR] = 0f;
                }
            }
        };
    }

    // ------------------------------------------------ transposed operands (the backward passes' GEMMs)

    /**
     * A = the transpose of a row-major matrix: A(i, p) = a[aOff + p·lda + i] for i < m, p < k (a weight
     * gradient's gᵀ: rows are output features, k runs over pixels or tokens).
     */
    public static ASource transposedRows(float[] a, int aOff, int lda, int m, int k) {
        int[] kb = uniformBlocks(k);
        return new ASource() {
            public int[] kBlocks() { return kb; }

            public void pack(int i0, int rows, int q, float[] dst) {
                int k0 = kb[q], kc = kb[q + 1] - k0;
                if (rows == MR) {
                    for (int p = 0; p < kc; p++) System.arraycopy(a, aOff + (k0 + p) * lda + i0, dst, p * MR, MR);
                    return;
                }
                for (int p = 0; p < kc; p++) {
                    int src = aOff + (k0 + p) * lda + i0;
                    for (int r = 0; r < MR; r++) dst[p * MR + r] = a[src + Math.min(r, rows - 1)];
                }
            }
        };
    }

    /** B = the columns of a row-major float matrix: B(j, p) = b[bOff + p·ldb + j] for p < k (so C = A·b). */
    public static BSource floatColumns(float[] b, int bOff, int ldb, int k) {
        return (j0, cols, dst, off, ctx) -> {
            for (int p = 0; p < k; p++) {
                int d = off + p * NR;
                System.arraycopy(b, bOff + p * ldb + j0, dst, d, cols);
                for (int jj = cols; jj < NR; jj++) dst[d + jj] = 0f;
            }
        };
    }

    /** B = the columns of a linear weight [k, n]: B(j, p) = W[p][j] (so C = A·W: a linear layer's input gradient). */
    public static BSource weightColumns(WeightTensor w) {
        int k = w.dim(0), n = w.dim(1);
        return (j0, cols, dst, off, ctx) -> {
            for (int p = 0; p < k; p++) {
                int d = off + p * NR;
                w.copyTo((long) p * n + j0, dst, d, cols);
                for (int jj = cols; jj < NR; jj++) dst[d + jj] = 0f;
            }
        };
    }

    /**
     * B = the patches of a convolution input, transposed: B(j, p) = patch of output pixel p0 + p at
     * patch position j, k ordered (ky, kx, c) as {@link #convPatches} orders it; zeros in the padding.
     * (A weight gradient is gᵀ · patches.)
     */
    public static BSource patchColumns(float[] x, int n, int h, int w, int cin, int kh, int kw, int stride,
                                       int padding, int p0, int count) {
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1, ohw = oh * ow;
        return (j0, cols, dst, off, ctx) -> {
            for (int p = 0; p < count; p++) {
                int i = p0 + p, b = i / ohw, rem = i - b * ohw, oy = rem / ow, ox = rem - oy * ow;
                int d = off + p * NR;
                for (int jj = 0; jj < cols; ) {
                    int j = j0 + jj, t = j / cin, c = j - t * cin, run = Math.min(cols - jj, cin - c);
                    int iy = oy * stride - padding + t / kw, ix = ox * stride - padding + t % kw;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) java.util.Arrays.fill(dst, d + jj, d + jj + run, 0f);
                    else System.arraycopy(x, ((b * h + iy) * w + ix) * cin + c, dst, d + jj, run);
                    jj += run;
                }
                for (int jj = cols; jj < NR; jj++) dst[d + jj] = 0f;
            }
        };
    }

    /**
     * B = a convolution weight [k, cin, kh, kw] (float32, flat) with rows j in (ky, kx, c) order:
     * B(j, p) = W[p][c][ky][kx] (so C = g · W gives each output pixel's patch gradient).
     */
    public static BSource convWeightColumns(float[] w, int k, int cin, int kh, int kw) {
        int taps = kh * kw;
        return (j0, cols, dst, off, ctx) -> {
            for (int p = 0; p < k; p++) {
                int d = off + p * NR, base = p * cin * taps;
                for (int jj = 0; jj < cols; jj++) {
                    int j = j0 + jj, t = j / cin, c = j - t * cin;
                    dst[d + jj] = w[base + c * taps + t];
                }
                for (int jj = cols; jj < NR; jj++) dst[d + jj] = 0f;
            }
        };
    }

    /**
     * B = a convolution weight [n, cin, kh, kw] seen with k ordered (ky, kx, c): the order in which a
     * channels-last patch is laid out. Each weight row is (c, tap) with the tap fastest; it is staged a
     * block of whole channels at a time and each staged column goes to its (tap, c) place.
     */
    public static BSource convWeight(WeightTensor w) {
        int cin = w.dim(1), taps = w.dim(2) * w.dim(3), k = cin * taps;
        if (taps > KC) throw new IllegalArgumentException(w.name() + ": kernel with more than " + KC + " taps");
        int block = KC / taps;
        return (j0, cols, dst, off, ctx) -> {
            float[] rows = ctx.rowBlock();
            for (int c0 = 0; c0 < cin; c0 += block) {
                int cb = Math.min(block, cin - c0), len = cb * taps;
                for (int jj = 0; jj < cols; jj++) w.copyTo((long) (j0 + jj) * k + (long) c0 * taps, rows, jj * KC, len);
                zeroRows(rows, cols, len);
                for (int c = 0; c < cb; c++)
                    for (int t = 0; t < taps; t++)
                        transposeColumn(rows, c * taps + t, dst, off + (t * cin + c0 + c) * NR);
            }
        };
    }

    /**
     * A = the patches of a convolution over channels-last x (n, h, w, cin): row i is output pixel i
     * (batch-major), k ordered (ky, kx, c). With enough channels each k-block lies within one tap, so
     * a row pointer is simply the shifted input pixel (or zeros in the padding); otherwise patch rows
     * are gathered into a small per-thread buffer.
     */
    public static ASource convPatches(float[] x, int n, int h, int w, int cin, int kh, int kw, int stride,
                                      int padding) {
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1;
        int taps = kh * kw, k = taps * cin, ohw = oh * ow;
        if (cin >= DIRECT_CONV_MIN_CHANNELS) {
            int per = (cin + KC - 1) / KC;
            int nb = taps * per;
            int[] kb = new int[nb + 1], tapOf = new int[nb], c0Of = new int[nb];
            for (int t = 0, q = 0; t < taps; t++)
                for (int s = 0; s < per; s++, q++) {
                    tapOf[q] = t;
                    c0Of[q] = (int) ((long) cin * s / per);
                    kb[q] = t * cin + c0Of[q];
                }
            kb[nb] = k;
            return new ASource() {
                public int[] kBlocks() { return kb; }

                public void pack(int i0, int rows, int q, float[] dst) {
                    int t = tapOf[q], ky = t / kw, kx = t % kw, c0 = c0Of[q], kc = kb[q + 1] - kb[q];
                    for (int r = 0; r < MR; r++) {
                        int i = i0 + Math.min(r, rows - 1);
                        int b = i / ohw, rem = i - b * ohw, oy = rem / ow, ox = rem - oy * ow;
                        int iy = oy * stride - padding + ky, ix = ox * stride - padding + kx;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                            for (int p = 0; p < kc; p++) dst[p * MR + r] = 0f;
                        } else {
                            int src = ((b * h + iy) * w + ix) * cin + c0;
                            for (int p = 0; p < kc; p++) dst[p * MR + r] = x[src + p];
                        }
                    }
                }
            };
        }
        int[] kb = uniformBlocks(k);
        return new ASource() {
            public int[] kBlocks() { return kb; }

            public void pack(int i0, int rows, int q, float[] dst) {
                int k0 = kb[q], k1 = kb[q + 1];
                for (int r = 0; r < MR; r++) {
                    int i = i0 + Math.min(r, rows - 1);
                    int b = i / ohw, rem = i - b * ohw, oy = rem / ow, ox = rem - oy * ow;
                    for (int p = k0; p < k1; ) {
                        int t = p / cin, c = p - t * cin, run = Math.min(k1 - p, cin - c);
                        int iy = oy * stride - padding + t / kw, ix = ox * stride - padding + t % kw;
                        int d = (p - k0) * MR + r;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                            for (int e = 0; e < run; e++) dst[d + e * MR] = 0f;
                        } else {
                            int src = ((b * h + iy) * w + ix) * cin + c;
                            for (int e = 0; e < run; e++) dst[d + e * MR] = x[src + e];
                        }
                        p += run;
                    }
                }
            }
        };
    }

    // ---------------------------------------------------------------- micro-kernel

    /**
     * C tile (rows × cols of MR × NR) at c[co], row stride ldc: (load ? C : 0) + (bias ? bias[biasOff + jj] : 0)
     * + Σ_{p<kc} A(r, p) · panel[p][jj], with A(r, p) at ctx.apack[p*MR + r]. Partial tiles go
     * through a full-size scratch tile, so that the kernel itself has no masks or row tests.
     */
    static void tile(int kc, Ctx ctx, float[] b, int bo, float[] c, int co, int ldc, int rows, int cols,
                     boolean load, float[] bias, int biasOff) {
        if (rows == MR && cols == NR) {
            kernel(kc, ctx.apack, 0, b, bo, c, co, ldc, load, bias, biasOff);
            return;
        }
        float[] t = ctx.tile;
        if (load) for (int r = 0; r < rows; r++) System.arraycopy(c, co + r * ldc, t, r * NR, cols);
        kernel(kc, ctx.apack, 0, b, bo, t, 0, NR, load, null, 0);
        for (int r = 0; r < rows; r++) {
            int dst = co + r * ldc, src = r * NR;
            if (bias == null) System.arraycopy(t, src, c, dst, cols);
            else for (int jj = 0; jj < cols; jj++) c[dst + jj] = t[src + jj] + bias[biasOff + jj];
        }
    }

    /**
     * The full MR × NR micro-kernel: 12 accumulators, two B vectors and one broadcast per k step.
     * A is interleaved (a[ao + p*MR + r]), B a panel (b[bo + p*NR + jj]); C rows at c[co + r*ldc].
     */
    static void kernel(int kc, float[] a, int ao, float[] b, int bo, float[] c, int co, int ldc, boolean load,
                       float[] bias, int biasOff) {
        kernel(kc, a, ao, 1, MR, b, bo, c, co, ldc, load, bias, biasOff);
    }

    /**
     * The micro-kernel with A(r, p) at a[ao + r·ars + p·aps]: interleaved panels (1, MR) as the GEMM packs
     * them, or plain rows (lda, 1), which attention's P·V reads in place.
     */
    static void kernel(int kc, float[] a, int ao, int ars, int aps, float[] b, int bo, float[] c, int co, int ldc,
                       boolean load, float[] bias, int biasOff) {
        int a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars;
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++) {
            int bp = bo + p * NR, ap = ao + p * aps;
            FloatVector b0 = FloatVector.fromArray(S, b, bp), b1 = FloatVector.fromArray(S, b, bp + L);
            FloatVector x = FloatVector.broadcast(S, a[ap]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[ap + a1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[ap + a2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[ap + a3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[ap + a4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[ap + a5]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
        }
        int r1 = co + ldc, r2 = r1 + ldc, r3 = r2 + ldc, r4 = r3 + ldc, r5 = r4 + ldc;
        if (load) {
            c00 = c00.add(FloatVector.fromArray(S, c, co));
            c01 = c01.add(FloatVector.fromArray(S, c, co + L));
            c10 = c10.add(FloatVector.fromArray(S, c, r1));
            c11 = c11.add(FloatVector.fromArray(S, c, r1 + L));
            c20 = c20.add(FloatVector.fromArray(S, c, r2));
            c21 = c21.add(FloatVector.fromArray(S, c, r2 + L));
            c30 = c30.add(FloatVector.fromArray(S, c, r3));
            c31 = c31.add(FloatVector.fromArray(S, c, r3 + L));
            c40 = c40.add(FloatVector.fromArray(S, c, r4));
            c41 = c41.add(FloatVector.fromArray(S, c, r4 + L));
            c50 = c50.add(FloatVector.fromArray(S, c, r5));
            c51 = c51.add(FloatVector.fromArray(S, c, r5 + L));
        }
        if (bias != null) {
            FloatVector bias0 = FloatVector.fromArray(S, bias, biasOff), bias1 = FloatVector.fromArray(S, bias, biasOff + L);
            c00 = c00.add(bias0);
            c01 = c01.add(bias1);
            c10 = c10.add(bias0);
            c11 = c11.add(bias1);
            c20 = c20.add(bias0);
            c21 = c21.add(bias1);
            c30 = c30.add(bias0);
            c31 = c31.add(bias1);
            c40 = c40.add(bias0);
            c41 = c41.add(bias1);
            c50 = c50.add(bias0);
            c51 = c51.add(bias1);
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + L);
        c10.intoArray(c, r1);
        c11.intoArray(c, r1 + L);
        c20.intoArray(c, r2);
        c21.intoArray(c, r2 + L);
        c30.intoArray(c, r3);
        c31.intoArray(c, r3 + L);
        c40.intoArray(c, r4);
        c41.intoArray(c, r4 + L);
        c50.intoArray(c, r5);
        c51.intoArray(c, r5 + L);
    }

    /**
     * MR × 3 vectors (C += A·B, always accumulating): 18 accumulators. B is a panel 3·L wide
     * (b[bo + p*3L + jj]); used by attention for P·V with head widths such as 40 and 80.
     */
    static void kernel3(int kc, float[] a, int ao, float[] b, int bo, float[] c, int co, int ldc) {
        kernel3(kc, a, ao, 1, MR, b, bo, c, co, ldc);
    }

    /** kernel3 with A(r, p) at a[ao + r·ars + p·aps], as {@link #kernel(int, float[], int, int, int, float[], int, float[], int, int, boolean, float[], int)}. */
    static void kernel3(int kc, float[] a, int ao, int ars, int aps, float[] b, int bo, float[] c, int co, int ldc) {
        int a1 = ars, a2 = 2 * ars, a3 = 3 * ars, a4 = 4 * ars, a5 = 5 * ars;
        int w = 3 * L;
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        FloatVector c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
        for (int p = 0; p < kc; p++) {
            int bp = bo + p * w, ap = ao + p * aps;
            FloatVector b0 = FloatVector.fromArray(S, b, bp), b1 = FloatVector.fromArray(S, b, bp + L),
                    b2 = FloatVector.fromArray(S, b, bp + 2 * L);
            FloatVector x = FloatVector.broadcast(S, a[ap]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(S, a[ap + a1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(S, a[ap + a2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(S, a[ap + a3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(S, a[ap + a4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(S, a[ap + a5]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            c52 = x.fma(b2, c52);
        }
        int o0 = co;
        int o1 = co + ldc;
        int o2 = co + 2 * ldc;
        int o3 = co + 3 * ldc;
        int o4 = co + 4 * ldc;
        int o5 = co + 5 * ldc;
        c00.add(FloatVector.fromArray(S, c, o0)).intoArray(c, o0);
        c01.add(FloatVector.fromArray(S, c, o0 + L)).intoArray(c, o0 + L);
        c02.add(FloatVector.fromArray(S, c, o0 + 2 * L)).intoArray(c, o0 + 2 * L);
        c10.add(FloatVector.fromArray(S, c, o1)).intoArray(c, o1);
        c11.add(FloatVector.fromArray(S, c, o1 + L)).intoArray(c, o1 + L);
        c12.add(FloatVector.fromArray(S, c, o1 + 2 * L)).intoArray(c, o1 + 2 * L);
        c20.add(FloatVector.fromArray(S, c, o2)).intoArray(c, o2);
        c21.add(FloatVector.fromArray(S, c, o2 + L)).intoArray(c, o2 + L);
        c22.add(FloatVector.fromArray(S, c, o2 + 2 * L)).intoArray(c, o2 + 2 * L);
        c30.add(FloatVector.fromArray(S, c, o3)).intoArray(c, o3);
        c31.add(FloatVector.fromArray(S, c, o3 + L)).intoArray(c, o3 + L);
        c32.add(FloatVector.fromArray(S, c, o3 + 2 * L)).intoArray(c, o3 + 2 * L);
        c40.add(FloatVector.fromArray(S, c, o4)).intoArray(c, o4);
        c41.add(FloatVector.fromArray(S, c, o4 + L)).intoArray(c, o4 + L);
        c42.add(FloatVector.fromArray(S, c, o4 + 2 * L)).intoArray(c, o4 + 2 * L);
        c50.add(FloatVector.fromArray(S, c, o5)).intoArray(c, o5);
        c51.add(FloatVector.fromArray(S, c, o5 + L)).intoArray(c, o5 + L);
        c52.add(FloatVector.fromArray(S, c, o5 + 2 * L)).intoArray(c, o5 + 2 * L);
    }

    // ---------------------------------------------------------------- buffers

    static float[] borrow(long size) {
        if (size > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("packed operand too large: " + size);
        float[] spare = SPARE.getAndSet(null);
        if (spare != null && spare.length >= size) return spare;
        if (spare != null) release(spare); // too small for this one, still right for the next smaller ones
        return new float[(int) size];
    }

    static void release(float[] buf) {
        if (buf.length > KEEP_LIMIT / 4) return;
        float[] old = SPARE.get();
        if (old == null || old.length < buf.length) SPARE.compareAndSet(old, buf);
    }

    static int roundUp(int v, int to) { return (v + to - 1) / to * to; }
}
