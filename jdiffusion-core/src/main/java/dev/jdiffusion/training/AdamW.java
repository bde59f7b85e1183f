package dev.jdiffusion.training;

import dev.jdiffusion.tensor.Parallel;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * torch.optim.AdamW (single-tensor, non-amsgrad; PyTorch 1.13), step for step: p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g;
 * v ← β2·v + (1 − β2)·g²; p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε). Moments in float32.
 */
public final class AdamW implements Optimizer {
    private final double beta1, beta2, eps, weightDecay;
    private final Map<String, float[]> expAvg = new HashMap<>(), expAvgSq = new HashMap<>();
    private long steps;

    public AdamW(double beta1, double beta2, double eps, double weightDecay) {
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    @Override
    public void step(List<Parameters.Parameter> parameters, double lr) {
        steps++;
        // torch computes these scalars in Python floats (double), then the tensor ops in float32.
        double bias1 = 1 - Math.pow(beta1, steps), bias2 = 1 - Math.pow(beta2, steps);
        float stepSize = (float) (lr / bias1), bias2Sqrt = (float) Math.sqrt(bias2);
        float decay = (float) (1 - lr * weightDecay), b1 = (float) beta1, oneMinusB1 = (float) (1 - beta1), b2 = (float) beta2,
                oneMinusB2 = (float) (1 - beta2), e = (float) eps;
        for (Parameters.Parameter p : parameters) {
            float[] v = p.value(), g = p.grad();
            float[] m = expAvg.computeIfAbsent(p.name(), k -> new float[v.length]);
            float[] s = expAvgSq.computeIfAbsent(p.name(), k -> new float[v.length]);
            Parallel.forRange(v.length, 1 << 14, (from, to) -> {
                for (int i = from; i < to; i++) {
                    v[i] *= decay;
                    m[i] = m[i] * b1 + oneMinusB1 * g[i];
                    s[i] = s[i] * b2 + oneMinusB2 * g[i] * g[i];
                    float denom = (float) Math.sqrt(s[i]) / bias2Sqrt + e;
                    v[i] += -stepSize * (m[i] / denom);
                }
            });
        }
    }

    @Override
    public Map<String, float[]> state() {
        Map<String, float[]> out = new LinkedHashMap<>();
        expAvg.forEach((k, a) -> out.put("exp_avg." + k, a));
        expAvgSq.forEach((k, a) -> out.put("exp_avg_sq." + k, a));
        return out;
    }

    @Override
    public void restore(Map<String, float[]> state, long stepCount) {
        expAvg.clear();
        expAvgSq.clear();
        state.forEach((k, a) -> {
            if (k.startsWith("exp_avg_sq.")) expAvgSq.put(k.substring("exp_avg_sq.".length()), a.clone());
            else if (k.startsWith("exp_avg.")) expAvg.put(k.substring("exp_avg.".length()), a.clone());
        });
        steps = stepCount;
    }

    @Override public long stepCount() { return steps; }

    @Override public String name() { return "adamw"; }
}
