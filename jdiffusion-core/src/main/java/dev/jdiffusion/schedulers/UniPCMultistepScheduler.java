package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

import java.util.HashSet;
import java.util.Set;

/**
 * diffusers' UniPCMultistepScheduler (Zhao et al. 2023): a multistep predictor (UniP) whose result is refined by
 * a corrector (UniC) once the model has been evaluated at it, at the start of the next step. Config: solver_order
 * 1 or 2, solver_type bh1 or bh2, predict_x0, lower_order_final, disable_corrector, use_karras_sigmas,
 * final_sigmas_type; solver_p and thresholding are not supported.
 */
public final class UniPCMultistepScheduler extends MultistepScheduler {
    private final boolean bh2;
    private final boolean predictX0;
    private final Set<Integer> disableCorrector;
    private float[] lastSample;
    /** The predictor order of the previous step, which its corrector reuses. */
    private int thisOrder;

    public UniPCMultistepScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(c, 2);
        // diffusers maps DPM-Solver's solver types to bh2
        bh2 = !c.getEnum("solver_type", "bh2", "bh1", "bh2", "midpoint", "heun", "logrho").equals("bh1");
        predictX0 = c.getBoolean("predict_x0", true);
        disableCorrector = c.has("disable_corrector") ? new HashSet<>(c.getIntList("disable_corrector")) : Set.of();
        SchedulerConfig.requireNull(c, "solver_p");
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        computeSchedule(numInferenceSteps, schedule.numTrainTimesteps(), true);
        lastSample = null;
        thisOrder = 0;
    }

    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        boolean useCorrector = stepIndex > 0 && !disableCorrector.contains(stepIndex - 1) && lastSample != null;
        float[] converted = convertModelOutput(modelOutput, sample, stepIndex);
        if (useCorrector) sample = correctorUpdate(converted, stepIndex, sample);

        pushModelOutput(converted);
        int order = lowerOrderFinal ? Math.min(solverOrder, timesteps.length - stepIndex) : solverOrder;
        thisOrder = Math.min(order, lowerOrderNums + 1);  // warm-up: no more history than steps taken
        lastSample = sample;
        float[] prev = predictorUpdate(stepIndex, sample, thisOrder);
        if (lowerOrderNums < solverOrder) lowerOrderNums++;
        return prev;
    }

    /** x0 with predict_x0 (the default), else the noise prediction. */
    private float[] convertModelOutput(float[] modelOutput, float[] sample, int stepIndex) {
        if (predictX0) return predictX0(modelOutput, sample, stepIndex);
        AlphaSigma as = AlphaSigma.of(sigmas[stepIndex]);
        float[] eps = new float[sample.length];
        for (int i = 0; i < eps.length; i++) {
            eps[i] = switch (predictionType) {
                case EPSILON -> modelOutput[i];
                case SAMPLE -> (sample[i] - as.alpha() * modelOutput[i]) / as.sigma();
                case V_PREDICTION -> as.alpha() * modelOutput[i] + as.sigma() * sample[i];
            };
        }
        return eps;
    }

    /** UniP (multistep_uni_p_bh_update): from sigmas[i] to sigmas[i + 1]. */
    private float[] predictorUpdate(int stepIndex, float[] x, int order) {
        Coefficients k = coefficients(stepIndex + 1, stepIndex, order);
        float[] m0 = modelOutput(0);
        // order 2: rhos_p = [0.5] (order 1 has no history term)
        float[] d1 = order == 2 ? k.d1(m0, modelOutput(1)) : null;
        float[] prev = new float[x.length];
        for (int i = 0; i < prev.length; i++) {
            float base = k.sampleCoeff * x[i] - k.m0Coeff * m0[i];
            prev[i] = d1 == null ? base : base - k.resCoeff * (0.5f * d1[i]);
        }
        return prev;
    }

    /** UniC (multistep_uni_c_bh_update): redoes the last step with the model output at its end. */
    private float[] correctorUpdate(float[] modelT, int stepIndex, float[] thisSample) {
        int order = thisOrder;
        Coefficients k = coefficients(stepIndex, stepIndex - 1, order);
        float[] m0 = modelOutput(0);
        float[] x = lastSample;
        float[] rhos;
        float[] d1 = null;
        if (order == 1) {
            rhos = new float[] {0.5f};
        } else {
            d1 = k.d1(m0, modelOutput(1));
            rhos = solve(new float[][] {{1f, 1f}, {k.rk, 1f}}, new float[] {k.b[0], k.b[1]});
        }
        float rhoT = rhos[rhos.length - 1];
        float[] corrected = new float[thisSample.length];
        for (int i = 0; i < corrected.length; i++) {
            float base = k.sampleCoeff * x[i] - k.m0Coeff * m0[i];
            float corrRes = d1 == null ? 0f : rhos[0] * d1[i];
            float d1t = modelT[i] - m0[i];
            corrected[i] = base - k.resCoeff * (corrRes + rhoT * d1t);
        }
        return corrected;
    }

    /**
     * The scalars of one UniP/UniC update from sigmas[s0] to sigmas[t]: the first-order part
     * {@code sampleCoeff * x - m0Coeff * m0}, the factor of the higher-order residual, rk for the previous
     * point (at sigmas[s0 - 1]) and the right-hand side b of the order conditions.
     */
    private Coefficients coefficients(int t, int s0, int order) {
        AlphaSigma at = AlphaSigma.of(sigmas[t]);
        AlphaSigma as0 = AlphaSigma.of(sigmas[s0]);
        float lambdaS0 = as0.lambda();
        float h = at.lambda() - lambdaS0;
        float rk = 0;
        if (order >= 2) rk = (AlphaSigma.of(sigmas[s0 - 1]).lambda() - lambdaS0) / h;

        float hh = predictX0 ? -h : h;
        float hPhi1 = (float) Math.expm1(hh);  // h phi_1(h) = e^h - 1
        float hPhiK = hPhi1 / hh - 1f;
        float bH = bh2 ? (float) Math.expm1(hh) : hh;
        float[] b = new float[order];
        int factorial = 1;
        for (int i = 1; i <= order; i++) {
            b[i - 1] = hPhiK * factorial / bH;
            factorial *= i + 1;
            hPhiK = hPhiK / hh - (float) (1.0 / factorial);
        }
        float sampleCoeff = predictX0 ? at.sigma() / as0.sigma() : at.alpha() / as0.alpha();
        float m0Coeff = predictX0 ? at.alpha() * hPhi1 : at.sigma() * hPhi1;
        float resCoeff = predictX0 ? at.alpha() * bH : at.sigma() * bH;
        return new Coefficients(sampleCoeff, m0Coeff, resCoeff, rk, b);
    }

    private record Coefficients(float sampleCoeff, float m0Coeff, float resCoeff, float rk, float[] b) {
        /** D1 = (m1 - m0) / rk: the divided difference towards the previous point. */
        float[] d1(float[] m0, float[] m1) {
            float[] d = new float[m0.length];
            for (int i = 0; i < d.length; i++) d[i] = (m1[i] - m0[i]) / rk;
            return d;
        }
    }

    /**
     * torch.linalg.solve for these small float32 systems: LU with partial pivoting (LAPACK sgesv: the pivot
     * column scaled by the reciprocal of the pivot), then forward and back substitution.
     */
    private static float[] solve(float[][] matrix, float[] rhs) {
        int n = rhs.length;
        float[][] a = new float[n][];
        for (int i = 0; i < n; i++) a[i] = matrix[i].clone();
        float[] x = rhs.clone();
        for (int j = 0; j < n; j++) {
            int p = j;
            for (int i = j + 1; i < n; i++) if (Math.abs(a[i][j]) > Math.abs(a[p][j])) p = i;
            float[] row = a[p]; a[p] = a[j]; a[j] = row;
            float v = x[p]; x[p] = x[j]; x[j] = v;
            float reciprocal = 1f / a[j][j];
            for (int i = j + 1; i < n; i++) {
                a[i][j] *= reciprocal;
                for (int k = j + 1; k < n; k++) a[i][k] -= a[i][j] * a[j][k];
            }
        }
        for (int j = 0; j < n; j++)
            for (int i = j + 1; i < n; i++) x[i] -= x[j] * a[i][j];
        for (int k = n - 1; k >= 0; k--) {
            x[k] /= a[k][k];
            for (int i = 0; i < k; i++) x[i] -= x[k] * a[i][k];
        }
        return x;
    }
}
