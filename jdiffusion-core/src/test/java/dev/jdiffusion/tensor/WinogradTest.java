package dev.jdiffusion.tensor;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Winograd F(4×4, 3×3) against the double-precision direct convolution of {@link Conv2dTest}: sizes
 * that are not multiples of the 4×4 tile (partial tiles on the right and bottom), tiny images (every
 * tile a border tile), batches, channel counts of one and several vectors and panels, partial panels,
 * F32/F16/BF16 weights, bias and residual. Bound: max|err| ≤ 1e-5 · sqrt(K) · max|ref|, ten times
 * the direct convolution's bound: the transforms grow float32 rounding error by about that much,
 * while a wrong transform coefficient or index is off by ≥ 1e-2 relative.
 */
class WinogradTest {
    static void assertClose(double[] ref, float[] got, int k, String what) {
        double maxRef = TestData.maxAbs(ref), err = TestData.maxErr(ref, got);
        double limit = 1e-5 * Math.sqrt(k) * maxRef;
        assertTrue(err <= limit, () -> String.format("%s: max error %.3g > %.3g (max|ref| %.4g)", what, err, limit, maxRef));
    }

    @Test
    void matchesDirectConvolution() {
        Random r = new Random(23);
        int l = PackedGemm.L;
        // {n, h, w, cin, cout}
        int[][] cases = {{1, 4, 4, l, l}, {1, 1, 1, l, 2 * l}, {2, 5, 7, l, 3 * l}, {1, 9, 13, 2 * l, l},
                {3, 8, 8, 2 * l, 2 * l}, {1, 17, 6, 3 * l, 5 * l}, {2, 12, 16, 4 * l, 4 * l}, {1, 30, 22, l, 2 * l}};
        DType[] types = {DType.F32, DType.F16, DType.BF16};
        int ci = 0;
        for (int[] s : cases) {
            DType dt = types[ci++ % 3];
            Tensor x = TestData.tensor(r, 1, s[0], s[1], s[2], s[3]);
            WeightTensor w = TestData.weight(r, dt, 0.2, s[4], s[3], 3, 3);
            WeightTensor b = ci % 2 == 0 ? null : TestData.weight(r, dt, 0.5, s[4]);
            float[] bias = b == null ? null : b.toFloatArray();
            String what = "winograd " + Arrays.toString(s) + " " + dt;
            float[] out = new float[s[0] * s[1] * s[2] * s[4]];
            Winograd.conv3x3(x.data(), s[0], s[1], s[2], s[3], w, bias, out, false);
            assertClose(Conv2dTest.convRef(x, w, b, 1, 1, null), out, 9 * s[3], what);
            float[] res = TestData.randn(r, out.length, 1);
            float[] acc = res.clone();
            Winograd.conv3x3(x.data(), s[0], s[1], s[2], s[3], w, bias, acc, true);
            assertClose(Conv2dTest.convRef(x, w, b, 1, 1, res), acc, 9 * s[3], what + " + residual");
        }
    }

    @Test
    void upsampledInputIsReadInPlace() {
        Random r = new Random(31);
        int l = PackedGemm.L;
        for (int[] s : new int[][]{{1, 3, 5, l, 2 * l}, {2, 7, 6, 2 * l, l}, {1, 16, 12, l, 3 * l}}) {
            Tensor x = TestData.tensor(r, 1, s[0], s[1], s[2], s[3]);
            WeightTensor w = TestData.weight(r, DType.F16, 0.2, s[4], s[3], 3, 3), b = TestData.weight(r, DType.F32, 0.5, s[4]);
            float[] out = new float[s[0] * 4 * s[1] * s[2] * s[4]];
            Winograd.conv3x3(x.data(), s[0], 2 * s[1], 2 * s[2], s[3], true, null, w, b.toFloatArray(), out, false);
            Tensor up = TensorOps.upsampleNearest2x(x);
            assertClose(Conv2dTest.convRef(up, w, b, 1, 1, null), out, 9 * s[3], "upsampled " + Arrays.toString(s));
        }
        // Through Conv2d, on both of its paths (Winograd for enough tiles, upsample + implicit GEMM below).
        for (int hw : new int[]{3, 24}) {
            Tensor x = TestData.tensor(r, 1, 2, hw, hw, 2 * l);
            WeightTensor w = TestData.weight(r, DType.BF16, 0.1, l, 2 * l, 3, 3), b = TestData.weight(r, DType.F32, 0.5, l);
            Tensor y = Conv2d.forwardUpsampled2x(x, w, b);
            assertClose(Conv2dTest.convRef(TensorOps.upsampleNearest2x(x), w, b, 1, 1, null), y.data(), 18 * l, "conv2d upsampled " + hw);
        }
    }

