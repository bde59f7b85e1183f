package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

/**
 * diffusers' DPMSolverMultistepScheduler with algorithm_type dpmsolver++ ("DPM++ 2M", and "DPM++ 2M Karras" with
 * use_karras_sigmas): a second-order multistep solver in log-SNR time on the data prediction x0 (Lu et al. 2022).
 * Config: solver_order 1 or 2, solver_type midpoint or heun, lower_order_final, euler_at_final,
 * use_karras_sigmas, final_sigmas_type, lambda_min_clipped. The SDE and non-"++" variants, third order, Lu lambdas
 * and thresholding are not supported.
 */
public final class DPMSolverMultistepScheduler extends MultistepScheduler {
    private final boolean midpoint;
    private final boolean eulerAtFinal;
    private final double lambdaMinClipped;

    public DPMSolverMultistepScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(c, 2);
        // diffusers maps "deis" to dpmsolver++ and UniPC's solver types to midpoint
        c.getEnum("algorithm_type", "dpmsolver++", "dpmsolver++", "deis");
        midpoint = !c.getEnum("solver_type", "midpoint", "midpoint", "heun", "logrho", "bh1", "bh2").equals("heun");
        eulerAtFinal = c.getBoolean("euler_at_final", false);
        lambdaMinClipped = c.getDouble("lambda_min_clipped", Double.NEGATIVE_INFINITY);
        SchedulerConfig.requireFalse(c, "use_lu_lambdas");
        if (c.has("variance_type"))
            throw new ModelFormatException(c.file(), "variance_type", "learned variances are not supported (must be null)");
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        computeSchedule(numInferenceSteps, lastTimestep(), false);
    }

    /** T minus the number of training timesteps whose lambda_t falls below lambda_min_clipped. */
    private int lastTimestep() {
        int numTrain = schedule.numTrainTimesteps();
        int clipped = 0;
        for (int t = 0; t < numTrain; t++) {
            float alphaCumprod = schedule.alphaCumprod(t);
            float lambda = (float) Math.log((float) Math.sqrt(alphaCumprod))
                    - (float) Math.log((float) Math.sqrt(1f - alphaCumprod));
            if (lambda < lambdaMinClipped) clipped++;
        }
        return numTrain - clipped;
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        int n = timesteps.length;
        // The last step falls back to first order (to sigma 0 it is exact); with at most second order, diffusers'
        // "lower_order_second" changes nothing.
        boolean lowerOrderFinalStep = stepIndex == n - 1
                && (eulerAtFinal || (lowerOrderFinal && n < 15) || !finalSigmaIsMin);
        pushModelOutput(predictX0(modelOutput, sample, stepIndex));
        float[] prev = solverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinalStep
                ? firstOrderUpdate(stepIndex, sample)
                : secondOrderUpdate(stepIndex, sample);
        if (lowerOrderNums < solverOrder) lowerOrderNums++;
        return prev;
    }

    /** DPM-Solver++(1), i.e. DDIM in x0 form: x_t = (sigma_t / sigma_s) x - alpha_t (e^-h - 1) x0. */
    private float[] firstOrderUpdate(int stepIndex, float[] sample) {
        AlphaSigma t = AlphaSigma.of(sigmas[stepIndex + 1]);
        AlphaSigma s = AlphaSigma.of(sigmas[stepIndex]);
        float h = t.lambda() - s.lambda();
        float sampleCoeff = t.sigma() / s.sigma();
        float x0Coeff = t.alpha() * ((float) Math.exp(-h) - 1f);
        float[] x0 = modelOutput(0);
        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) prev[i] = sampleCoeff * sample[i] - x0Coeff * x0[i];
        return prev;
    }

    /** Multistep DPM-Solver++(2M): the first-order step plus a correction from the last two x0 predictions. */
    private float[] secondOrderUpdate(int stepIndex, float[] sample) {
        AlphaSigma t = AlphaSigma.of(sigmas[stepIndex + 1]);
        AlphaSigma s0 = AlphaSigma.of(sigmas[stepIndex]);
        AlphaSigma s1 = AlphaSigma.of(sigmas[stepIndex - 1]);
        float lambdaS0 = s0.lambda();
        float h = t.lambda() - lambdaS0;
        float h0 = lambdaS0 - s1.lambda();
        float r0 = h0 / h;
        float d1Coeff = 1f / r0;
        float sampleCoeff = t.sigma() / s0.sigma();
        float expNegHMinus1 = (float) Math.exp(-h) - 1f;
        float d0Coeff = t.alpha() * expNegHMinus1;
        float correctionCoeff = midpoint
                ? 0.5f * (t.alpha() * expNegHMinus1)
                : t.alpha() * (expNegHMinus1 / h + 1f);
        float[] m0 = modelOutput(0);
        float[] m1 = modelOutput(1);
        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) {
            float d1 = d1Coeff * (m0[i] - m1[i]);
            prev[i] = midpoint
                    ? sampleCoeff * sample[i] - d0Coeff * m0[i] - correctionCoeff * d1
                    : sampleCoeff * sample[i] - d0Coeff * m0[i] + correctionCoeff * d1;
        }
        return prev;
    }
}
