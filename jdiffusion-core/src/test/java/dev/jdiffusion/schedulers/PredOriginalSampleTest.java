package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The denoised estimate x0 that previews show and interrupts return, checked against what each scheduler's own step
 * does with it: samplers that end at sigma 0 return exactly x0 from their last step, and DDIM's step is
 * sqrt(a_prev) x0 + sqrt(1 - a_prev) eps with eps implied by x0.
 */
class PredOriginalSampleTest {
    static JsonConfig sd15() {
        return JsonConfig.read(Fixtures.model("tiny-sd15").resolve("scheduler/scheduler_config.json"));
    }

    static float[] random(long seed, int n) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    /** Runs the scheduler with a synthetic model output up to its last step; returns {step output, x0} of that step. */
    static float[][] lastStep(Scheduler s, int steps) {
        s.setTimesteps(steps);
        int n = 64;
        float[] x = random(1, n);
        for (int i = 0; i < n; i++) x[i] *= s.initNoiseSigma();
        TorchGenerator g = new TorchGenerator(3);
        double[] t = s.timesteps();
        float[] out = null, x0 = null;
        for (int i = 0; i < t.length; i++) {
            float[] in = s.scaleModelInput(x, i);
            float[] eps = new float[n];
            for (int k = 0; k < n; k++) eps[k] = 0.1f * in[k] + 0.5f * (float) Math.cos(t[i] / 100);
            x0 = s.predOriginalSample(eps, i, x);
            out = s.step(eps, i, x, g);
            x = out;
        }
        return new float[][]{out, x0};
    }

    @ParameterizedTest
    @ValueSource(strings = {"euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_karras"})
    void samplersEndingAtSigmaZeroReturnTheLastX0(String name) {
        float[][] r = lastStep(Schedulers.create(name, sd15()), 10);
        for (int i = 0; i < r[0].length; i++)
            assertEquals(r[1][i], r[0][i], 1e-5f * Math.max(1, Math.abs(r[1][i])), name + " element " + i);
    }

    @Test
    void ddimStepIsBuiltFromX0() {
        DDIMScheduler s = new DDIMScheduler(sd15());
        s.setTimesteps(20);
        int n = 32, i = 7;
        float[] x = random(5, n), eps = random(6, n);
        float[] x0 = s.predOriginalSample(eps, i, x);
        float[] prev = s.step(eps, i, x, null);
        // scaled_linear betas of SD: linspace(sqrt(0.00085), sqrt(0.012), 1000)^2, alphas_cumprod their running product.
        double[] cum = new double[1000];
        double p = 1;
        for (int k = 0; k < 1000; k++) {
            double b = Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * k / 999;
            p *= 1 - b * b;
            cum[k] = p;
        }
        int t = (int) s.timesteps()[i], tPrev = t - 1000 / 20;
        double a = cum[t], aPrev = cum[tPrev];
        for (int k = 0; k < n; k++) {
            assertEquals((x[k] - Math.sqrt(1 - a) * eps[k]) / Math.sqrt(a), x0[k], 1e-4, "x0 " + k);
            assertEquals(Math.sqrt(aPrev) * x0[k] + Math.sqrt(1 - aPrev) * eps[k], prev[k], 1e-4, "step " + k);
        }
    }
}
