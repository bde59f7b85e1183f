package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' PNDMScheduler (pseudo numerical methods, Liu et al. 2022): Runge–Kutta warm-up steps (PRK), then
 * the linear multistep PLMS on the last four model outputs. With {@code skip_prk_steps} (Stable Diffusion 1.x) the
 * warm-up is replaced by a second-order start on a repeated timestep. Config: skip_prk_steps, set_alpha_to_one,
 * prediction_type epsilon or v_prediction.
 */
public final class PNDMScheduler extends AlphaScheduler {
    private static final int PNDM_ORDER = 4;
    private final boolean skipPrkSteps;
    private final float finalAlphaCumprod;

    private int[] prkTimesteps = new int[0];
    // State across steps, as diffusers names it: step counter, model outputs (ets), running RK sum.
    private int counter;
    private final List<float[]> ets = new ArrayList<>();
    private float[] curModelOutput;
    private float[] curSample;

    public PNDMScheduler(JsonConfig config) {
        JsonConfig c = SchedulerConfig.effective(config);
        super(c, PredictionType.EPSILON, PredictionType.V_PREDICTION);
        skipPrkSteps = c.getBoolean("skip_prk_steps", false);
        finalAlphaCumprod = c.getBoolean("set_alpha_to_one", false) ? 1f : schedule.alphaCumprod(0);
    }

    @Override
    public void setTimesteps(int numInferenceSteps) {
        if (numInferenceSteps < 4 && !skipPrkSteps)
            throw new IllegalArgumentException("PNDM without skip_prk_steps needs at least 4 steps, not " + numInferenceSteps);
        this.numInferenceSteps = numInferenceSteps;
        int numTrain = schedule.numTrainTimesteps();
        double[] desc = integerTimesteps(numInferenceSteps);
        int n = desc.length;
        int[] ts = new int[n];  // diffusers' _timesteps, ascending
        for (int i = 0; i < n; i++) ts[i] = (int) desc[n - 1 - i];

        List<Integer> all = new ArrayList<>();
        if (skipPrkSteps) {
            // plms: the second-to-last timestep twice, for the second-order start
            prkTimesteps = new int[0];
            all.add(ts[n - 1]);
            if (n > 1) all.add(ts[n - 2]);
            for (int i = n - 2; i >= 0; i--) all.add(ts[i]);
        } else {
            // RK on the last 4 timesteps, each with its half-way point: t, t-h/2, t-h/2, t-h, ...
            int half = numTrain / numInferenceSteps / 2;
            int[] pairs = new int[2 * PNDM_ORDER];
            for (int k = 0; k < PNDM_ORDER; k++) {
                pairs[2 * k] = ts[n - PNDM_ORDER + k];
                pairs[2 * k + 1] = ts[n - PNDM_ORDER + k] + half;
            }
            // prk_timesteps[:-1].repeat(2)[1:-1][::-1]
            List<Integer> prk = new ArrayList<>();
            for (int k = 0; k < pairs.length - 1; k++) { prk.add(pairs[k]); prk.add(pairs[k]); }
            prk = new ArrayList<>(prk.subList(1, prk.size() - 1)).reversed();
            prkTimesteps = prk.stream().mapToInt(Integer::intValue).toArray();
            all.addAll(prk);
            for (int i = n - 4; i >= 0; i--) all.add(ts[i]);  // plms: _timesteps[:-3][::-1]
        }
        timesteps = all.stream().mapToDouble(Integer::doubleValue).toArray();
        counter = 0;
        ets.clear();
        curModelOutput = null;
        curSample = null;
    }

