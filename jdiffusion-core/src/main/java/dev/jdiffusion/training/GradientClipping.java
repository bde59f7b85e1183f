package dev.jdiffusion.training;

import java.util.List;

/** torch.nn.utils.clip_grad_norm_ over all trained tensors (L2 norm). */
public final class GradientClipping {
    private GradientClipping() {}

    /** The L2 norm of all gradients together (accumulated in double). */
    public static double norm(List<Parameters.Parameter> parameters) {
        double sq = 0;
        for (Parameters.Parameter p : parameters) {
            double s = 0;
            for (float g : p.grad()) s += (double) g * g;
            sq += s;
        }
        return Math.sqrt(sq);
    }

    /**
     * Scales every gradient by min(1, maxNorm / (norm + 1e-6)) as clip_grad_norm_ does (it multiplies even when
     * the factor is 1); returns the norm before clipping. {@code maxNorm} ≤ 0 only measures.
     */
    public static double clip(List<Parameters.Parameter> parameters, double maxNorm) {
        double total = norm(parameters);
        if (maxNorm <= 0) return total;
        float coef = (float) Math.min(1.0, maxNorm / (total + 1e-6));
        if (coef == 1f) return total;
        for (Parameters.Parameter p : parameters) {
            float[] g = p.grad();
            for (int i = 0; i < g.length; i++) g[i] *= coef;
        }
        return total;
    }
}
