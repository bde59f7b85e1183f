package dev.jdiffusion.io.checkpoint;

/** What the UNet predicts, as a scheduler config's {@code prediction_type}. */
public enum PredictionType {
    /** The noise (SD 1.x, SD 2.x 512-base). */
    EPSILON("epsilon"),
    /** The velocity v (SD 2.x 768-v). */
    V_PREDICTION("v_prediction");

    private final String configValue;

    PredictionType(String configValue) { this.configValue = configValue; }

    /** The value in scheduler_config.json. */
    public String configValue() { return configValue; }

    /** Parses a scheduler_config.json value or a user's option ("epsilon", "v_prediction", "v"). */
    public static PredictionType parse(String s) {
        for (PredictionType p : values()) if (p.configValue.equalsIgnoreCase(s)) return p;
        if (s.equalsIgnoreCase("v")) return V_PREDICTION;
        throw new IllegalArgumentException("unknown prediction type '" + s + "' (supported: epsilon, v_prediction)");
    }
}