    @Test
    void normalizedInputIsAppliedAsTilesLoadGivingTheSameBits() {
        // GroupNorm + SiLU applied inside the input transform must equal normalizing first, bit for bit
        // (same operations, same order), on both Conv2d paths; padding stays zero, not normalized zero.
        Random r = new Random(41);
        int l = PackedGemm.L;
        for (int hw : new int[]{3, 20}) {
            Tensor x = TestData.tensor(r, 2, 2, hw, hw + 1, 2 * l);
            for (int i = 0; i < x.size(); i++) x.data()[i] += 0.7f; // a mean away from zero
            WeightTensor gamma = TestData.weight(r, DType.F32, 1, 2 * l), beta = TestData.weight(r, DType.F32, 0.5, 2 * l);
            WeightTensor w = TestData.weight(r, DType.F16, 0.1, 3 * l, 2 * l, 3, 3), b = TestData.weight(r, DType.F32, 0.5, 3 * l);
            Norms.Normalized lazy = Norms.groupNormLazy(x, 4, gamma, beta, 1e-6, true);
            Tensor res = TestData.tensor(r, 1, 2, hw, hw + 1, 3 * l);
            float[] fusedOut = res.data().clone();
            if (Winograd.applies(2, hw, hw + 1, 2 * l, 3 * l, 3, 3, 1, 1))
                Winograd.conv3x3(x.data(), 2, hw, hw + 1, 2 * l, false, lazy, w, b.toFloatArray(), fusedOut, true);
            Tensor fused = Winograd.applies(2, hw, hw + 1, 2 * l, 3 * l, 3, 3, 1, 1)
                    ? new Tensor(fusedOut, res.shape()) : Conv2d.forward(lazy, w, b, 1, 1, res);
            Tensor plain = Conv2d.forward(Norms.groupNorm(x, 4, gamma, beta, 1e-6, true), w, b, 1, 1, res);
            assertTrue(Arrays.equals(plain.data(), fused.data()), "fused normalization differs at " + hw + "x" + (hw + 1));
        }
        assertTrue(Winograd.applies(2, 20, 21, 2 * l, 3 * l, 3, 3, 1, 1), "the 20x21 case runs fused");
    }

    @Test
    void wideLayersRunInBlocksOfOutputChannels() {
        // 36 · cin · cout floats above PackedGemm.KEEP_LIMIT: the weights are transformed a block of outputs at a time.
        Random r = new Random(12);
        int cin = 1024, cout = 576;
        assertTrue(4L * Winograd.XI * cin * cout > PackedGemm.KEEP_LIMIT);
        Tensor x = TestData.tensor(r, 1, 1, 6, 5, cin);
        WeightTensor w = TestData.weight(r, DType.F16, 0.02, cout, cin, 3, 3), b = TestData.weight(r, DType.F32, 0.5, cout);
        float[] res = TestData.randn(r, 6 * 5 * cout, 1), out = res.clone();
        Winograd.conv3x3(x.data(), 1, 6, 5, cin, w, b.toFloatArray(), out, true);
        assertClose(Conv2dTest.convRef(x, w, b, 1, 1, res), out, 9 * cin, "blocked 1024 -> 576");
    }

    @Test
    void conv2dUsesItForLargeImagesAndStaysWithinTheBound() {
        Random r = new Random(8);
        Tensor x = TestData.tensor(r, 1, 2, 40, 36, 64);
        WeightTensor w = TestData.weight(r, DType.F16, 0.05, 48, 64, 3, 3), b = TestData.weight(r, DType.F16, 0.5, 48);
        assertTrue(Winograd.applies(2, 40, 36, 64, 48, 3, 3, 1, 1), "enough tiles for the Winograd path");
        assertFalse(Winograd.applies(2, 40, 36, 64, 48, 3, 3, 2, 1), "stride 2 stays an implicit GEMM");
        Tensor res = TestData.tensor(r, 1, 2, 40, 36, 48);
        Tensor y = Conv2d.forward(x, w, b, 1, 1, res);
        assertClose(Conv2dTest.convRef(x, w, b, 1, 1, res.data()), y.data(), 64 * 9, "conv2d 2x40x36x64");
    }
}
