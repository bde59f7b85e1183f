package dev.jdiffusion.tensor;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fused attention against a double-precision softmax(QKᵀ/√d)V: self- and cross-attention, lengths
 * that are not multiples of the query/key blocks, several key blocks (online softmax), head widths
 * 40/80/160 and odd ones, batch > 1, and large score ranges. Bound: max|err| ≤ 2e-6·sqrt(Lk·d)·max|ref|
 * plus for the softmax 1e-6 relative (float32 exp and sums).
 */
class AttentionTest {
    static double[] reference(Tensor q, Tensor k, Tensor v, int heads) {
        int n = q.dim(0), lq = q.dim(1), width = q.dim(2), lk = k.dim(1), d = width / heads;
        float[] qs = q.data(), ks = k.data(), vs = v.data();
        double[] out = new double[n * lq * width];
        double[] sc = new double[lk];
        for (int b = 0; b < n; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++) {
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < lk; j++) {
                        double s = 0;
                        for (int t = 0; t < d; t++)
                            s += (double) qs[(b * lq + i) * width + h * d + t] * ks[(b * lk + j) * width + h * d + t];
                        sc[j] = s / Math.sqrt(d);
                        mx = Math.max(mx, sc[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < lk; j++) { sc[j] = Math.exp(sc[j] - mx); sum += sc[j]; }
                    for (int t = 0; t < d; t++) {
                        double acc = 0;
                        for (int j = 0; j < lk; j++) acc += sc[j] * vs[(b * lk + j) * width + h * d + t];
                        out[(b * lq + i) * width + h * d + t] = acc / sum;
                    }
                }
        return out;
    }

    @Test
    void matchesReference() {
        Random r = new Random(9);
        // {n, lq, lk, heads, d, qScale}
        int[][] cases = {{1, 1, 1, 1, 8, 1}, {2, 7, 5, 2, 40, 1}, {2, 100, 77, 8, 40, 1}, {1, 300, 300, 2, 40, 1},
                {2, 64, 600, 2, 80, 1}, {1, 50, 257, 3, 160, 1}, {1, 13, 40, 1, 24, 1}, {1, 37, 513, 2, 17, 4},
                {2, 9, 77, 5, 64, 3}};
        for (int[] s : cases) {
            int width = s[3] * s[4];
            Tensor q = TestData.tensor(r, s[5], s[0], s[1], width);
            Tensor k = TestData.tensor(r, 1, s[0], s[2], width);
            Tensor v = TestData.tensor(r, 1, s[0], s[2], width);
            Tensor y = Attention.attend(q, k, v, s[3]);
            assertTrue(Arrays.equals(new int[]{s[0], s[1], width}, y.shape()));
            double[] ref = reference(q, k, v, s[3]);
            double maxRef = TestData.maxAbs(ref), err = TestData.maxErr(ref, y.data());
            double limit = 2e-6 * Math.sqrt((double) s[2] * s[4]) * maxRef;
            assertTrue(err <= limit, () -> String.format("attention %s: max error %.3g > %.3g (max|ref| %.4g)",
                    Arrays.toString(s), err, limit, maxRef));
        }
    }

    @Test
    void vectorExpIsAccurate() {
        Random r = new Random(1);
        float[] x = new float[4096];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextDouble() * 170 - 85);
        x[0] = 0; x[1] = -87f; x[2] = 88f; x[3] = -1e-8f;
        float[] y = new float[x.length];
        int step = VMath.S.length();
        for (int i = 0; i < x.length; i += step)
            VMath.exp(jdk.incubator.vector.FloatVector.fromArray(VMath.S, x, i)).intoArray(y, i);
        for (int i = 0; i < x.length; i++) {
            double ref = Math.exp(x[i]);
            assertTrue(Math.abs(y[i] - ref) <= 3e-7 * ref, "exp(" + x[i] + ") = " + y[i] + " vs " + ref);
            assertTrue(Math.abs(VMath.exp(x[i]) - ref) <= 3e-7 * ref, "scalar exp(" + x[i] + ")");
        }
        assertTrue(VMath.exp(-100f) == 0f && VMath.exp(Float.NEGATIVE_INFINITY) == 0f);
        float[] tiny = new float[step];
        java.util.Arrays.fill(tiny, -1000f);
        VMath.exp(jdk.incubator.vector.FloatVector.fromArray(VMath.S, tiny, 0)).intoArray(tiny, 0);
        assertTrue(tiny[0] >= 0 && tiny[0] < 2e-38f, "exp(-1000) = " + tiny[0]);
        float[] z = new float[x.length];
        for (int i = 0; i < x.length; i += step)
            VMath.expPoly(jdk.incubator.vector.FloatVector.fromArray(VMath.S, x, i)).intoArray(z, i);
        for (int i = 0; i < x.length; i++)
            assertTrue(Math.abs(z[i] - Math.exp(x[i])) <= 3e-7 * Math.exp(x[i]), "expPoly(" + x[i] + ")");
    }
}
