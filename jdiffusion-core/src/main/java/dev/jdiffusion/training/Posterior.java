package dev.jdiffusion.training;

import dev.jdiffusion.tensor.Autograd;
import dev.jdiffusion.tensor.Tensor;

/**
 * diffusers' DiagonalGaussianDistribution as a differentiable operation: from the encoder's moments (μ ⧺ log σ²,
 * channels-last) the sample z = μ + σ·ε, with log σ² clamped to [-30, 20]; its backward also carries the KL
 * term's gradient, weighted, so that the KL loss needs no operation of its own.
 */
final class Posterior {
    private Posterior() {}

    /**
     * @param klScale the KL term's weight in the loss per sample's KL (kl_weight / batch)
     * @param klSum   receives Σ over the batch of each sample's 0.5·Σ(μ² + σ² − 1 − log σ²)
     */
    static Tensor sample(Tensor moments, Tensor eps, double klScale, double[] klSum) {
        int c2 = moments.dim(-1), c = c2 / 2, pixels = moments.size() / c2;
        float[] m = moments.data(), e = eps.data(), z = new float[pixels * c];
        double kl = 0;
        for (int p = 0; p < pixels; p++)
            for (int j = 0; j < c; j++) {
                float mean = m[p * c2 + j], logvar = Math.clamp(m[p * c2 + c + j], -30f, 20f);
                float std = (float) Math.exp(0.5f * logvar), var = (float) Math.exp(logvar);
                z[p * c + j] = mean + std * e[p * c + j];
                kl += 0.5 * ((double) mean * mean + var - 1.0 - logvar);
            }
        klSum[0] = kl;
        int[] shape = moments.shape();
        shape[shape.length - 1] = c;
        Tensor out = new Tensor(z, shape);
        Autograd.Recorder r = Autograd.recorder();
        if (r != null && r.requiresGrad(moments)) r.record("posterior sample + KL", out, new Tensor[]{moments}, g -> {
            float[] gz = g.output(), gm = new float[m.length];
            for (int p = 0; p < pixels; p++)
                for (int j = 0; j < c; j++) {
                    float raw = m[p * c2 + c + j], logvar = Math.clamp(raw, -30f, 20f);
                    double std = Math.exp(0.5 * logvar), var = Math.exp(logvar);
                    double gzv = gz[p * c + j];
                    gm[p * c2 + j] = (float) (gzv + klScale * m[p * c2 + j]);
                    boolean inside = raw >= -30f && raw <= 20f;
                    gm[p * c2 + c + j] = inside ? (float) (gzv * e[p * c + j] * 0.5 * std + klScale * 0.5 * (var - 1.0)) : 0f;
                }
            g.input(0, gm);
        });
        return out;
    }
}
