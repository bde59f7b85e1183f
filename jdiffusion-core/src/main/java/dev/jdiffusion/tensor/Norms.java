package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;

/** Group norm and layer norm, float32 in and out, statistics accumulated in double (vectorised partial sums). */
public final class Norms {
    private Norms() {}

    /**
     * Group norm over channels-last (N, H, W, C): each of {@code groups} runs of C/groups channels is
     * normalised over all pixels, then scaled by gamma and shifted by beta per channel. With
     * {@code silu} the SiLU activation is applied in the same pass (ResNet blocks always follow one with it).
     */
    public static Tensor groupNorm(Tensor x, int groups, WeightTensor gamma, WeightTensor beta, double eps, boolean silu) {
        return groupNormLazy(x, groups, gamma, beta, eps, silu).materialize();
    }

    /**
     * Group norm (+ SiLU) of channels-last x as a per-channel affine map, not yet applied: (x - mean) ·
     * scale + shift, then SiLU if asked. A convolution that reads its input tile by tile applies it as it
     * loads ({@link Conv2d#forward(Normalized, WeightTensor, WeightTensor, int, int, Tensor)}), so the
     * normalized tensor — as large as x — is never written; {@link #materialize} makes it otherwise. Both
     * give the same bits: the same operations in the same order.
     *
     * @param mean  per (batch, channel): its group's mean
     * @param scale per (batch, channel): gamma / sqrt(var + eps)
     * @param shift per (batch, channel): beta
     * @param rstd  per (batch, channel): its group's 1 / sqrt(var + eps) (for the backward)
     */
    public record Normalized(Tensor x, float[] mean, float[] scale, float[] shift, boolean silu, int groups,
                             float[] rstd, WeightTensor gamma, WeightTensor beta) {
        /** The normalized values of c0..c0+L of pixel {@code pixel} (batch b) into dst[d]. */
        void applyVector(int b, int pixel, int c0, float[] dst, int d) {
            int c = x.dim(-1), so = b * c + c0;
            FloatVector v = FloatVector.fromArray(S, x.data(), pixel * c + c0).sub(FloatVector.fromArray(S, mean, so))
                    .fma(FloatVector.fromArray(S, scale, so), FloatVector.fromArray(S, shift, so));
            (silu ? Activations.silu(v) : v).intoArray(dst, d);
        }

        /** The normalized tensor itself (from the activation pool). */
        public Tensor materialize() {
            long t0 = OpProfile.ON ? System.nanoTime() : 0;
            float[] xs = x.data(), y = Buffers.take(xs.length);
            int n = x.dim(0), c = x.dim(-1), pixels = x.size() / (n * c), rows = n * pixels;
            Parallel.forRange(rows, 64, (from, to) -> {
                for (int r = from; r < to; r++) {
                    int off = r * c, so = (r / pixels) * c;
                    int j = 0;
                    for (; j + L <= c; j += L) {
                        FloatVector v = FloatVector.fromArray(S, xs, off + j).sub(FloatVector.fromArray(S, mean, so + j))
                                .fma(FloatVector.fromArray(S, scale, so + j), FloatVector.fromArray(S, shift, so + j));
                        if (silu) v = Activations.silu(v);
                        v.intoArray(y, off + j);
                    }
                    for (; j < c; j++) {
                        float v = (xs[off + j] - mean[so + j]) * scale[so + j] + shift[so + j];
                        y[off + j] = silu ? Activations.silu(v) : v;
                    }
                }
            });
            if (OpProfile.ON) OpProfile.add("groupnorm" + (silu ? "+silu " : " ") + java.util.Arrays.toString(x.shape()), System.nanoTime() - t0, 0);
            Tensor out = new Tensor(y, x.shape());
            Tensor[] inputs = {x};
            Autograd.Recorder r = Autograd.needed(inputs, gamma, beta);
            if (r != null) r.record(silu ? "groupnorm+silu" : "groupnorm", out, inputs, g -> backward(g, out));
            return out;
        }

        /** Whether a recorder needs this normalization as its own operation (so it must be made, not fused). */
        public boolean recorded() { return Autograd.needed(new Tensor[]{x}, gamma, beta) != null; }

        /**
         * Group norm's backward (with SiLU's when fused): with pre = x̂·γ + β and g_pre = g·silu'(pre),
         * gγ += Σ g_pre·x̂, gβ += Σ g_pre, gx = rstd·(γ·g_pre − mean(γ·g_pre) − x̂·mean(γ·g_pre·x̂)) per group.
         */
        private void backward(Autograd.Grads grads, Tensor out) {
            float[] xs = x.data(), go = grads.output(), gam = gamma.toFloatArray();
            int n = x.dim(0), c = x.dim(-1), pixels = x.size() / (n * c), cg = c / groups;
            // g_pre in place of the output gradient.
            if (silu) {
                Parallel.forRange(n * pixels, 64, (from, to) -> {
                    for (int row = from; row < to; row++) {
                        int off = row * c, so = (row / pixels) * c, j = 0;
                        for (; j + L <= c; j += L) {
                            FloatVector pre = FloatVector.fromArray(S, xs, off + j).sub(FloatVector.fromArray(S, mean, so + j))
                                    .fma(FloatVector.fromArray(S, scale, so + j), FloatVector.fromArray(S, shift, so + j));
                            FloatVector.fromArray(S, go, off + j).mul(Activations.siluDerivative(pre)).intoArray(go, off + j);
                        }
                        for (; j < c; j++) {
                            float pre = (xs[off + j] - mean[so + j]) * scale[so + j] + shift[so + j];
                            go[off + j] *= Activations.derivative(Activations.Kind.SILU, pre);
                        }
                    }
                });
            }
            // Per (batch, channel): Σ g_pre and Σ g_pre·x̂, in double.
            double[] sumG = new double[n * c], sumGX = new double[n * c];
            int cb = Math.min(c, CHANNEL_BLOCK), cBlocks = (c + cb - 1) / cb;
            Parallel.forTasks(n * cBlocks, t -> {
                int b = t / cBlocks, c0 = (t % cBlocks) * cb, c1 = Math.min(c, c0 + cb);
                float[] ag = new float[c1 - c0], agx = new float[c1 - c0];
                for (int p0 = 0; p0 < pixels; p0 += PIXEL_CHUNK) {
                    int p1 = Math.min(pixels, p0 + PIXEL_CHUNK), j = c0;
                    for (; j + L <= c1; j += L) {
                        int bc = b * c + j;
                        FloatVector m = FloatVector.fromArray(S, mean, bc), r = FloatVector.fromArray(S, rstd, bc);
                        FloatVector sg = FloatVector.zero(S), sgx = sg;
                        for (int p = p0; p < p1; p++) {
                            int off = (b * pixels + p) * c + j;
                            FloatVector gp = FloatVector.fromArray(S, go, off);
                            sg = sg.add(gp);
                            sgx = gp.fma(FloatVector.fromArray(S, xs, off).sub(m).mul(r), sgx);
                        }
                        sg.intoArray(ag, j - c0);
                        sgx.intoArray(agx, j - c0);
                    }
                    for (; j < c1; j++) {
                        int bc = b * c + j;
                        float sg = 0, sgx = 0;
                        for (int p = p0; p < p1; p++) {
                            int off = (b * pixels + p) * c + j;
                            sg += go[off];
                            sgx += go[off] * ((xs[off] - mean[bc]) * rstd[bc]);
                        }
                        ag[j - c0] = sg;
                        agx[j - c0] = sgx;
                    }
                    for (j = c0; j < c1; j++) {
                        sumG[b * c + j] += ag[j - c0];
                        sumGX[b * c + j] += agx[j - c0];
                    }
                }
            });
            float[] gg = grads.weight(gamma), gb = grads.weight(beta);
            for (int j = 0; j < c; j++) {
                double sg = 0, sgx = 0;
                for (int b = 0; b < n; b++) { sg += sumG[b * c + j]; sgx += sumGX[b * c + j]; }
                if (gg != null) gg[j] += (float) sgx;
                if (gb != null) gb[j] += (float) sg;
            }
            if (!grads.wants(0)) return;
            // Per (batch, group): mean of γ·g_pre and of γ·g_pre·x̂.
            float[] m1 = new float[n * c], m2 = new float[n * c];
            for (int b = 0; b < n; b++)
                for (int gi = 0; gi < groups; gi++) {
                    double a1 = 0, a2 = 0;
                    for (int j = gi * cg; j < (gi + 1) * cg; j++) { a1 += gam[j] * sumG[b * c + j]; a2 += gam[j] * sumGX[b * c + j]; }
                    double count = (double) pixels * cg;
                    for (int j = gi * cg; j < (gi + 1) * cg; j++) { m1[b * c + j] = (float) (a1 / count); m2[b * c + j] = (float) (a2 / count); }
                }
            Parallel.forRange(n * pixels, 64, (from, to) -> {
                for (int row = from; row < to; row++) {
                    int off = row * c, so = (row / pixels) * c, j = 0;
                    for (; j + L <= c; j += L) {
                        int bc = so + j;
                        FloatVector r = FloatVector.fromArray(S, rstd, bc);
                        FloatVector xhat = FloatVector.fromArray(S, xs, off + j).sub(FloatVector.fromArray(S, mean, bc)).mul(r);
                        FloatVector t = FloatVector.fromArray(S, gam, j).mul(FloatVector.fromArray(S, go, off + j))
                                .sub(FloatVector.fromArray(S, m1, bc)).sub(xhat.mul(FloatVector.fromArray(S, m2, bc)));
                        r.mul(t).intoArray(go, off + j);
                    }
                    for (; j < c; j++) {
                        int bc = so + j;
                        float xhat = (xs[off + j] - mean[bc]) * rstd[bc];
                        go[off + j] = rstd[bc] * (gam[j] * go[off + j] - m1[bc] - xhat * m2[bc]);
                    }
                }
            });
            grads.input(0, go);
        }
    }

