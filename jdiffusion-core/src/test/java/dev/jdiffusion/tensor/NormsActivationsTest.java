package dev.jdiffusion.tensor;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Vectorised group norm (+SiLU), layer norm, SiLU/GELU maps and GEGLU against double-precision
 * references. Bounds: max|err| ≤ 2e-6 · max|ref| (one float32 normalisation or activation per
 * element; channel counts with vector tails, group sizes that straddle vectors, a large mean offset).
 */
class NormsActivationsTest {
    static void assertClose(double[] ref, float[] got, double tol, String what) {
        double maxRef = TestData.maxAbs(ref), err = TestData.maxErr(ref, got);
        assertTrue(err <= tol * maxRef, () -> String.format("%s: max error %.3g > %.3g x max|ref| %.4g", what, err, tol, maxRef));
    }

    static double silu(double v) { return v / (1 + Math.exp(-v)); }

    static double gelu(double v) { return 0.5 * v * (1 + erf(v / Math.sqrt(2))); }

    /** erf to ~1e-15 (Taylor series for small |x|, continued fraction otherwise is overkill here: use series to 6). */
    static double erf(double x) {
        double ax = Math.abs(x);
        if (ax > 6) return Math.signum(x);
        double sum = 0, term = ax;
        for (int k = 0; k < 200; k++) {
            sum += term / (2 * k + 1);
            term *= -ax * ax / (k + 1);
            if (Math.abs(term) < 1e-17 * Math.abs(sum) && k > 5) break;
        }
        // The alternating series loses precision for large |x|; use erfc's continued fraction there.
        if (ax > 2.5) {
            double cf = 0;
            for (int k = 60; k >= 1; k--) cf = k / 2.0 / (ax + cf);
            return Math.signum(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + cf));
        }
        return Math.signum(x) * 2 / Math.sqrt(Math.PI) * sum;
    }

    @Test
    void groupNormMatchesReference() {
        Random r = new Random(21);
        // {n, h, w, c, groups, offset}
        int[][] cases = {{2, 5, 7, 36, 4, 0}, {1, 8, 8, 320, 32, 0}, {2, 3, 3, 40, 8, 0}, {1, 9, 11, 128, 32, 50}, {1, 1, 1, 16, 2, 0}, {2, 4, 4, 70, 7, 0}};
        for (int[] s : cases) {
            for (boolean silu : new boolean[]{false, true}) {
                int n = s[0], px = s[1] * s[2], c = s[3], groups = s[4], cg = c / groups;
                Tensor x = TestData.tensor(r, 2, n, s[1], s[2], c);
                for (int i = 0; i < x.size(); i++) x.data()[i] += s[5];
                WeightTensor g = TestData.weight(r, DType.F32, 1, c), b = TestData.weight(r, DType.F16, 1, c);
                Tensor y = Norms.groupNorm(x, groups, g, b, 1e-5, silu);
                double[] ref = new double[x.size()];
                float[] xs = x.data();
                for (int bi = 0; bi < n; bi++)
                    for (int gi = 0; gi < groups; gi++) {
                        double sum = 0, sq = 0;
                        for (int p = 0; p < px; p++) for (int j = 0; j < cg; j++) sum += xs[(bi * px + p) * c + gi * cg + j];
                        double mean = sum / (px * cg);
                        for (int p = 0; p < px; p++) for (int j = 0; j < cg; j++) { double d = xs[(bi * px + p) * c + gi * cg + j] - mean; sq += d * d; }
                        double rstd = 1 / Math.sqrt(sq / (px * cg) + 1e-5);
                        for (int p = 0; p < px; p++)
                            for (int j = 0; j < cg; j++) {
                                int idx = (bi * px + p) * c + gi * cg + j, ch = gi * cg + j;
                                double v = (xs[idx] - mean) * rstd * g.getFloat(ch) + b.getFloat(ch);
                                ref[idx] = silu ? silu(v) : v;
                            }
                    }
                assertClose(ref, y.data(), 2e-6, "groupNorm " + java.util.Arrays.toString(s) + " silu=" + silu);
            }
        }
    }

    @Test
    void layerNormMatchesReference() {
        Random r = new Random(22);
        int rows = 37, d = 77;
        Tensor x = TestData.tensor(r, 3, 1, rows, d);
        WeightTensor g = TestData.weight(r, DType.F32, 1, d), b = TestData.weight(r, DType.F32, 1, d);
        Tensor y = Norms.layerNorm(x, g, b, 1e-5);
        double[] ref = new double[x.size()];
        for (int i = 0; i < rows; i++) {
            double s = 0, sq = 0;
            for (int j = 0; j < d; j++) s += x.data()[i * d + j];
            double mean = s / d;
            for (int j = 0; j < d; j++) { double t = x.data()[i * d + j] - mean; sq += t * t; }
            double rstd = 1 / Math.sqrt(sq / d + 1e-5);
            for (int j = 0; j < d; j++) ref[i * d + j] = (x.data()[i * d + j] - mean) * rstd * g.getFloat(j) + b.getFloat(j);
        }
        assertClose(ref, y.data(), 2e-6, "layerNorm");
    }

    @Test
    void activationsMatchReference() {
        Random r = new Random(23);
        Tensor x = TestData.tensor(r, 4, 3, 1001);
        x.data()[0] = 0; x.data()[1] = -30; x.data()[2] = 30; x.data()[3] = -1e-3f;
        float[] xs = x.data();
        double[] rs = new double[xs.length], rg = new double[xs.length];
        for (int i = 0; i < xs.length; i++) { rs[i] = silu(xs[i]); rg[i] = gelu(xs[i]); }
        assertClose(rs, Activations.map(x, Activations.Kind.SILU).data(), 2e-6, "silu");
        assertClose(rg, Activations.map(x, Activations.Kind.GELU).data(), 2e-6, "gelu");
        // Element-wise too, relative to each |x| (GELU's small values matter before the next layer).
        float[] g = Activations.map(x, Activations.Kind.GELU).data();
        for (int i = 0; i < xs.length; i++)
            assertTrue(Math.abs(g[i] - rg[i]) <= 1e-6 * Math.max(Math.abs(xs[i]), 1e-3), "gelu(" + xs[i] + ")");
        int d = 45;
        Tensor h = TestData.tensor(r, 3, 2, 7, 2 * d);
        Tensor y = Activations.geglu(h);
        double[] ref = new double[2 * 7 * d];
        for (int row = 0; row < 14; row++)
            for (int j = 0; j < d; j++) ref[row * d + j] = h.data()[row * 2 * d + j] * gelu(h.data()[row * 2 * d + d + j]);
        assertClose(ref, y.data(), 2e-6, "geglu");
    }
}