    /** Runs on its own step counter, like diffusers (which takes the timestep value, not its index). */
    @Override
    public float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise) {
        int timestep = (int) timesteps[stepIndex];
        return counter < prkTimesteps.length ? stepPrk(modelOutput, timestep, sample) : stepPlms(modelOutput, timestep, sample);
    }

    /** Fourth-order Runge–Kutta: model outputs weighted 1/6, 1/3, 1/3, 1/6, each stage from the group's sample. */
    private float[] stepPrk(float[] modelOutput, int timestep, float[] sample) {
        int diffToPrev = counter % 2 != 0 ? 0 : schedule.numTrainTimesteps() / numInferenceSteps / 2;
        int prevTimestep = timestep - diffToPrev;
        timestep = prkTimesteps[counter / 4 * 4];

        float[] output = modelOutput;
        switch (counter % 4) {
            case 0 -> {
                curModelOutput = scaled(1f / 6, modelOutput);
                ets.add(modelOutput);
                curSample = sample;
            }
            case 1, 2 -> curModelOutput = plus(curModelOutput, scaled(1f / 3, modelOutput));
            default -> {
                output = plus(curModelOutput, scaled(1f / 6, modelOutput));
                curModelOutput = null;
            }
        }
        float[] prev = prevSample(curSample != null ? curSample : sample, timestep, prevTimestep, output);
        counter++;
        return prev;
    }

    /** Linear multistep (Adams–Bashforth) on the last 1 to 4 model outputs. */
    private float[] stepPlms(float[] modelOutput, int timestep, float[] sample) {
        int ratio = schedule.numTrainTimesteps() / numInferenceSteps;
        int prevTimestep = timestep - ratio;
        if (counter != 1) {
            while (ets.size() > 3) ets.removeFirst();
            ets.add(modelOutput);
        } else {
            // second call of the skip_prk start: redo the first step with the averaged output
            prevTimestep = timestep;
            timestep = timestep + ratio;
        }

        int n = ets.size();
        float[] output = new float[modelOutput.length];
        float[] e1 = ets.get(n - 1);
        if (n == 1 && counter == 0) {
            output = modelOutput;
            curSample = sample;
        } else if (n == 1 && counter == 1) {
            for (int i = 0; i < output.length; i++) output[i] = (modelOutput[i] + e1[i]) / 2;
            sample = curSample;
            curSample = null;
        } else if (n == 2) {
            float[] e2 = ets.get(n - 2);
            for (int i = 0; i < output.length; i++) output[i] = (3 * e1[i] - e2[i]) / 2;
        } else if (n == 3) {
            float[] e2 = ets.get(n - 2);
            float[] e3 = ets.get(n - 3);
            for (int i = 0; i < output.length; i++) output[i] = (23 * e1[i] - 16 * e2[i] + 5 * e3[i]) / 12;
        } else {
            float[] e2 = ets.get(n - 2);
            float[] e3 = ets.get(n - 3);
            float[] e4 = ets.get(n - 4);
            float c = 1f / 24;
            for (int i = 0; i < output.length; i++)
                output[i] = c * (55 * e1[i] - 59 * e2[i] + 37 * e3[i] - 9 * e4[i]);
        }
        float[] prev = prevSample(sample, timestep, prevTimestep, output);
        counter++;
        return prev;
    }

    /** Formula (9) of the PNDM paper: x_(t-delta) from x_t and the (combined) noise prediction. */
    private float[] prevSample(float[] sample, int timestep, int prevTimestep, float[] modelOutput) {
        float alphaProd = schedule.alphaCumprod(timestep);
        float alphaProdPrev = prevTimestep >= 0 ? schedule.alphaCumprod(prevTimestep) : finalAlphaCumprod;
        float betaProd = 1f - alphaProd;
        float betaProdPrev = 1f - alphaProdPrev;
        float sampleCoeff = (float) Math.sqrt(alphaProdPrev / alphaProd);
        float denom = alphaProd * (float) Math.sqrt(betaProdPrev)
                + (float) Math.sqrt(alphaProd * betaProd * alphaProdPrev);
        float alphaDiff = alphaProdPrev - alphaProd;
        float sqrtAlpha = (float) Math.sqrt(alphaProd);
        float sqrtBeta = (float) Math.sqrt(betaProd);

        float[] prev = new float[sample.length];
        for (int i = 0; i < prev.length; i++) {
            float eps = modelOutput[i];
            if (predictionType == PredictionType.V_PREDICTION) eps = sqrtAlpha * eps + sqrtBeta * sample[i];
            prev[i] = sampleCoeff * sample[i] - alphaDiff * eps / denom;
        }
        return prev;
    }

    private static float[] scaled(float c, float[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < out.length; i++) out[i] = c * a[i];
        return out;
    }

    private static float[] plus(float[] a, float[] b) {
        float[] out = new float[a.length];
        for (int i = 0; i < out.length; i++) out[i] = a[i] + b[i];
        return out;
    }
}