    /** The statistics of {@link #groupNorm}, for applying it later (see {@link Normalized}). */
    public static Normalized groupNormLazy(Tensor x, int groups, WeightTensor gamma, WeightTensor beta, double eps, boolean silu) {
        long t0 = OpProfile.ON ? System.nanoTime() : 0;
        int n = x.dim(0), c = x.dim(-1);
        int pixels = x.size() / (n * c);
        if (c % groups != 0) throw new IllegalArgumentException(c + " channels do not split into " + groups + " groups");
        int cg = c / groups;
        float[] g = gamma.toFloatArray(), b = beta.toFloatArray();
        float[] xs = x.data();
        // Statistics: per-channel sums over pixels (vectors along the contiguous channels), two passes
        // (mean, then squared deviations) in blocks of channels, partial sums kept in double.
        int cb = Math.min(c, CHANNEL_BLOCK);
        int cBlocks = (c + cb - 1) / cb;
        double[] chanSum = new double[n * c], chanSq = new double[n * c];
        Parallel.forTasks(n * cBlocks, t -> channelSums(xs, t / cBlocks, pixels, c, (t % cBlocks) * cb,
                Math.min(c, (t % cBlocks) * cb + cb), null, chanSum));
        float[] chanMean = new float[n * c];
        for (int bi = 0; bi < n; bi++)
            for (int gi = 0; gi < groups; gi++) {
                double s = 0;
                for (int j = 0; j < cg; j++) s += chanSum[bi * c + gi * cg + j];
                float mean = (float) (s / ((double) pixels * cg));
                for (int j = 0; j < cg; j++) chanMean[bi * c + gi * cg + j] = mean;
            }
        Parallel.forTasks(n * cBlocks, t -> channelSums(xs, t / cBlocks, pixels, c, (t % cBlocks) * cb,
                Math.min(c, (t % cBlocks) * cb + cb), chanMean, chanSq));
        float[] scale = new float[n * c], shift = new float[n * c], rstd = new float[n * c];
        for (int bi = 0; bi < n; bi++)
            for (int gi = 0; gi < groups; gi++) {
                double sq = 0;
                for (int j = 0; j < cg; j++) sq += chanSq[bi * c + gi * cg + j];
                float rs = (float) (1.0 / Math.sqrt(sq / ((double) pixels * cg) + eps));
                for (int j = 0; j < cg; j++) {
                    int ch = gi * cg + j;
                    scale[bi * c + ch] = rs * g[ch];
                    shift[bi * c + ch] = b[ch];
                    rstd[bi * c + ch] = rs;
                }
            }
        if (OpProfile.ON) OpProfile.add("groupnorm statistics " + java.util.Arrays.toString(x.shape()), System.nanoTime() - t0, 0);
        return new Normalized(x, chanMean, scale, shift, silu, groups, rstd, gamma, beta);
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final int CHANNEL_BLOCK = 64;
    private static final int PIXEL_CHUNK = 256;

    /**
     * out[b*c + ch] = Σ_pixels (x - center[b*c + ch])² (center given) or Σ x (center null), for channels
     * [c0, c1) of batch b: float vectors over chunks of pixels, then added into double.
     */
    private static void channelSums(float[] xs, int b, int pixels, int c, int c0, int c1, float[] center, double[] out) {
        int w = c1 - c0, base = b * pixels * c;
        float[] acc = new float[w];
        for (int p0 = 0; p0 < pixels; p0 += PIXEL_CHUNK) {
            int p1 = Math.min(pixels, p0 + PIXEL_CHUNK);
            java.util.Arrays.fill(acc, 0f);
            int j = 0;
            for (; j + L <= w; j += L) {
                FloatVector a = FloatVector.zero(S);
                FloatVector m = center == null ? null : FloatVector.fromArray(S, center, b * c + c0 + j);
                for (int p = p0; p < p1; p++) {
                    FloatVector v = FloatVector.fromArray(S, xs, base + p * c + c0 + j);
                    if (m == null) a = a.add(v);
                    else { v = v.sub(m); a = v.fma(v, a); }
                }
                a.intoArray(acc, j);
            }
            for (; j < w; j++) {
                float a = 0, m = center == null ? 0 : center[b * c + c0 + j];
                for (int p = p0; p < p1; p++) {
                    float v = xs[base + p * c + c0 + j] - m;
                    a += center == null ? v : v * v;
                }
                acc[j] = a;
            }
            for (j = 0; j < w; j++) out[b * c + c0 + j] += acc[j];
        }
    }

    /** Layer norm over the last dimension. */
    public static Tensor layerNorm(Tensor x, WeightTensor gamma, WeightTensor beta, double eps) {
        int d = x.dim(-1), rows = x.size() / d;
        float[] g = gamma.toFloatArray(), b = beta.toFloatArray();
        float[] xs = x.data(), y = Buffers.take(xs.length);
        Parallel.forRange(rows, 64, (from, to) -> {
            for (int r = from; r < to; r++) {
                int off = r * d;
                double sum = 0;
                for (int j = 0; j < d; j++) sum += xs[off + j];
                double mean = sum / d, sq = 0;
                for (int j = 0; j < d; j++) { double t = xs[off + j] - mean; sq += t * t; }
                float rstd = (float) (1.0 / Math.sqrt(sq / d + eps)), fmean = (float) mean;
                for (int j = 0; j < d; j++) y[off + j] = (xs[off + j] - fmean) * rstd * g[j] + b[j];
            }
        });
        Tensor out = new Tensor(y, x.shape());
        Tensor[] inputs = {x};
        Autograd.Recorder r = Autograd.needed(inputs, gamma, beta);
        if (r != null) r.record("layernorm", out, inputs, grads -> layerNormBackward(grads, x, gamma, beta, eps));
        return out;
    }

    /** Layer norm's backward: gγ += Σ g·x̂, gβ += Σ g, gx = rstd·(γg − mean(γg) − x̂·mean(γg·x̂)) per row. */
    private static void layerNormBackward(Autograd.Grads grads, Tensor x, WeightTensor gamma, WeightTensor beta, double eps) {
        int d = x.dim(-1), rows = x.size() / d;
        float[] xs = x.data(), go = grads.output(), g = gamma.toFloatArray();
        float[] gg = grads.weight(gamma), gb = grads.weight(beta);
        boolean wantX = grads.wants(0);
        float[] gx = wantX ? new float[xs.length] : null;
        int tasks = Math.min(rows, 4 * Parallel.threads());
        double[][] partG = new double[tasks][d], partB = new double[tasks][d];
        Parallel.forTasks(tasks, t -> {
            int from = (int) ((long) rows * t / tasks), to = (int) ((long) rows * (t + 1) / tasks);
            double[] pg = partG[t], pb = partB[t];
            float[] xhat = new float[d];
            for (int r = from; r < to; r++) {
                int off = r * d;
                double sum = 0;
                for (int j = 0; j < d; j++) sum += xs[off + j];
                double mean = sum / d, sq = 0;
                for (int j = 0; j < d; j++) { double v = xs[off + j] - mean; sq += v * v; }
                float rstd = (float) (1.0 / Math.sqrt(sq / d + eps)), fmean = (float) mean;
                double a1 = 0, a2 = 0;
                for (int j = 0; j < d; j++) {
                    xhat[j] = (xs[off + j] - fmean) * rstd;
                    float gy = go[off + j];
                    pg[j] += (double) gy * xhat[j];
                    pb[j] += gy;
                    double dx = (double) g[j] * gy;
                    a1 += dx;
                    a2 += dx * xhat[j];
                }
                if (gx != null) {
                    float m1 = (float) (a1 / d), m2 = (float) (a2 / d);
                    for (int j = 0; j < d; j++) gx[off + j] = rstd * (g[j] * go[off + j] - m1 - xhat[j] * m2);
                }
            }
        });
        for (int j = 0; j < d; j++) {
            double sg = 0, sb = 0;
            for (int t = 0; t < tasks; t++) { sg += partG[t][j]; sb += partB[t][j]; }
            if (gg != null) gg[j] += (float) sg;
            if (gb != null) gb[j] += (float) sb;
        }
        if (wantX) grads.input(0, gx);
    }
}
