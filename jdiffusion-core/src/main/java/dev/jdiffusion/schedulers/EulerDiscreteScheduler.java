package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

import java.util.Objects;

/**
 * diffusers' EulerDiscreteScheduler ("Euler"): Euler's method on the probability-flow ODE in sigma (Karras et al.
 * 2022, Algorithm 2 with s_churn = 0). Config: use_karras_sigmas, sigma_min, sigma_max, final_sigmas_type;
 * interpolation_type "log_linear" and timestep_type "continuous" (with v_prediction) are not supported.
 */
public final class EulerDiscreteScheduler extends SigmaScheduler {
    private final boolean useKarrasSigmas;
    private final Double sigmaMin;
    private final Double sigmaMax;
    private final boolean finalSigmaIsMin;

    public EulerDiscreteScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(NoiseSchedule.fromConfig(c, 0.0001, 0.02),
                PredictionType.fromConfig(c, PredictionType.EPSILON, PredictionType.V_PREDICTION, PredictionType.SAMPLE),
                TimestepSpacing.fromConfig(c, "linspace"), c.getInt("steps_offset", 0));
        SchedulerConfig.requireFalse(c, "rescale_betas_zero_snr");
        c.getEnum("interpolation_type", "linear", "linear");
        if (c.getEnum("timestep_type", "discrete", "discrete", "continuous").equals("continuous")
                && predictionType == PredictionType.V_PREDICTION)
            throw new ModelFormatException(c.file(), "timestep_type", "'continuous' with v_prediction is not supported");
        useKarrasSigmas = c.getBoolean("use_karras_sigmas", false);
        sigmaMin = c.has("sigma_min") ? c.getDouble("sigma_min") : null;
        sigmaMax = c.has("sigma_max") ? c.getDouble("sigma_max") : null;
        finalSigmaIsMin = c.getEnum("final_sigmas_type", "zero", "zero", "sigma_min").equals("sigma_min");
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        double[] t = float32Timesteps(numInferenceSteps);
        double[] s = schedule.interpolateSigmas(t);
        if (useKarrasSigmas) {
            s = NoiseSchedule.karrasSigmas(sigmaMin != null ? sigmaMin : s[s.length - 1],
                    sigmaMax != null ? sigmaMax : s[0], numInferenceSteps);
            for (int i = 0; i < t.length; i++) t[i] = (float) schedule.sigmaToT(s[i]);
        }
        sigmas = withFinalSigma(s, finalSigmaIsMin ? schedule.sigma(0) : 0);
        timesteps = t;
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        // Drawn and unused, as in diffusers, so that the generator's stream stays in step with it.
        Objects.requireNonNull(noise, "EulerDiscreteScheduler draws noise: pass a NoiseSource").randn(sample.length);
        float sigma = sigmas[stepIndex];  // sigma_hat = sigma * (gamma + 1) with gamma = 0
        float[] x0 = predOriginalSample(modelOutput, sample, sigma);
        float dt = sigmas[stepIndex + 1] - sigma;
        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) {
            float derivative = (sample[i] - x0[i]) / sigma;
            prev[i] = sample[i] + derivative * dt;
        }
        return prev;
    }
}
