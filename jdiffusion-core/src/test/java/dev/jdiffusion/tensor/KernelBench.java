package dev.jdiffusion.tensor;

import java.util.Arrays;
import java.util.Random;

/**
 * Times the kernels at Stable Diffusion 1.5 sizes (512×512, batch 2) against the previous
 * implementations, in the same run, and prints GFLOP/s. Not a unit test; run with
 * {@code scripts/bench-kernels.sh} or
 * {@code java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes dev.jdiffusion.tensor.KernelBench [filter]}.
 */
public final class KernelBench {
    private interface Body { Object run(); }

    private static int reps = Integer.getInteger("reps", 5);

    public static void main(String[] args) {
        String filter = args.length > 0 ? args[0] : "";
        boolean baseline = !Boolean.getBoolean("nobaseline");
        Random r = new Random(1);
        System.out.printf("threads=%d vector=%d floats, reps=%d%n", Parallel.threads(), PackedGemm.L, reps);

        if ("linear".contains(filter) || filter.isEmpty()) {
            for (int[] s : new int[][]{{8192, 320, 1280}, {8192, 1280, 320}, {8192, 320, 320}, {2048, 640, 5120}, {154, 768, 320}, {2, 1280, 1280}}) {
                int m = s[0], k = s[1], n = s[2];
                Tensor x = TestData.tensor(r, 1, m, k);
                WeightTensor w = TestData.weight(r, DType.F16, 0.05, n, k), b = TestData.weight(r, DType.F32, 0.1, n);
                double fl = 2.0 * m * n * k;
                String name = "linear M=" + m + " K=" + k + " N=" + n + " f16";
                time(name + " packed", fl, () -> Gemm.linear(x, w, b));
                if (baseline) time(name + " baseline", fl, () -> Gemm.linearReference(x, w, b));
            }
        }
        if ("conv".contains(filter) || filter.isEmpty() || filter.equals("unetconv")) {
            // {batch, h, w, cin, cout, k, stride, pad}
            int[][] cases = filter.equals("unetconv") ? new int[][]{{2, 64, 64, 320, 320, 3, 1, 1}, {2, 32, 32, 640, 640, 3, 1, 1},
                    {2, 16, 16, 1280, 1280, 3, 1, 1}, {1, 32, 32, 512, 512, 3, 1, 1}, {2, 32, 32, 320, 320, 3, 1, 1},
                    {2, 32, 32, 1280, 1280, 3, 1, 1}, {2, 32, 32, 1920, 640, 3, 1, 1}} : new int[][]{{2, 64, 64, 320, 320, 3, 1, 1}, {2, 32, 32, 640, 640, 3, 1, 1}, {2, 16, 16, 1280, 1280, 3, 1, 1},
                    {2, 8, 8, 1280, 1280, 3, 1, 1}, {1, 64, 64, 512, 512, 3, 1, 1}, {1, 128, 128, 512, 512, 3, 1, 1},
                    {1, 256, 256, 256, 256, 3, 1, 1}, {1, 512, 512, 128, 128, 3, 1, 1}, {1, 32, 32, 512, 512, 3, 1, 1},
                    {2, 64, 64, 320, 320, 3, 2, 1}, {2, 64, 64, 4, 320, 3, 1, 1}, {1, 256, 256, 128, 128, 3, 1, 1}, {2, 64, 64, 640, 320, 1, 1, 0}};
            for (int[] s : cases) {
                Tensor x = TestData.tensor(r, 1, s[0], s[1], s[2], s[3]);
                WeightTensor w = TestData.weight(r, DType.F16, 0.02, s[4], s[3], s[5], s[5]), b = TestData.weight(r, DType.F32, 0.1, s[4]);
                int oh = (s[1] + 2 * s[7] - s[5]) / s[6] + 1, ow = (s[2] + 2 * s[7] - s[5]) / s[6] + 1;
                double fl = 2.0 * s[0] * oh * ow * s[4] * s[3] * s[5] * s[5];
                String name = "conv " + Arrays.toString(s) + " [n,h,w,cin,cout,k,stride,pad] f16";
                boolean wino = Winograd.applies(s[0], s[1], s[2], s[3], s[4], s[5], s[5], s[6], s[7]);
                time(name + (wino ? " winograd" : " implicit gemm"), fl, () -> Conv2d.forward(x, w, b, s[6], s[7]));
                if (baseline && wino) time(name + " implicit gemm", fl, () -> Conv2d.forwardImplicitGemm(x, w, b, s[6], s[7]));
            }
        }
        if (filter.equals("lowres")) {
            // The UNet's 8×8 / 4×4 / 16×16-latent layers at batch 2: few rows against wide weights.
            for (int[] s : new int[][]{{2, 8, 8, 1280, 1280}, {2, 4, 4, 1280, 1280}, {2, 8, 8, 2560, 1280}, {2, 16, 16, 1280, 1280}}) {
                Tensor x = TestData.tensor(r, 1, s[0], s[1], s[2], s[3]);
                WeightTensor w = TestData.weight(r, DType.F16, 0.02, s[4], s[3], 3, 3), b = TestData.weight(r, DType.F32, 0.1, s[4]);
                time("conv " + Arrays.toString(s), 2.0 * s[0] * s[1] * s[2] * s[3] * s[4] * 9, () -> { Buffers.recycle(Conv2d.forward(x, w, b, 1, 1)); return null; });
            }
            for (int[] s : new int[][]{{128, 1280, 10240}, {128, 1280, 1280}, {512, 640, 5120}, {32, 1280, 1280}, {512, 1280, 10240}, {512, 5120, 1280}, {128, 5120, 1280}}) {
                Tensor x = TestData.tensor(r, 1, s[0], s[1]);
                WeightTensor w = TestData.weight(r, DType.F16, 0.05, s[2], s[1]);
                time("linear " + Arrays.toString(s), 2.0 * s[0] * s[1] * s[2], () -> { Buffers.recycle(Gemm.linear(x, w, null)); return null; });
            }
        }
        if ("pack".contains(filter) || filter.isEmpty()) {
            // Weight packing alone (F16 → float32 panels), as every GEMM call does before it multiplies.
            for (int[] s : new int[][]{{1280, 1280, 3}, {320, 320, 3}, {1280, 5120, 1}}) {
                WeightTensor w = s[2] == 1 ? TestData.weight(r, DType.F16, 0.02, s[0], s[1])
                        : TestData.weight(r, DType.F16, 0.02, s[0], s[1], s[2], s[2]);
                int n = s[0], k = s[1] * s[2] * s[2], panels = (n + PackedGemm.NR - 1) / PackedGemm.NR;
                PackedGemm.BSource b = s[2] == 1 ? PackedGemm.weightRows(w) : PackedGemm.convWeight(w);
                float[] dst = new float[panels * k * PackedGemm.NR];
                PackedGemm.Ctx ctx = new PackedGemm.Ctx();
                time("pack " + Arrays.toString(s) + " [out,in,k] f16 (GB/s of output as GFLOP/s)", 4.0 * dst.length, () -> {
                    for (int p = 0; p < panels; p++) b.pack(p * PackedGemm.NR, Math.min(PackedGemm.NR, n - p * PackedGemm.NR), dst, p * k * PackedGemm.NR, ctx);
                    return dst;
                });
            }
        }
        if ("attention".contains(filter) || filter.isEmpty()) {
            // {batch, lq, lk, heads, d}
            for (int[] s : new int[][]{{2, 4096, 4096, 8, 40}, {2, 4096, 77, 8, 40}, {2, 1024, 1024, 8, 40}, {2, 1024, 1024, 8, 80}, {2, 256, 256, 8, 160}}) {
                Tensor q = TestData.tensor(r, 1, s[0], s[1], s[3] * s[4]);
                Tensor k = TestData.tensor(r, 1, s[0], s[2], s[3] * s[4]);
                Tensor v = TestData.tensor(r, 1, s[0], s[2], s[3] * s[4]);
                double fl = 4.0 * s[0] * s[3] * s[1] * s[2] * s[4];
                String name = "attention " + Arrays.toString(s) + " [n,lq,lk,heads,d]";
                time(name + " flash", fl, () -> Attention.attend(q, k, v, s[3]));
                if (baseline) time(name + " baseline", fl, () -> Attention.attendReference(q, k, v, s[3], false));
            }
        }
    }

    private static void time(String name, double flops, Body body) {
        int n = reps;
        double[] t = new double[n];
        body.run(); // warm-up
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            body.run();
            t[i] = (System.nanoTime() - t0) / 1e9;
            if (t[i] > 20 && i >= 0) { n = i + 1; break; }
        }
        double[] u = Arrays.copyOf(t, n);
        Arrays.sort(u);
        System.out.printf("%-75s best %8.2f ms (%6.1f GFLOP/s)  median %8.2f ms (%6.1f GFLOP/s)%n", name,
                u[0] * 1e3, flops / u[0] / 1e9, u[n / 2] * 1e3, flops / u[n / 2] / 1e9);
    }
}
