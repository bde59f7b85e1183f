package dev.jdiffusion.tensor;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The weight-streaming path (Cᵀ = W·Aᵀ) called directly, whatever the dispatch rule says, against the
 * double references of {@link PackedGemmTest} and {@link Conv2dTest} (same bound): row counts that are
 * not a multiple of the panel, weight rows not a multiple of the micro-kernel's, k over several blocks,
 * bias, accumulation into C, and convolutions with padding and stride.
 */
class FewRowsGemmTest {
    @Test
    void linearMatchesReference() {
        Random r = new Random(17);
        for (int[] s : new int[][]{{5, 11, 7}, {33, 200, 1000}, {64, 1280, 40}, {7, 13, 900}}) {
            int m = s[0], n = s[1], k = s[2];
            for (DType dt : new DType[]{DType.F32, DType.F16, DType.BF16}) {
                Tensor x = TestData.tensor(r, 1, m, k);
                WeightTensor w = TestData.weight(r, dt, 0.1, n, k), b = TestData.weight(r, DType.F32, 0.5, n);
                float[] res = TestData.randn(r, m * n, 1), y = res.clone();
                FewRowsGemm.multiply(m, k, FewRowsGemm.rows(x.data(), 0, m, k), w, b.toFloatArray(), y, 0, n, true);
                PackedGemmTest.assertClose(PackedGemmTest.linearRef(x.data(), m, w, b, res), y, k, "few rows " + Arrays.toString(s) + " " + dt);
            }
        }
    }

    @Test
    void convolutionMatchesReference() {
        Random r = new Random(19);
        // {n, h, w, cin, cout, k, stride, pad}
        for (int[] s : new int[][]{{2, 4, 4, 40, 70, 3, 1, 1}, {1, 5, 3, 17, 33, 3, 2, 1}, {2, 3, 3, 64, 96, 3, 1, 0}, {1, 4, 4, 24, 40, 1, 1, 0}}) {
            Tensor x = TestData.tensor(r, 1, s[0], s[1], s[2], s[3]);
            WeightTensor w = TestData.weight(r, DType.F16, 0.1, s[4], s[3], s[5], s[5]), b = TestData.weight(r, DType.F32, 0.5, s[4]);
            int oh = (s[1] + 2 * s[7] - s[5]) / s[6] + 1, ow = (s[2] + 2 * s[7] - s[5]) / s[6] + 1, m = s[0] * oh * ow, k = s[3] * s[5] * s[5];
            WeightTensor rows = new WeightTensor(w.name(), w.dtype(), new int[]{s[4], k}, w.segment());
            float[] y = new float[m * s[4]];
            FewRowsGemm.multiply(m, k, FewRowsGemm.convPatches(x.data(), s[0], s[1], s[2], s[3], s[5], s[5], s[6], s[7]),
                    rows, b.toFloatArray(), y, 0, s[4], false);
            PackedGemmTest.assertClose(Conv2dTest.convRef(x, w, b, s[6], s[7], null), y, k, "few rows conv " + Arrays.toString(s));
        }
    }

    @Test
    void dispatchTakesItForTheLowResolutionLayersOnly() {
        assertTrue(FewRowsGemm.suits(128, 1280, 11520), "8x8 latent 3x3 conv, batch 2");
        assertTrue(FewRowsGemm.suits(32, 1280, 1280), "4x4 latent linear");
        assertTrue(FewRowsGemm.suits(128, 10240, 1280), "8x8 latent feed-forward");
        assertFalse(FewRowsGemm.suits(512, 5120, 640), "16x16 latent feed-forward: packing wins");
        assertFalse(FewRowsGemm.suits(2048, 1280, 320), "many rows");
    }
}
