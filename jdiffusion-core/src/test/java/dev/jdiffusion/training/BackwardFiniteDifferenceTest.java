package dev.jdiffusion.training;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.Activations;
import dev.jdiffusion.tensor.Attention;
import dev.jdiffusion.tensor.Conv2d;
import dev.jdiffusion.tensor.Gemm;
import dev.jdiffusion.tensor.Norms;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every layer's backward (run through the {@link Tape}, float32) against central finite differences of an
 * independent float64 forward written here loop by loop: for the scalar f = Σ r·y with a random projection r,
 * ∂f/∂input and ∂f/∂weight at every element (or, for the large cases, at 48 sampled ones) must agree within
 * 2e-4 of the largest gradient of that tensor (float32 arithmetic against float64; h = 1e-5).
 */
class BackwardFiniteDifferenceTest {
    private static final double TOL = 2e-4, H = 1e-5;

    /** One op: our float32 forward over tensors and trained weights, and the float64 reference forward. */
    private interface Ours { Tensor apply(Tensor[] x, WeightTensor[] w); }

    private interface Ref { double[] apply(double[][] x, double[][] w); }

    private static final class Case {
        final String name;
        final int[][] inputs, weights;
        Ours ours;
        Ref ref;
        int samples = Integer.MAX_VALUE;
        boolean positive;  // inputs in (0.5, 1.5) (e.g. for a norm's variance)

        Case(String name, int[][] inputs, int[][] weights) {
            this.name = name;
            this.inputs = inputs;
            this.weights = weights;
        }
    }

    private static int size(int[] shape) {
        int s = 1;
        for (int d : shape) s *= d;
        return s;
    }

    private static void check(Case c) {
        Random rnd = new Random(c.name.hashCode());
        float[][] xs = new float[c.inputs.length][];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = new float[size(c.inputs[i])];
            for (int j = 0; j < xs[i].length; j++) xs[i][j] = (float) (c.positive ? 0.5 + rnd.nextDouble() : rnd.nextGaussian());
        }
        Map<String, WeightTensor> base = new HashMap<>();
        for (int i = 0; i < c.weights.length; i++) {
            float[] v = new float[size(c.weights[i])];
            for (int j = 0; j < v.length; j++) v[j] = (float) (rnd.nextGaussian() * 0.5);
            base.put("w" + i, WeightTensor.ofFloats("w" + i, v, c.weights[i]));
        }
        Parameters params = new Parameters();
        WeightSource src = params.source("op", new WeightSource() {
            @Override public WeightTensor get(String name) { return base.get(name); }
            @Override public boolean contains(String name) { return base.containsKey(name); }
            @Override public String describe() { return "test weights"; }
        }, n -> true);
        WeightTensor[] w = new WeightTensor[c.weights.length];
        for (int i = 0; i < w.length; i++) w[i] = src.get("w" + i);
        Tensor[] x = new Tensor[xs.length];
        for (int i = 0; i < x.length; i++) x[i] = new Tensor(xs[i].clone(), c.inputs[i]);
        Tape tape = new Tape(params, false);
        for (Tensor t : x) tape.requireGrad(t);
        Tensor y = tape.record(() -> c.ours.apply(x, w));
        double[] r = new double[y.size()];
        float[] seed = new float[y.size()];
        for (int j = 0; j < r.length; j++) seed[j] = (float) (r[j] = rnd.nextGaussian());
        tape.backward(y, seed);

        double[][] dx = new double[xs.length][], dw = new double[w.length][];
        for (int i = 0; i < xs.length; i++) dx[i] = toDouble(xs[i]);
        for (int i = 0; i < w.length; i++) dw[i] = toDouble(params.get("op.w" + i).value());
        Function<double[], Double> project = out -> {
            double s = 0;
            for (int j = 0; j < out.length; j++) s += r[j] * out[j];
            return s;
        };
        // Our forward and the reference agree (float32 against float64) before their derivatives are compared.
        double[] refY = c.ref.apply(dx, dw);
        double worstY = 0, maxY = 0;
        for (int j = 0; j < refY.length; j++) {
            worstY = Math.max(worstY, Math.abs(refY[j] - y.data()[j]));
            maxY = Math.max(maxY, Math.abs(refY[j]));
        }
        assertTrue(refY.length == y.size() && worstY <= 1e-4 * Math.max(1, maxY), c.name + ": forward differs from the reference by " + worstY);

