package dev.jdiffusion.training;

import java.util.List;
import java.util.Map;

/**
 * An update rule over the trained tensors, as torch.optim defines it. State is float32, one array per
 * state kind and parameter, so that a checkpoint can save it and a resumed run continue bit for bit.
 */
public interface Optimizer {
    /** Updates every parameter in place from its gradient, at learning rate {@code lr}. */
    void step(List<Parameters.Parameter> parameters, double lr);

    /** The state to save: name ("exp_avg.unet.conv_in.weight", ...) → values; plus {@link #stepCount()}. */
    Map<String, float[]> state();

    /** Restores what {@link #state()} returned (arrays are copied into place) and the step count. */
    void restore(Map<String, float[]> state, long stepCount);

    long stepCount();

    /** "sgd" or "adamw". */
    String name();

    static Optimizer create(String name, double weightDecay) {
        return switch (name) {
            case "sgd" -> new Sgd();
            case "adamw" -> new AdamW(0.9, 0.999, 1e-8, weightDecay);
            default -> throw new IllegalArgumentException("--optimizer must be sgd or adamw, not " + name);
        };
    }
}
