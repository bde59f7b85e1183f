package dev.jdiffusion.training;

import dev.jdiffusion.tensor.Parallel;

import java.util.List;
import java.util.Map;

/** torch.optim.SGD without momentum or weight decay: p ← p − lr·g. */
public final class Sgd implements Optimizer {
    private long steps;

    @Override
    public void step(List<Parameters.Parameter> parameters, double lr) {
        float a = (float) -lr;
        for (Parameters.Parameter p : parameters) {
            float[] v = p.value(), g = p.grad();
            Parallel.forRange(v.length, 1 << 14, (from, to) -> {
                for (int i = from; i < to; i++) v[i] += a * g[i];
            });
        }
        steps++;
    }

    @Override public Map<String, float[]> state() { return Map.of(); }

    @Override public void restore(Map<String, float[]> state, long stepCount) { steps = stepCount; }

    @Override public long stepCount() { return steps; }

    @Override public String name() { return "sgd"; }
}
