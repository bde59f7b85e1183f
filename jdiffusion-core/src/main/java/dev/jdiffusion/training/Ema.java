package dev.jdiffusion.training;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * diffusers' EMAModel (no warmup): after optimizer step t the shadow weights move toward the weights with
 * decay min(max_decay, (1 + s) / (10 + s)), s = t − 1 (0 at the first step, so the shadow starts as a copy).
 */
public final class Ema {
    private final double maxDecay;
    private final Map<String, float[]> shadow = new LinkedHashMap<>();
    private long steps;

    public Ema(double maxDecay) { this.maxDecay = maxDecay; }

    public void update(List<Parameters.Parameter> parameters) {
        steps++;
        long s = Math.max(0, steps - 1);
        double decay = s <= 0 ? 0.0 : Math.min(maxDecay, (1.0 + s) / (10.0 + s));
        float oneMinus = (float) (1 - decay);
        for (Parameters.Parameter p : parameters) {
            float[] sh = shadow.computeIfAbsent(p.name(), k -> p.value().clone()), v = p.value();
            for (int i = 0; i < v.length; i++) sh[i] -= oneMinus * (sh[i] - v[i]);
        }
    }

    /** The shadow values by parameter name (live arrays). */
    public Map<String, float[]> shadow() { return shadow; }

    public long steps() { return steps; }

    public void restore(Map<String, float[]> values, long stepCount) {
        shadow.clear();
        values.forEach((k, v) -> shadow.put(k, v.clone()));
        steps = stepCount;
    }
}
