package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

/**
 * diffusers' DDIMScheduler with eta = 0 (the pipelines' default): the deterministic DDIM update
 * x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps. Config: clip_sample, clip_sample_range, set_alpha_to_one,
 * prediction_type epsilon, v_prediction or sample; thresholding is not supported.
 */
public final class DDIMScheduler implements Scheduler {
    private final NoiseSchedule schedule;
    private final PredictionType predictionType;
    private final TimestepSpacing spacing;
    private final int stepsOffset;
    private final boolean clipSample;
    private final float clipSampleRange;
    /** alphas_cumprod "before" timestep 0, for the last step. */
    private final float finalAlphaCumprod;
    private int numInferenceSteps;
    private double[] timesteps = new double[0];

    public DDIMScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        schedule = NoiseSchedule.fromConfig(c, 0.0001, 0.02);
        predictionType = PredictionType.fromConfig(c, PredictionType.EPSILON, PredictionType.V_PREDICTION, PredictionType.SAMPLE);
        spacing = TimestepSpacing.fromConfig(c, "leading");
        stepsOffset = c.getInt("steps_offset", 0);
        clipSample = c.getBoolean("clip_sample", true);
        clipSampleRange = (float) c.getDouble("clip_sample_range", 1.0);
        finalAlphaCumprod = c.getBoolean("set_alpha_to_one", true) ? 1f : schedule.alphaCumprod(0);
        SchedulerConfig.requireFalse(c, "thresholding");
        SchedulerConfig.requireFalse(c, "rescale_betas_zero_snr");
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        if (numInferenceSteps < 1 || numInferenceSteps > schedule.numTrainTimesteps())
            throw new IllegalArgumentException("steps must be 1 to " + schedule.numTrainTimesteps() + ", not " + numInferenceSteps);
        this.numInferenceSteps = numInferenceSteps;
        timesteps = spacing.descending(numInferenceSteps, schedule.numTrainTimesteps(), stepsOffset);
        for (int i = 0; i < timesteps.length; i++) timesteps[i] = Math.rint(timesteps[i]);
    }

    @Override
    public double[] timesteps() { return timesteps.clone(); }

    @Override
    public float[] sigmas() { return new float[0]; }

    @Override
    public float initNoiseSigma() { return 1f; }

    @Override
    public float[] scaleModelInput(float[] sample, int stepIndex) { return sample.clone(); }

    @Override
    public int order() { return 1; }

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

    @Override
    public float[] addNoise(float[] original, float[] noise, int stepIndex) {
        return schedule.addNoise(original, noise, (int) timesteps[stepIndex]);
    }

    @Override
    public float[] predOriginalSample(float[] modelOutput, int stepIndex, float[] sample) {
        return schedule.predOriginalSample(predictionType, modelOutput, sample, (int) timesteps[stepIndex]);
    }
}
