package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

import java.util.Arrays;

/** What the UNet predicts (config key {@code prediction_type}): the noise, the velocity v, or the clean sample. */
enum PredictionType {
    EPSILON("epsilon"), V_PREDICTION("v_prediction"), SAMPLE("sample");

    private final String configName;

    PredictionType(String configName) { this.configName = configName; }

    /** Reads {@code prediction_type} (default epsilon), allowing only what the scheduler class supports. */
    static PredictionType fromConfig(JsonConfig config, PredictionType... supported) {
        String[] names = Arrays.stream(supported).map(p -> p.configName).toArray(String[]::new);
        String value = config.getEnum("prediction_type", "epsilon", names);
        for (PredictionType p : supported) if (p.configName.equals(value)) return p;
        throw new AssertionError(value);
    }
}
