package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

import java.util.Objects;

/**
 * diffusers' EulerAncestralDiscreteScheduler ("Euler a"): an Euler step down to sigma_down, then fresh noise of
 * size sigma_up, so that the result has noise level sigma_next (k-diffusion's sample_euler_ancestral, eta 1).
 */
public final class EulerAncestralDiscreteScheduler extends SigmaScheduler {

    public EulerAncestralDiscreteScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(NoiseSchedule.fromConfig(c, 0.0001, 0.02),
                PredictionType.fromConfig(c, PredictionType.EPSILON, PredictionType.V_PREDICTION),
                TimestepSpacing.fromConfig(c, "linspace"), c.getInt("steps_offset", 0));
        SchedulerConfig.requireFalse(c, "rescale_betas_zero_snr");
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        timesteps = float32Timesteps(numInferenceSteps);
        sigmas = withFinalSigma(schedule.interpolateSigmas(timesteps), 0);
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        Objects.requireNonNull(noise, "EulerAncestralDiscreteScheduler draws noise: pass a NoiseSource");
        float sigma = sigmas[stepIndex];
        float[] x0 = predOriginalSample(modelOutput, sample, sigma);
        float sigmaTo = sigmas[stepIndex + 1];
        float sigmaUp = (float) Math.sqrt(sigmaTo * sigmaTo * (sigma * sigma - sigmaTo * sigmaTo) / (sigma * sigma));
        float sigmaDown = (float) Math.sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);
        float dt = sigmaDown - sigma;
        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) {
            float derivative = (sample[i] - x0[i]) / sigma;
            prev[i] = sample[i] + derivative * dt;
        }
        float[] n = noise.randn(sample.length);
        for (int i = 0; i < prev.length; i++) prev[i] = prev[i] + n[i] * sigmaUp;
        return prev;
    }
}
