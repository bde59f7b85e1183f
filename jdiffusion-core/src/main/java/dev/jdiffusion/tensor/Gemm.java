package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Matrix multiply in the "NT" form that both linear layers and attention scores need:
 * C[i][j] = sum_k A[i][k] * B[j][k], where rows of A and of B are contiguous along k.
 * Large products run on the packed, register-blocked kernel of {@link PackedGemm}; small ones on
 * 4x4 blocks of dot products.
 */
public final class Gemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private Gemm() {}

    /**
     * C[cOff + i*ldc + j] (+)= sum_k A[aOff + i*lda + k] * B[bOff + j*ldb + k] for i < m, j < n.
     * When {@code accumulate} is false C is overwritten.
     */
    public static void nt(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                          float[] c, int cOff, int ldc, boolean accumulate) {
        if (m >= 2 * PackedGemm.MR && n >= PackedGemm.NR && (long) m * n * k >= (1L << 18)) {
            PackedGemm.multiply(m, n, k, PackedGemm.rows(a, aOff, lda, k), PackedGemm.floatRows(b, bOff, ldb, k),
                    c, cOff, ldc, null, accumulate);
            return;
        }
        ntBlocked(m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
    }

    /** {@link #nt} with 4×4 blocks of dot products, single-threaded: for small problems (and as the baseline). */
    static void ntBlocked(int m, int n, int k, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                          float[] c, int cOff, int ldc, boolean accumulate) {
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            int j = 0;
            for (; j + 4 <= n; j += 4) block4x4(k, a, aOff + i * lda, lda, b, bOff + j * ldb, ldb, c, cOff + i * ldc + j, ldc, accumulate);
            for (; j < n; j++)
                for (int ii = 0; ii < 4; ii++) store(c, cOff + (i + ii) * ldc + j, dot(k, a, aOff + (i + ii) * lda, b, bOff + j * ldb), accumulate);
        }
        for (; i < m; i++)
            for (int j = 0; j < n; j++) store(c, cOff + i * ldc + j, dot(k, a, aOff + i * lda, b, bOff + j * ldb), accumulate);
    }

    private static void store(float[] c, int idx, float v, boolean accumulate) {
        c[idx] = accumulate ? c[idx] + v : v;
    }

    /** Dot product of two contiguous runs of length k. */
    public static float dot(int k, float[] a, int aOff, float[] b, int bOff) {
        int step = S.length();
        FloatVector acc = FloatVector.zero(S);
        int p = 0;
        for (; p + step <= k; p += step)
            acc = FloatVector.fromArray(S, a, aOff + p).fma(FloatVector.fromArray(S, b, bOff + p), acc);
        float s = VMath.sumLanes(acc);
        for (; p < k; p++) s += a[aOff + p] * b[bOff + p];
        return s;
    }

    private static void block4x4(int k, float[] a, int a0, int lda, float[] b, int b0, int ldb,
                                 float[] c, int c0, int ldc, boolean accumulate) {
        int step = S.length();
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
        int b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        int p = 0;
        for (; p + step <= k; p += step) {
            FloatVector x0 = FloatVector.fromArray(S, a, a0 + p), x1 = FloatVector.fromArray(S, a, a1 + p);
            FloatVector x2 = FloatVector.fromArray(S, a, a2 + p), x3 = FloatVector.fromArray(S, a, a3 + p);
            FloatVector y = FloatVector.fromArray(S, b, b0 + p);
            c00 = x0.fma(y, c00); c10 = x1.fma(y, c10); c20 = x2.fma(y, c20); c30 = x3.fma(y, c30);
            y = FloatVector.fromArray(S, b, b1 + p);
            c01 = x0.fma(y, c01); c11 = x1.fma(y, c11); c21 = x2.fma(y, c21); c31 = x3.fma(y, c31);
            y = FloatVector.fromArray(S, b, b2 + p);
            c02 = x0.fma(y, c02); c12 = x1.fma(y, c12); c22 = x2.fma(y, c22); c32 = x3.fma(y, c32);
            y = FloatVector.fromArray(S, b, b3 + p);
            c03 = x0.fma(y, c03); c13 = x1.fma(y, c13); c23 = x2.fma(y, c23); c33 = x3.fma(y, c33);
        }
        float[] r = {
                VMath.sumLanes(c00), VMath.sumLanes(c01), VMath.sumLanes(c02), VMath.sumLanes(c03),
                VMath.sumLanes(c10), VMath.sumLanes(c11), VMath.sumLanes(c12), VMath.sumLanes(c13),
                VMath.sumLanes(c20), VMath.sumLanes(c21), VMath.sumLanes(c22), VMath.sumLanes(c23),
                VMath.sumLanes(c30), VMath.sumLanes(c31), VMath.sumLanes(c32), VMath.sumLanes(c33)};
        for (; p < k; p++) {
            for (int ii = 0; ii < 4; ii++) {
                float x = a[a0 + ii * lda + p];
                for (int jj = 0; jj < 4; jj++) r[ii * 4 + jj] += x * b[b0 + jj * ldb + p];
            }
        }
        for (int ii = 0; ii < 4; ii++)
            for (int jj = 0; jj < 4; jj++) store(c, c0 + ii * ldc + jj, r[ii * 4 + jj], accumulate);
    }

    /**
     * y = x · Wᵀ + bias over the last dimension of {@code x}: W is [out, in] as PyTorch stores Linear
     * weights; bias may be null. Runs on the packed kernel ({@link PackedGemm}) over all cores.
     */
    public static Tensor linear(Tensor x, WeightTensor w, WeightTensor bias) {
        return linear(x, w, bias, null);
    }

    /**
     * y = x · Wᵀ + bias + residual: the residual add fused into the matrix multiply (residual has the
     * output's shape and may be null; it is not modified).
     */
    public static Tensor linear(Tensor x, WeightTensor w, WeightTensor bias, Tensor residual) {
        Tensor y;
        if (!OpProfile.ON) {
            y = linearUnprofiled(x, w, bias, residual);
        } else {
            long t0 = System.nanoTime();
            y = linearUnprofiled(x, w, bias, residual);
            int m = x.size() / w.dim(1);
            OpProfile.add("linear m=" + m + " k=" + w.dim(1) + " n=" + w.dim(0) + (FewRowsGemm.suits(m, w.dim(0), w.dim(1)) ? " few-rows" : ""),
                    System.nanoTime() - t0, 2L * y.size() * w.dim(1));
        }
        Tensor[] inputs = {x, residual};
        Autograd.Recorder r = Autograd.needed(inputs, w, bias);
        if (r != null) r.record("linear", y, inputs, g -> linearBackward(g, x, w, bias));
        return y;
    }

    /**
     * The backward of {@link #linear(Tensor, WeightTensor, WeightTensor, Tensor)} (inputs: x, residual):
     * gx = g·W, gW += gᵀ·x, gbias += Σ rows of g, gresidual = g — the same packed kernel with transposed operands.
     */
    static void linearBackward(Autograd.Grads grads, Tensor x, WeightTensor w, WeightTensor bias) {
        int out = w.dim(0), in = w.dim(1), m = x.size() / in;
        float[] g = grads.output();
        FlopCounter.add(4L * m * out * in);
        if (grads.wants(0)) {
            float[] gx = new float[m * in];
            PackedGemm.multiply(m, in, out, PackedGemm.rows(g, 0, out, out), PackedGemm.weightColumns(w), gx, 0, in, null, false);
            grads.input(0, gx);
        }
        float[] gw = grads.weight(w);
        if (gw != null)
            PackedGemm.multiply(out, in, m, PackedGemm.transposedRows(g, 0, out, out, m), PackedGemm.floatColumns(x.data(), 0, in, m),
                    gw, 0, in, null, true);
        float[] gb = bias == null ? null : grads.weight(bias);
        if (gb != null) TensorOps.addColumnSums(g, m, out, gb);
        if (grads.wants(1)) grads.input(1, g);
    }

    private static Tensor linearUnprofiled(Tensor x, WeightTensor w, WeightTensor bias, Tensor residual) {
        int out = w.dim(0), in = w.dim(1);
        if (x.dim(-1) != in)
            throw new IllegalArgumentException(w.name() + ": input has " + x.dim(-1) + " features, weight expects " + in);
        int m = x.size() / in;
        FlopCounter.add(2L * m * out * in);
        float[] y;
        if (residual != null) {
            if (residual.size() != m * out)
                throw new IllegalArgumentException(w.name() + ": residual " + residual + " does not match output");
            y = Buffers.copyOf(residual.data());
        } else {
            y = Buffers.take(m * out);
        }
        PackedGemm.linear(m, x.data(), 0, w, bias == null ? null : bias.toFloatArray(), y, 0, residual != null);
        int[] shape = x.shape();
        shape[shape.length - 1] = out;
        return new Tensor(y, shape);
    }

    /** The previous linear layer (4×4 dot-product blocks over a whole fp32 copy of W): kept as a baseline. */
    static Tensor linearReference(Tensor x, WeightTensor w, WeightTensor bias) {
        int out = w.dim(0), in = w.dim(1);
        int m = x.size() / in;
        float[] wf = w.toFloatArray();
        float[] bf = bias == null ? null : bias.toFloatArray();
        float[] y = new float[m * out];
        float[] xs = x.data();
        Parallel.forRange(m, 16, (from, to) -> {
            ntBlocked(to - from, out, in, xs, from * in, in, wf, 0, in, y, from * out, out, false);
            if (bf != null) for (int i = from; i < to; i++) for (int j = 0; j < out; j++) y[i * out + j] += bf[j];
        });
        int[] shape = x.shape();
        shape[shape.length - 1] = out;
        return new Tensor(y, shape);
    }
}
