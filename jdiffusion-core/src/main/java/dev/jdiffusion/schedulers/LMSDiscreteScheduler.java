package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;

/**
 * diffusers' LMSDiscreteScheduler ("LMS"): linear multistep in sigma with the last (up to) 4 derivatives, the
 * coefficients being integrals of the Lagrange basis polynomials over [sigma_i, sigma_i+1].
 */
public final class LMSDiscreteScheduler extends SigmaScheduler {
    private static final int ORDER = 4;
    private final boolean useKarrasSigmas;
    /** The latest derivative first. */
    private final Deque<float[]> derivatives = new ArrayDeque<>();

    public LMSDiscreteScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(NoiseSchedule.fromConfig(c, 0.0001, 0.02),
                PredictionType.fromConfig(c, PredictionType.EPSILON, PredictionType.V_PREDICTION, PredictionType.SAMPLE),
                TimestepSpacing.fromConfig(c, "linspace"), c.getInt("steps_offset", 0));
        useKarrasSigmas = c.getBoolean("use_karras_sigmas", false);
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        double[] t = float32Timesteps(numInferenceSteps);
        double[] s = schedule.interpolateSigmas(t);
        if (useKarrasSigmas) {
            s = NoiseSchedule.karrasSigmas(s[s.length - 1], s[0], numInferenceSteps);
            for (int i = 0; i < t.length; i++) t[i] = schedule.sigmaToT(s[i]);
        }
        sigmas = withFinalSigma(s, 0);
        timesteps = t;
        derivatives.clear();
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        float sigma = sigmas[stepIndex];
        float[] x0 = predOriginalSample(modelOutput, sample, sigma);
        float[] derivative = new float[sample.length];
        for (int i = 0; i < derivative.length; i++) derivative[i] = (sample[i] - x0[i]) / sigma;
        derivatives.addFirst(derivative);
        if (derivatives.size() > ORDER) derivatives.removeLast();

        // As diffusers: the order follows the step index, and surplus coefficients find no derivative (img2img).
        int order = Math.min(stepIndex + 1, ORDER);
        float[] sum = new float[sample.length];
        Iterator<float[]> d = derivatives.iterator();
        for (int k = 0; k < order && d.hasNext(); k++) {
            float coeff = (float) lmsCoefficient(order, stepIndex, k);
            float[] dk = d.next();
            for (int i = 0; i < sum.length; i++) sum[i] = sum[i] + coeff * dk[i];
        }
        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) prev[i] = sample[i] + sum[i];
        return prev;
    }

    /**
     * The integral over [sigma_t, sigma_t+1] of the Lagrange basis polynomial that is 1 at sigma_(t - current) and
     * 0 at the other sigmas of the last {@code order} steps. diffusers integrates numerically (scipy quad); the
     * polynomial has degree at most 3, so two-point Gauss–Legendre is exact.
     */
    private double lmsCoefficient(int order, int t, int current) {
        double a = sigmas[t];
        double b = sigmas[t + 1];
        double mid = (a + b) / 2;
        double half = (b - a) / 2;
        double node = half / Math.sqrt(3);
        return half * (lagrange(order, t, current, mid - node) + lagrange(order, t, current, mid + node));
    }

    private double lagrange(int order, int t, int current, double tau) {
        double prod = 1;
        for (int k = 0; k < order; k++) {
            if (k == current) continue;
            prod *= (tau - sigmas[t - k]) / ((double) sigmas[t - current] - sigmas[t - k]);
        }
        return prod;
    }
}
