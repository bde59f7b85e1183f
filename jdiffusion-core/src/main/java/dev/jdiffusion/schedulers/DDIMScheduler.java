package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

/**
 * diffusers' DDIMScheduler with eta = 0 (the pipelines' default): the deterministic DDIM update
 * x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps. Config: clip_sample, clip_sample_range, set_alpha_to_one,
 * prediction_type epsilon, v_prediction or sample; thresholding is not supported.
 */
public final class DDIMScheduler extends AlphaScheduler {
    private final boolean clipSample;
    private final float clipSampleRange;
    /** alphas_cumprod "before" timestep 0, for the last step. */
    private final float finalAlphaCumprod;

    public DDIMScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(c, PredictionType.EPSILON, PredictionType.V_PREDICTION, PredictionType.SAMPLE);
        clipSample = c.getBoolean("clip_sample", true);
        clipSampleRange = (float) c.getDouble("clip_sample_range", 1.0);
        finalAlphaCumprod = c.getBoolean("set_alpha_to_one", true) ? 1f : schedule.alphaCumprod(0);
        SchedulerConfig.requireFalse(c, "thresholding");
        SchedulerConfig.requireFalse(c, "rescale_betas_zero_snr");
    }

    @Override
    public void setTimesteps(int numInferenceSteps) { setIntegerTimesteps(numInferenceSteps); }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        int t = (int) timesteps[stepIndex];
        int prevT = t - schedule.numTrainTimesteps() / numInferenceSteps;
        float alphaProd = schedule.alphaCumprod(t);
        float alphaProdPrev = prevT >= 0 ? schedule.alphaCumprod(prevT) : finalAlphaCumprod;
        float sqrtAlpha = (float) Math.sqrt(alphaProd);
        float sqrtBeta = (float) Math.sqrt(1f - alphaProd);
        float sqrtAlphaPrev = (float) Math.sqrt(alphaProdPrev);
        float directionCoeff = (float) Math.sqrt(1f - alphaProdPrev);  // std_dev_t = 0 with eta = 0

        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) {
            float x = sample[i];
            float m = modelOutput[i];
            float x0;
            float eps;
            switch (predictionType) {
                case EPSILON -> { x0 = (x - sqrtBeta * m) / sqrtAlpha; eps = m; }
                case SAMPLE -> { x0 = m; eps = (x - sqrtAlpha * x0) / sqrtBeta; }
                default -> { x0 = sqrtAlpha * x - sqrtBeta * m; eps = sqrtAlpha * m + sqrtBeta * x; }
            }
            if (clipSample) x0 = Math.clamp(x0, -clipSampleRange, clipSampleRange);
            prev[i] = sqrtAlphaPrev * x0 + directionCoeff * eps;
        }
        return prev;
    }
}
