package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Multi-head scaled dot-product attention, softmax(Q Kᵀ / sqrt(d)) V, on (N, L, heads·d) tensors.
 *
 * <p>Fused, flash-style: per (batch, head, block of queries) the keys are visited a block at a time
 * with an online softmax (running row max and sum, rescaling the output accumulators), so the
 * scores exist only for 6 query rows × one key block at once, never L×L. Q·Kᵀ and P·V both run on
 * the register-blocked micro-kernels of {@link PackedGemm}: K of the head is packed into panels of
 * keys, V into panels of 2–3 vectors of features, Q (pre-scaled) and P interleaved per 6 rows.
 * Float32 throughout, as PyTorch's attention.
 */
public final class Attention {
    private static final int QUERY_BLOCK = 32;
    private static final VectorSpecies<Float> S = PackedGemm.S;
    private static final int L = PackedGemm.L, MR = PackedGemm.MR, NR = PackedGemm.NR;
    /** Keys per block (a multiple of NR): the block's K and V panels stay in L2 across query rows. */
    private static final int KEY_BLOCK = 256;
    /** Query rows per block (a multiple of MR). */
    private static final int Q_ROWS = 96;
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Attention() {}

    private static final class Scratch {
        float[] kpack = new float[0], vpack = new float[0], qpack = new float[0], o = new float[0];
        float[] s = new float[MR * KEY_BLOCK];
        float[] m = new float[Q_ROWS], l = new float[Q_ROWS];

        void ensure(int kSize, int vSize, int qSize, int oSize) {
            if (kpack.length < kSize) kpack = new float[kSize];
            if (vpack.length < vSize) vpack = new float[vSize];
            if (qpack.length < qSize) qpack = new float[qSize];
            if (o.length < oSize) o = new float[oSize];
        }
    }

    /**
     * As {@link #attend(Tensor, Tensor, Tensor, int)}; with {@code causal} query i sees keys 0..i only
     * (CLIP's text encoder, 77 tokens: the simple blocked kernel serves it).
     */
    public static Tensor attend(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        // Q·Kᵀ and P·V: 2 multiply-adds per (query, key, feature).
        FlopCounter.add(4L * q.dim(0) * q.dim(1) * k.dim(1) * q.dim(2));
        Tensor out = causal ? attendReference(q, k, v, heads, true) : attendFused(q, k, v, heads);
        Tensor[] inputs = {q, k, v};
        Autograd.Recorder r = Autograd.needed(inputs);
        if (r != null) r.record(causal ? "causal attention" : "attention", out, inputs, g -> backward(g, q, k, v, heads, causal));
        return out;
    }

    /** Query rows per block of the backward pass: scores exist for this many rows × all keys at once. */
    private static final int BACKWARD_ROWS = 128;

