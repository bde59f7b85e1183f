package dev.jdiffusion.tensor;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packed GEMM (linear layers, {@link Gemm#nt}) against a double-precision reference on random
 * inputs. Bound: max|err| ≤ 1e-6 · sqrt(K) · max|ref| (float32 accumulation of K products; the
 * typical float32 error is about 6e-8 · sqrt(K) relative, so this is ~10× slack, while an indexing
 * mistake — a lost or doubled term — shows up at ≥ 1/sqrt(K) relative).
 */
class PackedGemmTest {
    static void assertClose(double[] ref, float[] got, int k, String what) {
        double maxRef = TestData.maxAbs(ref), err = TestData.maxErr(ref, got);
        double limit = 1e-6 * Math.sqrt(Math.max(k, 1)) * Math.max(maxRef, 1e-30);
        assertTrue(err <= limit, () -> String.format("%s: max error %.3g > %.3g (max|ref| %.4g)", what, err, limit, maxRef));
    }

    /** y = x·wᵀ + bias (+ residual) in double. */
    static double[] linearRef(float[] x, int m, WeightTensor w, WeightTensor bias, float[] residual) {
        int n = w.dim(0), k = w.dim(1);
        double[] y = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = bias == null ? 0 : bias.getFloat(j);
                for (int p = 0; p < k; p++) s += (double) x[i * k + p] * w.getFloat((long) j * k + p);
                if (residual != null) s += residual[i * n + j];
                y[i * n + j] = s;
            }
        return y;
    }

    @Test
    void linearMatchesReferenceForOddSizesAndAllWeightTypes() {
        Random r = new Random(42);
        int[][] sizes = {{1, 1, 1}, {5, 7, 3}, {6, 32, 256}, {7, 33, 385}, {13, 65, 1000}, {100, 70, 769},
                {2, 100, 50}, {4, 31, 17}, {37, 320, 64}, {250, 48, 300},
                // Through the dispatch into FewRowsGemm (see FewRowsGemmTest for the path itself).
                {5, 100, 7}, {12, 200, 5000}, {64, 1280, 40}};
        for (DType dt : new DType[]{DType.F32, DType.F16, DType.BF16}) {
            for (int[] s : sizes) {
                int m = s[0], n = s[1], k = s[2];
                Tensor x = TestData.tensor(r, 1, m, k);
                WeightTensor w = TestData.weight(r, dt, 0.1, n, k);
                WeightTensor b = s[0] % 2 == 0 ? null : TestData.weight(r, dt, 0.5, n);
                Tensor y = Gemm.linear(x, w, b);
                assertClose(linearRef(x.data(), m, w, b, null), y.data(), k, "linear " + dt + " m=" + m + " n=" + n + " k=" + k);
                Tensor res = TestData.tensor(r, 1, m, n);
                float[] before = res.data().clone();
                Tensor y2 = Gemm.linear(x, w, b, res);
                assertClose(linearRef(x.data(), m, w, b, res.data()), y2.data(), k, "linear+residual " + dt + " m=" + m);
                assertTrue(java.util.Arrays.equals(before, res.data()), "residual must not be modified");
            }
        }
    }

    @Test
    void weightsTooBigForTheReusableBufferRunInColumnSlices() {
        // 40 panels × 14000 × NR floats exceed PackedGemm.KEEP_LIMIT: the product runs in two column slices.
        Random r = new Random(9);
        int m = 13, n = 1280, k = 14000;
        assertTrue((long) ((n + PackedGemm.NR - 1) / PackedGemm.NR) * k * PackedGemm.NR * 4 > PackedGemm.KEEP_LIMIT);
        Tensor x = TestData.tensor(r, 1, m, k);
        WeightTensor w = TestData.weight(r, DType.F16, 0.01, n, k), b = TestData.weight(r, DType.F32, 0.5, n);
        Tensor res = TestData.tensor(r, 1, m, n);
        assertClose(linearRef(x.data(), m, w, b, res.data()), Gemm.linear(x, w, b, res).data(), k, "sliced linear");
    }

    @Test
    void linearKeepsLeadingDimensions() {
        Random r = new Random(7);
        Tensor x = TestData.tensor(r, 1, 2, 3, 5, 40);
        WeightTensor w = TestData.weight(r, DType.F16, 0.1, 24, 40);
        Tensor y = Gemm.linear(x, w, null);
        assertTrue(java.util.Arrays.equals(new int[]{2, 3, 5, 24}, y.shape()));
        assertClose(linearRef(x.data(), 30, w, null, null), y.data(), 40, "linear rank 4");
    }

    @Test
    void ntWithOffsetsStridesAndAccumulate() {
        Random r = new Random(3);
        int[][] sizes = {{3, 5, 7}, {12, 32, 16}, {50, 77, 40}, {64, 64, 200}, {121, 35, 390}};
        for (int[] s : sizes) {
            int m = s[0], n = s[1], k = s[2];
            int lda = k + 3, ldb = k + 5, ldc = n + 2, aOff = 4, bOff = 9, cOff = 1;
            float[] a = TestData.randn(r, aOff + m * lda, 1), b = TestData.randn(r, bOff + n * ldb, 1);
            for (boolean acc : new boolean[]{false, true}) {
                float[] c = TestData.randn(r, cOff + m * ldc + 3, 1);
                float[] c0 = c.clone();
                Gemm.nt(m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, acc);
                double[] ref = new double[c.length];
                float[] got = new float[c.length];
                for (int idx = 0; idx < c.length; idx++) { ref[idx] = c0[idx]; got[idx] = c[idx]; }
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double v = acc ? c0[cOff + i * ldc + j] : 0;
                        for (int p = 0; p < k; p++) v += (double) a[aOff + i * lda + p] * b[bOff + j * ldb + p];
                        ref[cOff + i * ldc + j] = v;
                    }
                // Elements outside the m×n window (padding of ldc, before cOff) must be untouched.
                assertClose(ref, got, k, "nt m=" + m + " n=" + n + " k=" + k + " acc=" + acc);
            }
        }
    }
}
