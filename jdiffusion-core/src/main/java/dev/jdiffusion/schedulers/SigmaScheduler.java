package dev.jdiffusion.schedulers;

/**
 * What the k-diffusion style schedulers (Euler, Euler ancestral, Heun, LMS) share: a noise level sigma per
 * step, the UNet input scaled by 1 / sqrt(sigma^2 + 1), and img2img noise added as {@code x + sigma * noise}.
 */
abstract class SigmaScheduler implements Scheduler {
    final NoiseSchedule schedule;
    final PredictionType predictionType;
    final TimestepSpacing spacing;
    final int stepsOffset;
    /** One per timestep plus the final one; float32 as in diffusers. */
    float[] sigmas = new float[0];
    double[] timesteps = new double[0];

    SigmaScheduler(NoiseSchedule schedule, PredictionType predictionType, TimestepSpacing spacing, int stepsOffset) {
        this.schedule = schedule;
        this.predictionType = predictionType;
        this.spacing = spacing;
        this.stepsOffset = stepsOffset;
    }

    /** The spaced timesteps as float32 values, as these schedulers keep them. */
    double[] float32Timesteps(int numInferenceSteps) {
        double[] t = spacing.descending(numInferenceSteps, schedule.numTrainTimesteps(), stepsOffset);
        for (int i = 0; i < t.length; i++) t[i] = (float) t[i];
        return t;
    }

    /** The inference sigmas with {@code last} appended, cast to float32. */
    static float[] withFinalSigma(double[] sigmas, double last) {
        float[] out = new float[sigmas.length + 1];
        for (int i = 0; i < sigmas.length; i++) out[i] = (float) sigmas[i];
        out[sigmas.length] = (float) last;
        return out;
    }

    @Override
    public double[] timesteps() { return timesteps.clone(); }

    @Override
    public float[] sigmas() { return sigmas.clone(); }

    /** The largest sigma, or sqrt(max^2 + 1) with "leading" spacing (whose first timestep is not the last one). */
    @Override
    public float initNoiseSigma() {
        float max = 0;
        for (float s : sigmas) max = Math.max(max, s);
        return spacing == TimestepSpacing.LEADING ? (float) Math.sqrt(max * max + 1f) : max;
    }

    @Override
    public float[] scaleModelInput(float[] sample, int stepIndex) {
        float sigma = sigmas[stepIndex];
        float divisor = (float) Math.sqrt(sigma * sigma + 1f);
        float[] out = new float[sample.length];
        for (int i = 0; i < out.length; i++) out[i] = sample[i] / divisor;
        return out;
    }

    @Override
    public float[] addNoise(float[] original, float[] noise, int stepIndex) {
        float sigma = sigmas[stepIndex];
        float[] out = new float[original.length];
        for (int i = 0; i < out.length; i++) out[i] = original[i] + noise[i] * sigma;
        return out;
    }

    /** The denoised sample x0 that the model output implies at noise level sigma. */
    float[] predOriginalSample(float[] modelOutput, float[] sample, float sigma) {
        float[] x0 = new float[sample.length];
        switch (predictionType) {
            case EPSILON -> {
                for (int i = 0; i < x0.length; i++) x0[i] = sample[i] - sigma * modelOutput[i];
            }
            case V_PREDICTION -> {
                float c = -sigma / (float) Math.sqrt(sigma * sigma + 1f);
                float d = sigma * sigma + 1f;
                for (int i = 0; i < x0.length; i++) x0[i] = modelOutput[i] * c + sample[i] / d;
            }
            case SAMPLE -> System.arraycopy(modelOutput, 0, x0, 0, x0.length);
        }
        return x0;
    }

    /** x0 at this step's own sigma (Heun lists each sigma it evaluates, so its half steps are covered too). */
    @Override
    public float[] predOriginalSample(float[] modelOutput, int stepIndex, float[] sample) {
        return predOriginalSample(modelOutput, sample, sigmas[stepIndex]);
    }
}
