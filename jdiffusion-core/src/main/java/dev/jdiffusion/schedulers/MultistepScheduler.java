package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

/**
 * What DPM-Solver++ and UniPC share: integer timesteps chosen out of {@code n + 1} evenly spaced ones (the last
 * dropped), sigmas interpolated or Karras-spaced, data predictions x0 remembered across steps, and img2img noise
 * as {@code alpha_t x + sigma_t noise}. The model input is not scaled.
 */
abstract class MultistepScheduler implements Scheduler {
    final NoiseSchedule schedule;
    final PredictionType predictionType;
    final TimestepSpacing spacing;
    final int stepsOffset;
    final int solverOrder;
    final boolean lowerOrderFinal;
    final boolean useKarrasSigmas;
    final boolean finalSigmaIsMin;
    float[] sigmas = new float[0];
    double[] timesteps = new double[0];
    /** The converted model outputs of the last {@code solverOrder} steps, oldest first (null before). */
    float[][] modelOutputs;
    /** How many steps have run, up to solverOrder: the order the history allows. */
    int lowerOrderNums;

    MultistepScheduler(JsonConfig c, int maxSolverOrder) {
        schedule = NoiseSchedule.fromConfig(c, 0.0001, 0.02);
        predictionType = PredictionType.fromConfig(c, PredictionType.EPSILON, PredictionType.V_PREDICTION, PredictionType.SAMPLE);
        spacing = TimestepSpacing.fromConfig(c, "linspace");
        stepsOffset = c.getInt("steps_offset", 0);
        solverOrder = SchedulerConfig.intInRange(c, "solver_order", 2, 1, maxSolverOrder);
        lowerOrderFinal = c.getBoolean("lower_order_final", true);
        useKarrasSigmas = c.getBoolean("use_karras_sigmas", false);
        finalSigmaIsMin = c.getEnum("final_sigmas_type", "zero", "zero", "sigma_min").equals("sigma_min");
        SchedulerConfig.requireFalse(c, "thresholding");
        SchedulerConfig.requireFalse(c, "rescale_betas_zero_snr");
        modelOutputs = new float[solverOrder][];
    }

    /**
     * diffusers' set_timesteps of both classes: timesteps up to {@code lastTimestep}, their sigmas, and, with
     * Karras sigmas, the timesteps recomputed from those (rounded). {@code karrasFinalIsLast}: UniPC ends a Karras
     * schedule with sigma_min = the last Karras sigma, DPM-Solver with the training schedule's smallest sigma.
     */
    void computeSchedule(int n, int lastTimestep, boolean karrasFinalIsLast) {
        int numTrain = schedule.numTrainTimesteps();
        double[] t;
        if (spacing == TimestepSpacing.TRAILING) {
            t = TimestepSpacing.trailing(lastTimestep, (double) numTrain / n);
        } else {
            double[] all = spacing.descending(n + 1, lastTimestep, stepsOffset);
            t = java.util.Arrays.copyOf(all, n);  // drop the last (lowest) of n + 1
            for (int i = 0; i < n; i++) t[i] = Math.rint(t[i]);
        }
        double[] s;
        double last = finalSigmaIsMin ? schedule.sigma(0) : 0;
        if (useKarrasSigmas) {
            s = NoiseSchedule.karrasSigmas(schedule.sigma(0), schedule.sigma(numTrain - 1), n);
            t = new double[n];
            for (int i = 0; i < n; i++) t[i] = Math.rint(schedule.sigmaToT(s[i]));
            if (finalSigmaIsMin && karrasFinalIsLast) last = s[n - 1];
        } else {
            s = schedule.interpolateSigmas(t);
        }
        sigmas = SigmaScheduler.withFinalSigma(s, last);
        timesteps = t;
        modelOutputs = new float[solverOrder][];
        lowerOrderNums = 0;
    }

    /** Remembers {@code x0} as the latest model output, dropping the oldest. */
    void pushModelOutput(float[] x0) {
        System.arraycopy(modelOutputs, 1, modelOutputs, 0, solverOrder - 1);
        modelOutputs[solverOrder - 1] = x0;
    }

    /** The model output {@code back} steps ago (0 = latest), diffusers' {@code model_outputs[-(back + 1)]}. */
    float[] modelOutput(int back) {
        return modelOutputs[solverOrder - 1 - back];
    }

    /** The data prediction x0 at step i (the "++" of DPM-Solver++, UniPC's predict_x0). */
    float[] predictX0(float[] modelOutput, float[] sample, int stepIndex) {
        AlphaSigma as = AlphaSigma.of(sigmas[stepIndex]);
        float[] x0 = new float[sample.length];
        for (int i = 0; i < x0.length; i++) {
            x0[i] = switch (predictionType) {
                case EPSILON -> (sample[i] - as.sigma() * modelOutput[i]) / as.alpha();
                case SAMPLE -> modelOutput[i];
                case V_PREDICTION -> as.alpha() * sample[i] - as.sigma() * modelOutput[i];
            };
        }
        return x0;
    }

    @Override
    public double[] timesteps() { return timesteps.clone(); }

    @Override
    public float[] sigmas() { return sigmas.clone(); }

    @Override
    public float[] addNoise(float[] original, float[] noise, int stepIndex) {
        AlphaSigma as = AlphaSigma.of(sigmas[stepIndex]);
        float[] out = new float[original.length];
        for (int i = 0; i < out.length; i++) out[i] = as.alpha() * original[i] + as.sigma() * noise[i];
        return out;
    }

    @Override
    public float[] predOriginalSample(float[] modelOutput, int stepIndex, float[] sample) {
        return predictX0(modelOutput, sample, stepIndex);
    }
}
