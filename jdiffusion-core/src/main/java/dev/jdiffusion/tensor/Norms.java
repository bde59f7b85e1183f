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
     */
    public record Normalized(Tensor x, float[] mean, float[] scale, float[] shift, boolean silu) {
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
            return new Tensor(y, x.shape());
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
        float[] scale = new float[n * c], shift = new float[n * c];
        for (int bi = 0; bi < n; bi++)
            for (int gi = 0; gi < groups; gi++) {
                double sq = 0;
                for (int j = 0; j < cg; j++) sq += chanSq[bi * c + gi * cg + j];
                float rs = (float) (1.0 / Math.sqrt(sq / ((double) pixels * cg) + eps));
                for (int j = 0; j < cg; j++) {
                    int ch = gi * cg + j;
                    scale[bi * c + ch] = rs * g[ch];
                    shift[bi * c + ch] = b[ch];
                }
            }
        if (OpProfile.ON) OpProfile.add("groupnorm statistics " + java.util.Arrays.toString(x.shape()), System.nanoTime() - t0, 0);
        return new Normalized(x, chanMean, scale, shift, silu);
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
        return new Tensor(y, x.shape());
    }
}