    /**
     * The backward of attention, recomputing the scores instead of storing them (flash-attention's
     * backward): per batch, head and block of query rows, S = Q·Kᵀ/√d (masked when causal), P = softmax(S),
     * dP = dO·Vᵀ, dS = P∘(dP − rowsum(P∘dP))/√d, then dQ = dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO, all on the
     * packed kernel with transposed operands. (Batch, head) pairs run in parallel, each on one thread; with
     * fewer pairs than threads the pairs run in turn and each product uses all threads.
     */
    static void backward(Autograd.Grads grads, Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
        int n = q.dim(0), lq = q.dim(1), width = q.dim(2), lk = k.dim(1), d = width / heads;
        float scale = (float) (1.0 / Math.sqrt(d));
        float[] qs = q.data(), ks = k.data(), vs = v.data(), go = grads.output();
        float[] dq = new float[qs.length], dk = new float[ks.length], dv = new float[vs.length];
        FlopCounter.add(8L * n * lq * lk * width);
        int rowsMax = Math.min(lq, BACKWARD_ROWS), pairs = n * heads;
        boolean perPair = pairs >= Parallel.threads();
        boolean wq = grads.wants(0), wk = grads.wants(1), wv = grads.wants(2);
        java.util.function.IntConsumer pair = task -> {
            int b = task / heads, h = task % heads, kOff = b * lk * width + h * d;
            boolean inner = !perPair;
            float[] p = new float[rowsMax * lk], dp = new float[rowsMax * lk];
            for (int i0 = 0; i0 < lq; i0 += rowsMax) {
                int rows = Math.min(rowsMax, lq - i0), qOff = (b * lq + i0) * width + h * d;
                PackedGemm.multiply(rows, lk, d, PackedGemm.rows(qs, qOff, width, d), PackedGemm.floatRows(ks, kOff, width, d),
                        p, 0, lk, null, false, inner);
                PackedGemm.multiply(rows, lk, d, PackedGemm.rows(go, qOff, width, d), PackedGemm.floatRows(vs, kOff, width, d),
                        dp, 0, lk, null, false, inner);
                for (int r = 0; r < rows; r++)
                    softmaxBackwardRow(p, dp, r * lk, causal ? Math.min(lk, i0 + r + 1) : lk, lk, scale);
                if (wq)
                    PackedGemm.multiply(rows, d, lk, PackedGemm.rows(dp, 0, lk, lk), PackedGemm.floatColumns(ks, kOff, width, lk),
                            dq, qOff, width, null, false, inner);
                if (wk)
                    PackedGemm.multiply(lk, d, rows, PackedGemm.transposedRows(dp, 0, lk, lk, rows),
                            PackedGemm.floatColumns(qs, qOff, width, rows), dk, kOff, width, null, true, inner);
                if (wv)
                    PackedGemm.multiply(lk, d, rows, PackedGemm.transposedRows(p, 0, lk, lk, rows),
                            PackedGemm.floatColumns(go, qOff, width, rows), dv, kOff, width, null, true, inner);
            }
        };
        if (perPair) Parallel.forTasks(pairs, pair);
        else for (int t = 0; t < pairs; t++) pair.accept(t);
        if (grads.wants(0)) grads.input(0, dq);
        if (grads.wants(1)) grads.input(1, dk);
        if (grads.wants(2)) grads.input(2, dv);
    }

    public static Tensor attend(Tensor q, Tensor k, Tensor v, int heads) {
        if (!OpProfile.ON) return attend(q, k, v, heads, false);
        long t0 = System.nanoTime();
        Tensor y = attend(q, k, v, heads, false);
        OpProfile.add("attention n=" + q.dim(0) + " lq=" + q.dim(1) + " lk=" + k.dim(1) + " width=" + q.dim(2) + " heads=" + heads,
                System.nanoTime() - t0, 4L * q.dim(0) * q.dim(1) * k.dim(1) * q.dim(2));
        return y;
    }

