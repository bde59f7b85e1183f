package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * C = A · Wᵀ for few rows of A and a wide weight W ([n, k] in its file dtype): the UNet's low-resolution
 * layers (8×8 and 4×4 latents: 128 or 32 pixels against 1280×11520 weights), where packing W into
 * float32 panels every call — and streaming the packed copy, tens of MB, through the caches — costs as
 * much as the multiply.
 *
 * <p>Here the roles are swapped: Cᵀ = W · Aᵀ on the same micro-kernel, broadcasting weights and loading
 * vectors of 2·L rows of A. A (small) is packed once into panels of NR rows; W is only converted to
 * float32, MR rows × one k-block at a time into an L1 buffer, right before the kernel uses it — no
 * transpose, no big buffer. Cᵀ accumulates in a scratch that is transposed into C at the end.
 */
final class FewRowsGemm {
    private static final VectorSpecies<Float> S = PackedGemm.S;
    private static final int L = PackedGemm.L, NR = PackedGemm.NR, MR = PackedGemm.MR, KC = PackedGemm.KC;

    private FewRowsGemm() {}

    /** A's rows, packed as panels of NR rows with k in the weight's order. */
    interface Panels {
        /** dst[off + p·NR + ii] = A(i0 + ii, p) for p < k, ii < NR (zeros for rows ≥ m). */
        void pack(int i0, float[] dst, int off);
    }

    private static final boolean ENABLED = !Boolean.getBoolean("jdiffusion.fewRows.disable");

    /**
     * Whether this path beats packing the weight: few rows against many output columns, measured
     * (KernelBench lowres) to win for the UNet's 8×8 / 4×4 layers and the 3×3 convolutions up to 16×16
     * (long k), and to lose for 512-row linear layers (its final transpose of Cᵀ costs more there).
     */
    static boolean suits(int m, int n, int k) {
        return ENABLED && m > 4 && 2 * m <= n && (m <= 512 && k >= 4096 || 16 * m <= n);
    }

    /**
     * c[cOff + i·ldc + j] (+)= bias[j] + Σ_p A(i, p) · W[j, p] for i < m, j < n = w.dim(0), p < k, where
     * W is w seen as [n, k] rows (a linear weight, or a convolution weight [n, cin, kh, kw] flattened).
     */
    static void multiply(int m, int k, Panels a, WeightTensor w, float[] bias, float[] c, int cOff, int ldc,
                         boolean accumulate) {
        int n = w.dim(0);
        int aPanels = (m + NR - 1) / NR, mp = aPanels * NR, groups = (n + MR - 1) / MR;
        float[] ap = PackedGemm.borrow((long) mp * k);
        float[] ct = Buffers.take(Math.multiplyExact(groups * MR, mp));
        try {
            Parallel.forTasks(aPanels, pn -> a.pack(pn * NR, ap, pn * k * NR));
            // Tasks: runs of weight row groups; every task reads all of A (small), each weight once.
            int tasks = Math.min(groups, 4 * Parallel.threads());
            int[] kb = PackedGemm.uniformBlocks(k);
            Parallel.forTasks(tasks, t -> {
                float[] wb = PackedGemm.context().weightRows();
                int g0 = (int) ((long) groups * t / tasks), g1 = (int) ((long) groups * (t + 1) / tasks);
                for (int q = 0; q + 1 < kb.length; q++) {
                    int k0 = kb[q], kc = kb[q + 1] - k0;
                    for (int g = g0; g < g1; g++) {
                        int j = g * MR;
                        for (int r = 0; r < MR; r++)
                            w.copyTo((long) Math.min(j + r, n - 1) * k + k0, wb, r * KC, kc);
                        for (int pn = 0; pn < aPanels; pn++)
                            PackedGemm.kernel(kc, wb, 0, KC, 1, ap, pn * k * NR + k0 * NR, ct, j * mp + pn * NR, mp,
                                    q > 0, null, 0);
                    }
                }
            });
            // C = Ctᵀ (+ bias, + C), a block of rows per task; a row of C gathers a column of Ct.
            int rowTasks = Math.min(m, 4 * Parallel.threads());
            int[] stride = lanes(mp);
            Parallel.forTasks(rowTasks, t -> {
                int i0 = (int) ((long) m * t / rowTasks), i1 = (int) ((long) m * (t + 1) / rowTasks);
                for (int i = i0; i < i1; i++) {
                    int row = cOff + i * ldc, j = 0;
                    for (; j + L <= n; j += L) {
                        FloatVector v = FloatVector.fromArray(S, ct, j * mp + i, stride, 0);
                        if (bias != null) v = v.add(FloatVector.fromArray(S, bias, j));
                        if (accumulate) v = v.add(FloatVector.fromArray(S, c, row + j));
                        v.intoArray(c, row + j);
                    }
                    for (; j < n; j++) {
                        float v = ct[j * mp + i] + (bias == null ? 0f : bias[j]);
                        c[row + j] = accumulate ? c[row + j] + v : v;
                    }
                }
            });
        } finally {
            PackedGemm.release(ap);
            Buffers.recycle(ct);
        }
    }

    /** {0, step, 2·step, …}: lane l of a gather reads element l·step. */
    private static int[] lanes(int step) {
        int[] idx = new int[L];
        for (int l = 0; l < L; l++) idx[l] = l * step;
        return idx;
    }

    /** A = rows of a row-major matrix: row i is x[xOff + i·k …+k]. A panel column is two gathers. */
    static Panels rows(float[] x, int xOff, int m, int k) {
        return (i0, dst, off) -> {
            int[] src = new int[NR];
            long live = 0;
            for (int ii = 0; ii < NR && i0 + ii < m; ii++) {
                src[ii] = xOff + (i0 + ii) * k; // rows past m stay at 0: a valid index, masked off
                live |= 1L << ii;
            }
            for (int half = 0; half < NR / L; half++) {
                VectorMask<Float> mask = VectorMask.fromLong(S, live >>> (half * L));
                for (int p = 0; p < k; p++)
                    FloatVector.fromArray(S, x, p, src, half * L, mask).intoArray(dst, off + p * NR + half * L);
            }
        };
    }

    /**
     * A = the patches of a convolution over channels-last x (n, h, w, cin), row i = output pixel i, with k
     * in the weight's own order (c, ky, kx) so that weight rows are used as stored. For each tap, the
     * panel's NR source pixels are gathered (masked where they fall in the padding) channel by channel.
     */
    static Panels convPatches(float[] x, int n, int h, int w, int cin, int kh, int kw, int stride, int padding) {
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (w + 2 * padding - kw) / stride + 1;
        int taps = kh * kw, m = n * oh * ow;
        return (i0, dst, off) -> {
            int[] src = new int[NR];
            for (int t = 0; t < taps; t++) {
                long live = 0;
                for (int ii = 0; ii < NR; ii++) {
                    int i = i0 + ii;
                    src[ii] = 0;
                    if (i >= m) continue;
                    int b = i / (oh * ow), rem = i % (oh * ow), oy = rem / ow, ox = rem % ow;
                    int iy = oy * stride - padding + t / kw, ix = ox * stride - padding + t % kw;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                    src[ii] = ((b * h + iy) * w + ix) * cin;
                    live |= 1L << ii;
                }
                for (int half = 0; half < NR / L; half++) {
                    VectorMask<Float> mask = VectorMask.fromLong(S, live >>> (half * L));
                    for (int ch = 0; ch < cin; ch++)
                        FloatVector.fromArray(S, x, ch, src, half * L, mask).intoArray(dst, off + (ch * taps + t) * NR + half * L);
                }
            }
        };
    }
}
