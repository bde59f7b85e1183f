package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

/**
 * What the DDPM-family schedulers (DDIM, DDPM, PNDM) share: integer timesteps on the training schedule's
 * ᾱ_t, the UNet input unscaled (init_noise_sigma 1, no sigmas), img2img noise added as
 * {@code sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) noise}, and one model evaluation per step. Their defaults are diffusers':
 * betas 0.0001 to 0.02, "leading" spacing, steps_offset 0.
 */
abstract class AlphaScheduler implements Scheduler {
    final NoiseSchedule schedule;
    final PredictionType predictionType;
    final TimestepSpacing spacing;
    final int stepsOffset;
    int numInferenceSteps;
    double[] timesteps = new double[0];

    /** {@code c} is the effective config ({@link SchedulerConfig#effective}); {@code supported} the prediction types. */
    AlphaScheduler(JsonConfig c, PredictionType... supported) {
        schedule = NoiseSchedule.fromConfig(c, 0.0001, 0.02);
        predictionType = PredictionType.fromConfig(c, supported);
        spacing = TimestepSpacing.fromConfig(c, "leading");
        stepsOffset = c.getInt("steps_offset", 0);
    }

    /** The spaced timesteps, descending, rounded to integers as DDIM and DDPM keep them. */
    double[] integerTimesteps(int numInferenceSteps) {
        double[] t = spacing.descending(numInferenceSteps, schedule.numTrainTimesteps(), stepsOffset);
        for (int i = 0; i < t.length; i++) t[i] = Math.rint(t[i]);
        return t;
    }

    /** set_timesteps of DDIM and DDPM: 1 to num_train_timesteps steps, spaced and rounded. */
    void setIntegerTimesteps(int numInferenceSteps) {
        if (numInferenceSteps < 1 || numInferenceSteps > schedule.numTrainTimesteps())
            throw new IllegalArgumentException("steps must be 1 to " + schedule.numTrainTimesteps() + ", not " + numInferenceSteps);
        this.numInferenceSteps = numInferenceSteps;
        timesteps = integerTimesteps(numInferenceSteps);
    }

    @Override
    public double[] timesteps() { return timesteps.clone(); }

    @Override
    public float[] sigmas() { return new float[0]; }

    @Override
    public float[] addNoise(float[] original, float[] noise, int stepIndex) {
        return schedule.addNoise(original, noise, (int) timesteps[stepIndex]);
    }

    @Override
    public float[] predOriginalSample(float[] modelOutput, int stepIndex, float[] sample) {
        return schedule.predOriginalSample(predictionType, modelOutput, sample, (int) timesteps[stepIndex]);
    }
}
