package dev.jdiffusion.tensor;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Conv2d (implicit GEMM on the packed kernel) against a double-precision direct convolution:
 * odd sizes, stride 1 and 2, padding 0 and 1, 1×1 and 3×3 kernels, few channels (gathered patches)
 * and many (pixels read in place, several channel blocks), batch > 1, F32/F16/BF16 weights.
 * Bound as in {@link PackedGemmTest}: max|err| ≤ 1e-6 · sqrt(K) · max|ref| with K = cin·kh·kw.
 */
class Conv2dTest {
    static double[] convRef(Tensor x, WeightTensor w, WeightTensor bias, int stride, int pad, float[] residual) {
        int n = x.dim(0), h = x.dim(1), wd = x.dim(2), cin = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
        float[] xs = x.data();
        double[] y = new double[n * oh * ow * cout];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int o = 0; o < cout; o++) {
                        double s = bias == null ? 0 : bias.getFloat(o);
                        for (int c = 0; c < cin; c++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++) {
                                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    s += (double) xs[((b * h + iy) * wd + ix) * cin + c]
                                            * w.getFloat(((long) (o * cin + c) * kh + ky) * kw + kx);
                                }
                        int idx = ((b * oh + oy) * ow + ox) * cout + o;
                        y[idx] = s + (residual == null ? 0 : residual[idx]);
                    }
        return y;
    }

    @Test
    void matchesDirectConvolution() {
        Random r = new Random(11);
        // {n, h, w, cin, cout, k, stride, pad}
        int[][] cases = {
                {1, 5, 5, 1, 1, 3, 1, 1}, {2, 9, 7, 4, 33, 3, 1, 1}, {2, 9, 7, 35, 33, 3, 1, 1}, {1, 9, 8, 35, 40, 3, 2, 1},
                {2, 10, 10, 64, 17, 3, 2, 1}, {1, 6, 7, 400, 20, 3, 1, 1}, {1, 7, 5, 3, 8, 3, 2, 0}, {2, 6, 5, 48, 70, 1, 1, 0},
                {1, 8, 8, 20, 12, 3, 1, 0}, {3, 4, 4, 32, 32, 3, 1, 1}, {1, 11, 13, 12, 5, 3, 2, 1},
                // Few output pixels against many output channels: the weight-streaming path (FewRowsGemm).
                {1, 4, 4, 64, 70, 3, 1, 1}, {2, 3, 5, 40, 96, 3, 2, 1}, {1, 2, 3, 33, 64, 1, 1, 0}, {2, 4, 4, 400, 96, 3, 1, 1},
                // A handful of output channels (per-pixel dot products): image out of the VAE and the UNet.
                {1, 9, 10, 32, 3, 3, 1, 1}, {2, 8, 8, 48, 4, 3, 1, 1}, {1, 12, 9, 16, 1, 3, 2, 1}, {1, 10, 10, 32, 2, 1, 1, 0}};
        DType[] types = {DType.F32, DType.F16, DType.BF16};
        int ci = 0;
        for (int[] s : cases) {
            DType dt = types[ci++ % 3];
            Tensor x = TestData.tensor(r, 1, s[0], s[1], s[2], s[3]);
            WeightTensor w = TestData.weight(r, dt, 0.2, s[4], s[3], s[5], s[5]);
            WeightTensor b = ci % 2 == 0 ? null : TestData.weight(r, dt, 0.5, s[4]);
            Tensor y = Conv2d.forward(x, w, b, s[6], s[7]);
            int oh = (s[1] + 2 * s[7] - s[5]) / s[6] + 1, ow = (s[2] + 2 * s[7] - s[5]) / s[6] + 1;
            assertArrayEquals(new int[]{s[0], oh, ow, s[4]}, y.shape(), "shape");
            int k = s[3] * s[5] * s[5];
            String what = "conv " + Arrays.toString(s) + " " + dt;
            PackedGemmTest.assertClose(convRef(x, w, b, s[6], s[7], null), y.data(), k, what);
            Tensor res = TestData.tensor(r, 1, y.shape());
            Tensor y2 = Conv2d.forward(x, w, b, s[6], s[7], res);
            PackedGemmTest.assertClose(convRef(x, w, b, s[6], s[7], res.data()), y2.data(), k, what + " + residual");
        }
    }

    @Test
    void largerImageWithManyRowBlocks() {
        Random r = new Random(5);
        Tensor x = TestData.tensor(r, 1, 2, 24, 20, 96);
        WeightTensor w = TestData.weight(r, DType.F16, 0.05, 72, 96, 3, 3);
        WeightTensor b = TestData.weight(r, DType.F16, 0.5, 72);
        PackedGemmTest.assertClose(convRef(x, w, b, 1, 1, null), Conv2d.forward(x, w, b, 1, 1).data(), 96 * 9, "conv 24x20x96");
        PackedGemmTest.assertClose(convRef(x, w, b, 2, 1, null), Conv2d.forward(x, w, b, 2, 1).data(), 96 * 9, "conv stride 2");
    }
}