    private static Tensor attendFused(Tensor q, Tensor k, Tensor v, int heads) {
        int n = q.dim(0), lq = q.dim(1), width = q.dim(2), lk = k.dim(1);
        if (width % heads != 0) throw new IllegalArgumentException(width + " features do not split into " + heads + " heads");
        if (k.dim(0) != n || v.dim(0) != n || k.dim(2) != width || v.dim(2) != width || v.dim(1) != lk)
            throw new IllegalArgumentException("attention shapes: q " + q + ", k " + k + ", v " + v);
        int d = width / heads;
        float scale = (float) (1.0 / Math.sqrt(d));
        float[] qs = q.data(), ks = k.data(), vs = v.data(), out = Buffers.take(n * lq * width);
        if (lk == 0 || lq == 0) return new Tensor(out, n, lq, width);
        // V panels: widths of 3 or 2 vectors covering d rounded up to whole vectors.
        int units = Math.max(2, (d + L - 1) / L);
        int[] panelStart = new int[units], panelWidth = new int[units];
        int panels = 0, col = 0;
        while (units > 0) {
            int u = (units > 4 || units == 3) ? 3 : 2;
            panelStart[panels] = col;
            panelWidth[panels++] = u * L;
            col += u * L;
            units -= u;
        }
        int dpad = col, np = panels;
        int keyPanels = (lk + NR - 1) / NR;
        int groupsTotal = (lq + MR - 1) / MR;
        int threads = Parallel.threads();
        int qChunks = Math.max(1, Math.min((4 * threads + n * heads - 1) / (n * heads), (lq + 47) / 48));
        int groupsPerChunk = (groupsTotal + qChunks - 1) / qChunks;
        int chunks = (groupsTotal + groupsPerChunk - 1) / groupsPerChunk;
        double flops = 4.0 * n * heads * lq * lk * d;
        int tasks = n * heads * chunks;
        IntTask body = task -> {
            Scratch sc = SCRATCH.get();
            int b = task / (heads * chunks), h = (task / chunks) % heads, qc = task % chunks;
            int qGroups = Q_ROWS / MR;
            sc.ensure(keyPanels * NR * d, lk * dpad, qGroups * MR * d, Q_ROWS * dpad);
            packKeys(ks, b, h, lk, width, d, sc.kpack);
            packValues(vs, b, h, lk, width, d, sc.vpack, panelStart, panelWidth, np);
            int g0 = qc * groupsPerChunk, g1 = Math.min(groupsTotal, g0 + groupsPerChunk);
            for (int gb = g0; gb < g1; gb += qGroups) {
                int gEnd = Math.min(g1, gb + qGroups);
                attendBlock(qs, out, b, h, lq, lk, width, d, scale, gb, gEnd, sc, panelStart, panelWidth, np, dpad);
            }
        };
        if (flops < 4e6) for (int t = 0; t < tasks; t++) body.run(t);
        else Parallel.forTasks(tasks, body::run);
        return new Tensor(out, n, lq, width);
    }

    private interface IntTask { void run(int t); }

    /** kpack[panel][t][jj] = K[b, panel*NR + jj, h*d + t] (zeros past lk). */
    private static void packKeys(float[] ks, int b, int h, int lk, int width, int d, float[] kpack) {
        int panels = (lk + NR - 1) / NR;
        for (int pn = 0; pn < panels; pn++) {
            int base = pn * NR * d;
            for (int jj = 0; jj < NR; jj++) {
                int j = pn * NR + jj;
                if (j < lk) {
                    int src = (b * lk + j) * width + h * d;
                    for (int t = 0; t < d; t++) kpack[base + t * NR + jj] = ks[src + t];
                } else {
                    for (int t = 0; t < d; t++) kpack[base + t * NR + jj] = 0f;
                }
            }
        }
    }

    /** Panel p of V: vpack[lk*start_p + j*width_p + jj] = V[b, j, h*d + start_p + jj] (zeros past d). */
    private static void packValues(float[] vs, int b, int h, int lk, int width, int d, float[] vpack,
                                   int[] panelStart, int[] panelWidth, int np) {
        for (int pn = 0; pn < np; pn++) {
            int s0 = panelStart[pn], w = panelWidth[pn], base = lk * s0;
            int valid = Math.max(0, Math.min(w, d - s0));
            for (int j = 0; j < lk; j++) {
                int src = (b * lk + j) * width + h * d + s0, dst = base + j * w;
                System.arraycopy(vs, src, vpack, dst, valid);
                for (int jj = valid; jj < w; jj++) vpack[dst + jj] = 0f;
            }
        }
    }