        for (int i = 0; i < xs.length; i++) {
            float[] g = tape.gradient(x[i]);
            compare(c, "input " + i, g == null ? new float[xs[i].length] : g, dx[i], () -> project.apply(c.ref.apply(dx, dw)), rnd);
        }
        for (int i = 0; i < w.length; i++)
            compare(c, "weight " + i, params.get("op.w" + i).grad(), dw[i], () -> project.apply(c.ref.apply(dx, dw)), rnd);
    }

    private static void compare(Case c, String what, float[] analytic, double[] values, java.util.function.Supplier<Double> f, Random rnd) {
        int n = values.length, count = Math.min(n, c.samples);
        double maxG = 0;
        for (float g : analytic) maxG = Math.max(maxG, Math.abs(g));
        double worst = 0, maxFd = 0;
        for (int s = 0; s < count; s++) {
            int j = count == n ? s : rnd.nextInt(n);
            double v = values[j];
            values[j] = v + H;
            double plus = f.get();
            values[j] = v - H;
            double minus = f.get();
            values[j] = v;
            double fd = (plus - minus) / (2 * H);
            maxFd = Math.max(maxFd, Math.abs(fd));
            worst = Math.max(worst, Math.abs(fd - analytic[j]));
        }
        double scale = Math.max(maxG, maxFd);
        assertTrue(scale > 0, c.name + " " + what + ": all gradients are zero");
        assertTrue(worst <= TOL * scale, c.name + " " + what + ": |analytic − finite difference| = " + worst + " of max " + scale);
    }

    private static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    // ------------------------------------------------------------------ float64 reference forwards

    /** conv2d over channels-last x (n, h, w, cin) with PyTorch's weight [cout, cin, k, k]. */
    private static double[] conv(double[] x, int n, int h, int wd, int cin, double[] w, double[] b, int cout, int k,
                                 int stride, int pad) {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
        double[] y = new double[n * oh * ow * cout];
        for (int bi = 0; bi < n; bi++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int o = 0; o < cout; o++) {
                        double s = b == null ? 0 : b[o];
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                for (int c = 0; c < cin; c++)
                                    s += x[((bi * h + iy) * wd + ix) * cin + c] * w[((o * cin + c) * k + ky) * k + kx];
                            }
                        y[((bi * oh + oy) * ow + ox) * cout + o] = s;
                    }
        return y;
    }

    private static double[] groupNorm(double[] x, int n, int c, int groups, double[] g, double[] b, double eps, boolean silu) {
        int pixels = x.length / (n * c), cg = c / groups;
        double[] y = new double[x.length];
        for (int bi = 0; bi < n; bi++)
            for (int gi = 0; gi < groups; gi++) {
                double s = 0, sq = 0;
                for (int p = 0; p < pixels; p++) for (int j = 0; j < cg; j++) s += x[(bi * pixels + p) * c + gi * cg + j];
                double mean = s / (pixels * cg);
                for (int p = 0; p < pixels; p++) for (int j = 0; j < cg; j++) {
                    double d = x[(bi * pixels + p) * c + gi * cg + j] - mean;
                    sq += d * d;
                }
                double rstd = 1 / Math.sqrt(sq / (pixels * cg) + eps);
                for (int p = 0; p < pixels; p++) for (int j = 0; j < cg; j++) {
                    int idx = (bi * pixels + p) * c + gi * cg + j, ch = gi * cg + j;
                    double v = (x[idx] - mean) * rstd * g[ch] + b[ch];
                    y[idx] = silu ? v / (1 + Math.exp(-v)) : v;
                }
            }
        return y;
    }

    private static double erf(double x) {
        // Abramowitz–Stegun 7.1.26 is too coarse for a 1e-5 difference; integrate exp(-t²) with Simpson's rule.
        int n = 2000;
        double h = x / n, s = 1 + Math.exp(-x * x);
        for (int i = 1; i < n; i++) s += (i % 2 == 1 ? 4 : 2) * Math.exp(-(i * h) * (i * h));
        return 2 / Math.sqrt(Math.PI) * s * h / 3;
    }

    private static double act(String kind, double v) {
        return switch (kind) {
            case "silu" -> v / (1 + Math.exp(-v));
            case "gelu" -> 0.5 * v * (1 + erf(v / Math.sqrt(2)));
            default -> v / (1 + Math.exp(-1.702 * v));
        };
    }

    /** Multi-head attention of (n, l, width) q, k, v. */
    private static double[] attention(double[] q, double[] k, double[] v, int n, int lq, int lk, int width, int heads, boolean causal) {
        int d = width / heads;
        double[] out = new double[n * lq * width];
        for (int b = 0; b < n; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < lq; i++) {
                    double[] s = new double[lk];
                    double max = Double.NEGATIVE_INFINITY;
                    int visible = causal ? Math.min(lk, i + 1) : lk;
                    for (int j = 0; j < visible; j++) {
                        double dot = 0;
                        for (int t = 0; t < d; t++) dot += q[(b * lq + i) * width + h * d + t] * k[(b * lk + j) * width + h * d + t];
                        s[j] = dot / Math.sqrt(d);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < visible; j++) sum += s[j] = Math.exp(s[j] - max);
                    for (int j = 0; j < visible; j++)
                        for (int t = 0; t < d; t++) out[(b * lq + i) * width + h * d + t] += s[j] / sum * v[(b * lk + j) * width + h * d + t];
                }
        return out;
    }

    // ------------------------------------------------------------------ cases

    @Test
    void linearWithBiasAndResidual() {
        Case c = new Case("linear", new int[][]{{2, 3, 5}, {2, 3, 6}}, new int[][]{{6, 5}, {6}});
        c.ours = (x, w) -> Gemm.linear(x[0], w[0], w[1], x[1]);
        c.ref = (x, w) -> {
            double[] y = new double[6 * 6];
            for (int i = 0; i < 6; i++)
                for (int o = 0; o < 6; o++) {
                    double s = w[1][o] + x[1][i * 6 + o];
                    for (int k = 0; k < 5; k++) s += x[0][i * 5 + k] * w[0][o * 5 + k];
                    y[i * 6 + o] = s;
                }
            return y;
        };
        check(c);
    }

    @Test
    void linearManyRowsOnThePackedKernel() {
        Case c = new Case("linear packed", new int[][]{{70, 40}}, new int[][]{{36, 40}, {36}});
        c.ours = (x, w) -> Gemm.linear(x[0], w[0], w[1]);
        c.ref = (x, w) -> {
            double[] y = new double[70 * 36];
            for (int i = 0; i < 70; i++)
                for (int o = 0; o < 36; o++) {
                    double s = w[1][o];
                    for (int k = 0; k < 40; k++) s += x[0][i * 40 + k] * w[0][o * 40 + k];
                    y[i * 36 + o] = s;
                }
            return y;
        };
        c.samples = 48;
        check(c);
    }

    private static void convCase(String name, int n, int h, int wd, int cin, int cout, int k, int stride, int pad, boolean residual, int samples) {
        int oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
        int[][] inputs = residual ? new int[][]{{n, h, wd, cin}, {n, oh, ow, cout}} : new int[][]{{n, h, wd, cin}};
        Case c = new Case(name, inputs, new int[][]{{cout, cin, k, k}, {cout}});
        c.ours = (x, w) -> Conv2d.forward(x[0], w[0], w[1], stride, pad, residual ? x[1] : null);
        c.ref = (x, w) -> {
            double[] y = conv(x[0], n, h, wd, cin, w[0], w[1], cout, k, stride, pad);
            if (residual) for (int i = 0; i < y.length; i++) y[i] += x[1][i];
            return y;
        };
        c.samples = samples;
        check(c);
    }

    @Test
    void conv3x3Stride1WithResidual() { convCase("conv3x3/1", 2, 5, 6, 3, 4, 3, 1, 1, true, Integer.MAX_VALUE); }

    @Test
    void conv3x3Stride2Padding1() { convCase("conv3x3/2 p1", 1, 7, 6, 3, 5, 3, 2, 1, false, Integer.MAX_VALUE); }

    @Test
    void conv3x3Stride2Padding0() { convCase("conv3x3/2 p0", 2, 6, 7, 4, 3, 3, 2, 0, false, Integer.MAX_VALUE); }

    @Test
    void conv1x1() { convCase("conv1x1", 2, 4, 3, 5, 6, 1, 1, 0, false, Integer.MAX_VALUE); }

    @Test
    void conv3x3OnTheWinogradPathWithManyChannels() { convCase("conv3x3 winograd", 1, 28, 28, 32, 32, 3, 1, 1, false, 48); }

    @Test
    void conv3x3Stride2ManyChannels() { convCase("conv3x3/2 direct", 1, 12, 10, 40, 16, 3, 2, 1, false, 48); }

    @Test
    void vaeDownsamplePadsRightAndBottom() {
        Case c = new Case("pad + conv/2", new int[][]{{1, 6, 6, 3}}, new int[][]{{4, 3, 3, 3}, {4}});
        c.ours = (x, w) -> Conv2d.forward(TensorOps.padRightBottom(x[0], 1), w[0], w[1], 2, 0);
        c.ref = (x, w) -> {
            double[] p = new double[7 * 7 * 3];
            for (int y = 0; y < 6; y++) System.arraycopy(x[0], y * 6 * 3, p, y * 7 * 3, 6 * 3);
            return conv(p, 1, 7, 7, 3, w[0], w[1], 4, 3, 2, 0);
        };
        check(c);
    }

    @Test
    void groupNormAndGroupNormSilu() {
        for (boolean silu : new boolean[]{false, true}) {
            Case c = new Case("groupnorm silu=" + silu, new int[][]{{2, 3, 4, 6}}, new int[][]{{6}, {6}});
            c.ours = (x, w) -> Norms.groupNorm(x[0], 3, w[0], w[1], 1e-5, silu);
            c.ref = (x, w) -> groupNorm(x[0], 2, 6, 3, w[0], w[1], 1e-5, silu);
            check(c);
        }
    }

    @Test
    void groupNormSiluOverManyChannelsOnTheVectorPaths() {
        Case c = new Case("groupnorm+silu 40 channels", new int[][]{{2, 3, 5, 40}}, new int[][]{{40}, {40}});
        c.ours = (x, w) -> Norms.groupNorm(x[0], 8, w[0], w[1], 1e-6, true);
        c.ref = (x, w) -> groupNorm(x[0], 2, 40, 8, w[0], w[1], 1e-6, true);
        c.samples = 64;
        check(c);
    }

    @Test
    void convolutionOfALazilyNormalizedInput() {
        // ResnetBlock2D's conv(norm.lazySilu(x)): recorded as group norm + SiLU, then the convolution.
        Case c = new Case("conv(groupnorm+silu)", new int[][]{{1, 5, 5, 4}}, new int[][]{{4}, {4}, {3, 4, 3, 3}, {3}});
        c.ours = (x, w) -> Conv2d.forward(Norms.groupNormLazy(x[0], 2, w[0], w[1], 1e-6, true), w[2], w[3], 1, 1, null);
        c.ref = (x, w) -> conv(groupNorm(x[0], 1, 4, 2, w[0], w[1], 1e-6, true), 1, 5, 5, 4, w[2], w[3], 3, 3, 1, 1);
        check(c);
    }

    @Test
    void layerNorm() {
        Case c = new Case("layernorm", new int[][]{{3, 4, 7}}, new int[][]{{7}, {7}});
        c.ours = (x, w) -> Norms.layerNorm(x[0], w[0], w[1], 1e-5);
        c.ref = (x, w) -> {
            double[] y = new double[x[0].length];
            for (int r = 0; r < 12; r++) {
                double s = 0, sq = 0;
                for (int j = 0; j < 7; j++) s += x[0][r * 7 + j];
                double mean = s / 7;
                for (int j = 0; j < 7; j++) sq += (x[0][r * 7 + j] - mean) * (x[0][r * 7 + j] - mean);
                double rstd = 1 / Math.sqrt(sq / 7 + 1e-5);
                for (int j = 0; j < 7; j++) y[r * 7 + j] = (x[0][r * 7 + j] - mean) * rstd * w[0][j] + w[1][j];
            }
            return y;
        };
        check(c);
    }

    @Test
    void activations() {
        for (Activations.Kind kind : Activations.Kind.values()) {
            String name = kind.name().toLowerCase(java.util.Locale.ROOT);
            Case c = new Case(name, new int[][]{{3, 37}}, new int[0][]);
            c.ours = (x, w) -> Activations.map(x[0], kind);
            c.ref = (x, w) -> {
                double[] y = new double[x[0].length];
                for (int i = 0; i < y.length; i++) y[i] = act(name, x[0][i]);
                return y;
            };
            check(c);
        }
    }

    @Test
    void geglu() {
        for (int d : new int[]{11, 40}) {
            Case c = new Case("geglu " + d, new int[][]{{2, 3, 2 * d}}, new int[0][]);
            c.ours = (x, w) -> Activations.geglu(x[0]);
            c.ref = (x, w) -> {
                double[] y = new double[6 * d];
                for (int r = 0; r < 6; r++)
                    for (int j = 0; j < d; j++) y[r * d + j] = x[0][r * 2 * d + j] * act("gelu", x[0][r * 2 * d + d + j]);
                return y;
            };
            c.samples = 96;
            check(c);
        }
    }

    private static void attentionCase(String name, int n, int lq, int lk, int width, int heads, boolean causal, int samples) {
        Case c = new Case(name, new int[][]{{n, lq, width}, {n, lk, width}, {n, lk, width}}, new int[0][]);
        c.ours = (x, w) -> Attention.attend(x[0], x[1], x[2], heads, causal);
        c.ref = (x, w) -> attention(x[0], x[1], x[2], n, lq, lk, width, heads, causal);
        c.samples = samples;
        check(c);
    }

    @Test
    void selfAttentionMultiHead() { attentionCase("self-attention", 2, 9, 9, 8, 2, false, Integer.MAX_VALUE); }

    @Test
    void crossAttention() { attentionCase("cross-attention", 1, 12, 5, 6, 3, false, Integer.MAX_VALUE); }

    @Test
    void causalAttentionAsClip() { attentionCase("causal attention", 2, 7, 7, 8, 2, true, Integer.MAX_VALUE); }

    @Test
    void longAttentionOnTheFusedKernelInBlocks() { attentionCase("attention 300 tokens", 1, 300, 300, 16, 2, false, 48); }

    @Test
    void nearestUpsamplingAndTheFusedUpsampledConvolution() {
        Case up = new Case("upsample2x", new int[][]{{1, 3, 2, 2}}, new int[0][]);
        up.ours = (x, w) -> TensorOps.upsampleNearest2x(x[0]);
        up.ref = (x, w) -> upsample(x[0], 3, 2, 2, 6, 4);
        check(up);
        Case odd = new Case("upsample to 5x3", new int[][]{{1, 2, 2, 3}}, new int[0][]);
        odd.ours = (x, w) -> TensorOps.upsampleNearest(x[0], 5, 3);
        odd.ref = (x, w) -> upsample(x[0], 2, 2, 3, 5, 3);
        check(odd);
        Case conv = new Case("conv(upsample2x)", new int[][]{{1, 3, 3, 2}}, new int[][]{{3, 2, 3, 3}, {3}});
        conv.ours = (x, w) -> Conv2d.forwardUpsampled2x(x[0], w[0], w[1]);
        conv.ref = (x, w) -> conv(upsample(x[0], 3, 3, 2, 6, 6), 1, 6, 6, 2, w[0], w[1], 3, 3, 1, 1);
        check(conv);
    }

    private static double[] upsample(double[] x, int h, int w, int c, int oh, int ow) {
        double[] y = new double[oh * ow * c];
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int iy = Math.min(h - 1, (int) Math.floor(oy * ((float) h / oh))), ix = Math.min(w - 1, (int) Math.floor(ox * ((float) w / ow)));
                for (int ch = 0; ch < c; ch++) y[(oy * ow + ox) * c + ch] = x[(iy * w + ix) * c + ch];
            }
        return y;
    }

    @Test
    void elementwiseAndShapeOps() {
        Case c = new Case("add, scale, addPerChannel, concat", new int[][]{{2, 3, 4}, {2, 3, 4}, {2, 4}, {2, 3, 2}}, new int[0][]);
        c.ours = (x, w) -> {
            Tensor s = TensorOps.scale(TensorOps.add(x[0], x[1]), 0.7f);
            Tensor p = TensorOps.addPerChannel(s, x[2]);
            Tensor joined = TensorOps.concatLast(p, x[3]);
            return TensorOps.concatBatch(joined, TensorOps.add(joined, joined));
        };
        c.ref = (x, w) -> {
            double[] joined = new double[2 * 3 * 6];
            for (int b = 0; b < 2; b++)
                for (int i = 0; i < 3; i++) {
                    for (int j = 0; j < 4; j++) {
                        int idx = (b * 3 + i) * 4 + j;
                        joined[(b * 3 + i) * 6 + j] = 0.7f * (x[0][idx] + x[1][idx]) + x[2][b * 4 + j];
                    }
                    for (int j = 0; j < 2; j++) joined[(b * 3 + i) * 6 + 4 + j] = x[3][(b * 3 + i) * 2 + j];
                }
            double[] y = new double[2 * joined.length];
            for (int i = 0; i < joined.length; i++) {
                y[i] = joined[i];
                y[joined.length + i] = 2 * joined[i];
            }
            return y;
        };
        check(c);
    }

    @Test
    void tokenAndPositionEmbeddings() {
        int[][] ids = {{5, 0, 3, 3}, {1, 5, 2, 4}};
        Case c = new Case("embeddings", new int[0][], new int[][]{{6, 3}, {4, 3}});
        c.ours = (x, w) -> TensorOps.embed(ids, w[0], w[1]);
        c.ref = (x, w) -> {
            double[] y = new double[2 * 4 * 3];
            for (int b = 0; b < 2; b++)
                for (int t = 0; t < 4; t++)
                    for (int j = 0; j < 3; j++) y[(b * 4 + t) * 3 + j] = w[0][ids[b][t] * 3 + j] + w[1][t * 3 + j];
            return y;
        };
        check(c);
    }
}
