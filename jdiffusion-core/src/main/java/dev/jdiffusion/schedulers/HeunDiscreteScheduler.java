package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

/**
 * diffusers' HeunDiscreteScheduler ("Heun"): Heun's method (Karras et al. 2022, Algorithm 1), an Euler step
 * followed by a correction with the slope at its end. Every timestep but the first appears twice, and the model
 * is evaluated at each: {@link #order()} is 2. The last step, to sigma 0, is a plain Euler step.
 */
public final class HeunDiscreteScheduler extends SigmaScheduler {
    private final boolean useKarrasSigmas;
    private final boolean clipSample;
    private final float clipSampleRange;
    // Between the two halves of a step: the first slope, the step size and the sample it started from.
    private float[] prevDerivative;
    private float dt;
    private float[] firstSample;

    public HeunDiscreteScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(NoiseSchedule.fromConfig(c, 0.00085, 0.012),
                PredictionType.fromConfig(c, PredictionType.EPSILON, PredictionType.V_PREDICTION, PredictionType.SAMPLE),
                TimestepSpacing.fromConfig(c, "linspace"), c.getInt("steps_offset", 0));
        useKarrasSigmas = c.getBoolean("use_karras_sigmas", false);
        clipSample = c.getBoolean("clip_sample", false);
        clipSampleRange = (float) c.getDouble("clip_sample_range", 1.0);
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        double[] t = float32Timesteps(numInferenceSteps);
        double[] s = schedule.interpolateSigmas(t);
        if (useKarrasSigmas) {
            s = NoiseSchedule.karrasSigmas(s[s.length - 1], s[0], numInferenceSteps);
            for (int i = 0; i < t.length; i++) t[i] = schedule.sigmaToT(s[i]);  // float64 here, unlike Euler
        }
        float[] base = withFinalSigma(s, 0);
        // sigmas [s0, s1, s1, s2, s2, ..., 0] and timesteps [t0, t1, t1, t2, t2, ...]
        int n = t.length;
        sigmas = new float[2 * n];
        timesteps = new double[2 * n - 1];
        sigmas[0] = base[0];
        timesteps[0] = t[0];
        for (int i = 1; i < n; i++) {
            sigmas[2 * i - 1] = sigmas[2 * i] = base[i];
            timesteps[2 * i - 1] = timesteps[2 * i] = t[i];
        }
        sigmas[2 * n - 1] = base[n];
        prevDerivative = null;
        firstSample = null;
    }

    @Override
    public int order() { return 2; }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        boolean firstOrder = prevDerivative == null;
        float sigma = firstOrder ? sigmas[stepIndex] : sigmas[stepIndex - 1];
        float sigmaNext = firstOrder ? sigmas[stepIndex + 1] : sigmas[stepIndex];
        float[] x0 = predOriginalSample(modelOutput, sample, firstOrder ? sigma : sigmaNext);
        if (clipSample) for (int i = 0; i < x0.length; i++) x0[i] = Math.clamp(x0[i], -clipSampleRange, clipSampleRange);

        float[] derivative = new float[sample.length];
        float[] from;
        float h;
        if (firstOrder) {
            for (int i = 0; i < derivative.length; i++) derivative[i] = (sample[i] - x0[i]) / sigma;
            h = sigmaNext - sigma;
            prevDerivative = derivative;
            dt = h;
            firstSample = sample;
            from = sample;
        } else {
            for (int i = 0; i < derivative.length; i++)
                derivative[i] = (prevDerivative[i] + (sample[i] - x0[i]) / sigmaNext) / 2;
            h = dt;
            from = firstSample;
            prevDerivative = null;
            firstSample = null;
        }
        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) prev[i] = from[i] + derivative[i] * h;
        return prev;
    }
}
