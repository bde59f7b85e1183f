package dev.jdiffusion.tensor;

/** Group norm and layer norm, float32 in and out, statistics accumulated in double. */
public final class Norms {
    private Norms() {}

    /**
     * Group norm over channels-last (N, H, W, C): each of {@code groups} runs of C/groups channels is
     * normalised over all pixels, then scaled by gamma and shifted by beta per channel. With
     * {@code silu} the SiLU activation is applied in the same pass (ResNet blocks always follow one with it).
     */
    public static Tensor groupNorm(Tensor x, int groups, WeightTensor gamma, WeightTensor beta, double eps, boolean silu) {
        int n = x.dim(0), c = x.dim(-1);
        int pixels = x.size() / (n * c);
        if (c % groups != 0) throw new IllegalArgumentException(c + " channels do not split into " + groups + " groups");
        int cg = c / groups;
        float[] g = gamma.toFloatArray(), b = beta.toFloatArray();
        float[] xs = x.data(), y = new float[xs.length];
        Parallel.forRange(n * groups, 1, (from, to) -> {
            for (int ng = from; ng < to; ng++) {
                int bi = ng / groups, c0 = (ng % groups) * cg;
                int base = bi * pixels * c;
                double sum = 0;
                for (int p = 0; p < pixels; p++) {
                    int off = base + p * c + c0;
                    for (int j = 0; j < cg; j++) sum += xs[off + j];
                }
                double count = (double) pixels * cg, mean = sum / count, sq = 0;
                for (int p = 0; p < pixels; p++) {
                    int off = base + p * c + c0;
                    for (int j = 0; j < cg; j++) { double d = xs[off + j] - mean; sq += d * d; }
                }
                float rstd = (float) (1.0 / Math.sqrt(sq / count + eps));
                float fmean = (float) mean;
                for (int p = 0; p < pixels; p++) {
                    int off = base + p * c + c0;
                    for (int j = 0; j < cg; j++) {
                        float v = (xs[off + j] - fmean) * rstd * g[c0 + j] + b[c0 + j];
                        y[off + j] = silu ? Activations.silu(v) : v;
                    }
                }
            }
        });
        return new Tensor(y, x.shape());
    }

    /** Layer norm over the last dimension. */
    public static Tensor layerNorm(Tensor x, WeightTensor gamma, WeightTensor beta, double eps) {
        int d = x.dim(-1), rows = x.size() / d;
        float[] g = gamma.toFloatArray(), b = beta.toFloatArray();
        float[] xs = x.data(), y = new float[xs.length];
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
