package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

import java.util.Objects;

/**
 * diffusers' DDPMScheduler: ancestral sampling of the DDPM posterior q(x_prev | x_t, x0), fresh noise at every
 * step but the one to t = 0. Config: variance_type fixed_small, fixed_small_log or fixed_large; clip_sample,
 * clip_sample_range; prediction_type epsilon, v_prediction or sample; thresholding is not supported.
 */
public final class DDPMScheduler extends AlphaScheduler {
    private final String varianceType;
    private final boolean clipSample;
    private final float clipSampleRange;

    public DDPMScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(c, PredictionType.EPSILON, PredictionType.V_PREDICTION, PredictionType.SAMPLE);
        varianceType = c.getEnum("variance_type", "fixed_small", "fixed_small", "fixed_small_log", "fixed_large");
        clipSample = c.getBoolean("clip_sample", true);
        clipSampleRange = (float) c.getDouble("clip_sample_range", 1.0);
        SchedulerConfig.requireFalse(c, "thresholding");
        SchedulerConfig.requireFalse(c, "rescale_betas_zero_snr");
    }

    /** The training schedule's ᾱ_t (float32, as diffusers' alphas_cumprod), t = 0 … num_train_timesteps − 1. */
    public float[] alphasCumprod() {
        float[] a = new float[schedule.numTrainTimesteps()];
        for (int t = 0; t < a.length; t++) a[t] = schedule.alphaCumprod(t);
        return a;
    }

    /** The config's prediction_type: "epsilon", "v_prediction" or "sample". */
    public String predictionType() {
        return switch (predictionType) {
            case EPSILON -> "epsilon";
            case V_PREDICTION -> "v_prediction";
            case SAMPLE -> "sample";
        };
    }

    @Override
    public void setTimesteps(int numInferenceSteps) { setIntegerTimesteps(numInferenceSteps); }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        int t = (int) timesteps[stepIndex];
        int prevT = t - schedule.numTrainTimesteps() / numInferenceSteps;
        float alphaProd = schedule.alphaCumprod(t);
        float alphaProdPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : 1f;
        float betaProd = 1f - alphaProd;
        float betaProdPrev = 1f - alphaProdPrev;
        float currentAlpha = alphaProd / alphaProdPrev;
        float currentBeta = 1f - currentAlpha;
        float sqrtAlpha = (float) Math.sqrt(alphaProd);
        float sqrtBeta = (float) Math.sqrt(betaProd);
        // Formula (7) of the DDPM paper: the posterior mean's coefficients for x0 and x_t.
        float x0Coeff = (float) Math.sqrt(alphaProdPrev) * currentBeta / betaProd;
        float sampleCoeff = (float) Math.sqrt(currentAlpha) * betaProdPrev / betaProd;

        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) {
            float x = sample[i];
            float m = modelOutput[i];
            float x0 = switch (predictionType) {
                case EPSILON -> (x - sqrtBeta * m) / sqrtAlpha;
                case SAMPLE -> m;
                case V_PREDICTION -> sqrtAlpha * x - sqrtBeta * m;
            };
            if (clipSample) x0 = Math.clamp(x0, -clipSampleRange, clipSampleRange);
            prev[i] = x0Coeff * x0 + sampleCoeff * x;
        }
        if (t > 0) {
            float[] n = Objects.requireNonNull(noise, "DDPMScheduler draws noise: pass a NoiseSource").randn(sample.length);
            float std = standardDeviation(alphaProd, alphaProdPrev, currentBeta);
            for (int i = 0; i < prev.length; i++) prev[i] = prev[i] + std * n[i];
        }
        return prev;
    }

    /** The noise scale of the step: _get_variance, and its square root where diffusers takes one. */
    private float standardDeviation(float alphaProd, float alphaProdPrev, float currentBeta) {
        // beta-tilde, the posterior variance, clamped to stay positive
        float variance = Math.max((1f - alphaProdPrev) / (1f - alphaProd) * currentBeta, 1e-20f);
        return switch (varianceType) {
            case "fixed_small_log" -> (float) Math.exp(0.5f * (float) Math.log(variance));
            case "fixed_large" -> (float) Math.sqrt(currentBeta);
            default -> (float) Math.sqrt(variance);
        };
    }
}