    /** Row groups [g0, g1) (MR query rows each) of head h in batch b, against all keys. */
    private static void attendBlock(float[] qs, float[] out, int b, int h, int lq, int lk, int width, int d,
                                    float scale, int g0, int g1, Scratch sc, int[] panelStart, int[] panelWidth,
                                    int np, int dpad) {
        int groups = g1 - g0;
        float[] qp = sc.qpack, o = sc.o, m = sc.m, l = sc.l, sb = sc.s;
        // Q rows, scaled, interleaved per group: qp[g*d*MR + t*MR + r].
        for (int g = 0; g < groups; g++) {
            for (int r = 0; r < MR; r++) {
                int i = Math.min((g0 + g) * MR + r, lq - 1);
                int src = (b * lq + i) * width + h * d, dst = g * d * MR + r;
                for (int t = 0; t < d; t++) qp[dst + t * MR] = qs[src + t] * scale;
            }
        }
        java.util.Arrays.fill(o, 0, groups * MR * dpad, 0f);
        java.util.Arrays.fill(m, 0, groups * MR, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(l, 0, groups * MR, 0f);
        for (int k0 = 0; k0 < lk; k0 += KEY_BLOCK) {
            int nk = Math.min(KEY_BLOCK, lk - k0);
            int kPanels = (nk + NR - 1) / NR;
            for (int g = 0; g < groups; g++) {
                // Scores of MR rows × nk keys: sb[r*KEY_BLOCK + j].
                for (int pn = 0; pn < kPanels; pn++)
                    PackedGemm.kernel(d, qp, g * d * MR, sc.kpack, (k0 / NR + pn) * NR * d, sb, pn * NR, KEY_BLOCK,
                            false, null, 0);
                int ob = g * MR * dpad;
                for (int r = 0; r < MR; r++) {
                    int row = g * MR + r, so = r * KEY_BLOCK;
                    float mx = rowMax(sb, so, nk);
                    float mNew = Math.max(m[row], mx);
                    float alpha = VMath.exp(m[row] - mNew); // 0 on the first block (m = -inf)
                    float sum = expInPlace(sb, so, nk, mNew);
                    l[row] = l[row] * alpha + sum;
                    m[row] = mNew;
                    if (alpha != 1f) {
                        int orow = ob + r * dpad;
                        for (int t = 0; t < dpad; t += L)
                            FloatVector.fromArray(S, o, orow + t).mul(alpha).intoArray(o, orow + t);
                    }
                }
                // O += P · V over this key block, P read in place (rows of sb).
                for (int pn = 0; pn < np; pn++) {
                    int w = panelWidth[pn], vOff = lk * panelStart[pn] + k0 * w, co = ob + panelStart[pn];
                    if (w == 3 * L) PackedGemm.kernel3(nk, sb, 0, KEY_BLOCK, 1, sc.vpack, vOff, o, co, dpad);
                    else PackedGemm.kernel(nk, sb, 0, KEY_BLOCK, 1, sc.vpack, vOff, o, co, dpad, true, null, 0);
                }
            }
        }
        for (int g = 0; g < groups; g++)
            for (int r = 0; r < MR; r++) {
                int i = (g0 + g) * MR + r;
                if (i >= lq) break;
                int row = g * MR + r;
                float inv = 1f / l[row];
                int dst = (b * lq + i) * width + h * d, src = row * dpad;
                for (int t = 0; t < d; t++) out[dst + t] = o[src + t] * inv;
            }
    }

    /**
     * One row of the backward softmax, in place: scores s (raw Q·K) → P = softmax(s·scale) over the first
     * {@code visible} keys (0 after), and dP → dS = P∘(dP − Σ P∘dP)·scale.
     */
    private static void softmaxBackwardRow(float[] p, float[] dp, int off, int visible, int lk, float scale) {
        float max = Float.NEGATIVE_INFINITY;
        int j = 0;
        FloatVector mv = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        for (; j + L <= visible; j += L) mv = mv.max(FloatVector.fromArray(S, p, off + j));
        max = mv.reduceLanes(VectorOperators.MAX);
        for (; j < visible; j++) max = Math.max(max, p[off + j]);
        max *= scale;
        FloatVector acc = FloatVector.zero(S);
        for (j = 0; j + L <= visible; j += L) {
            FloatVector e = VMath.exp(FloatVector.fromArray(S, p, off + j).mul(scale).sub(max));
            e.intoArray(p, off + j);
            acc = acc.add(e);
        }
        float sum = VMath.sumLanes(acc);
        for (; j < visible; j++) sum += p[off + j] = VMath.exp(p[off + j] * scale - max);
        float inv = 1f / sum;
        FloatVector dot = FloatVector.zero(S);
        for (j = 0; j + L <= visible; j += L) {
            FloatVector pv = FloatVector.fromArray(S, p, off + j).mul(inv);
            pv.intoArray(p, off + j);
            dot = pv.fma(FloatVector.fromArray(S, dp, off + j), dot);
        }
        float fdot = VMath.sumLanes(dot);
        for (; j < visible; j++) fdot += (p[off + j] *= inv) * dp[off + j];
        for (j = visible; j < lk; j++) p[off + j] = 0f;
        for (j = 0; j + L <= lk; j += L) {
            FloatVector pv = FloatVector.fromArray(S, p, off + j);
            pv.mul(FloatVector.fromArray(S, dp, off + j).sub(fdot)).mul(scale).intoArray(dp, off + j);
        }
        for (; j < lk; j++) dp[off + j] = p[off + j] * (dp[off + j] - fdot) * scale;
    }

    /** Four independent accumulators: one chain of max operations would wait on its latency. */
    private static float rowMax(float[] a, int off, int len) {
        int j = 0;
        float mx = Float.NEGATIVE_INFINITY;
        if (len >= 4 * L) {
            FloatVector m0 = FloatVector.fromArray(S, a, off), m1 = FloatVector.fromArray(S, a, off + L),
                    m2 = FloatVector.fromArray(S, a, off + 2 * L), m3 = FloatVector.fromArray(S, a, off + 3 * L);
            for (j = 4 * L; j + 4 * L <= len; j += 4 * L) {
                m0 = m0.max(FloatVector.fromArray(S, a, off + j));
                m1 = m1.max(FloatVector.fromArray(S, a, off + j + L));
                m2 = m2.max(FloatVector.fromArray(S, a, off + j + 2 * L));
                m3 = m3.max(FloatVector.fromArray(S, a, off + j + 3 * L));
            }
            mx = m0.max(m1).max(m2.max(m3)).reduceLanes(VectorOperators.MAX);
        }
        for (; j < len; j++) mx = Math.max(mx, a[off + j]);
        return mx;
    }

    /** a[off+j] = exp(a[off+j] - max) for j < len; returns the sum (two accumulators, combined in a fixed order). */
    private static float expInPlace(float[] a, int off, int len, float max) {
        int j = 0;
        FloatVector acc0 = FloatVector.zero(S), acc1 = acc0;
        for (; j + 2 * L <= len; j += 2 * L) {
            FloatVector e0 = VMath.exp(FloatVector.fromArray(S, a, off + j).sub(max));
            FloatVector e1 = VMath.exp(FloatVector.fromArray(S, a, off + j + L).sub(max));
            e0.intoArray(a, off + j);
            e1.intoArray(a, off + j + L);
            acc0 = acc0.add(e0);
            acc1 = acc1.add(e1);
        }
        for (; j + L <= len; j += L) {
            FloatVector e = VMath.exp(FloatVector.fromArray(S, a, off + j).sub(max));
            e.intoArray(a, off + j);
            acc0 = acc0.add(e);
        }
        float sum = VMath.sumLanes(acc0.add(acc1));
        for (; j < len; j++) {
            float e = VMath.exp(a[off + j] - max);
            a[off + j] = e;
            sum += e;
        }
        return sum;
    }

    /**
     * The previous implementation (scores of 32 query rows at a time, scalar P·V): a baseline for the
     * benchmarks, and the causal path.
     */
    static Tensor attendReference(Tensor q, Tensor k, Tensor v, int heads, boolean causal) {
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
                    int visible = causal ? Math.min(lk, i0 + r + 1) : lk;
                    for (int j = visible; j < lk; j++) scores[so + j] = Float.NEGATIVE_INFINITY;
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
