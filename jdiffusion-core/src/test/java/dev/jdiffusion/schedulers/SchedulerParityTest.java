package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every scheduler against diffusers 0.30 (expected/schedulers/NAME_STEPS.safetensors): built from the model's own
 * scheduler_config.json as the reference was, it must give the same timesteps, sigmas and init_noise_sigma, and
 * follow the whole reference trajectory driven by the synthetic model eps = 0.1 x_in + 0.5 cos(t / 100).
 * The Java trajectory runs on its own, never reset to the reference. Timesteps, sigmas and init_noise_sigma are
 * bit-identical, and so are the whole trajectories of the schedulers that use only + - * / and sqrt on float32
 * (DDIM, PNDM, Euler, Euler a, Heun, DDPM). LMS, DPM-Solver++ and UniPC go through log/exp of float32 scalars
 * (torch's vectorised kernels) or scipy's quadrature, so their trajectories are compared within 1e-5 relative,
 * with an absolute floor of 1e-6 x max|reference| for values near zero.
 */
class SchedulerParityTest {
    private static final Set<String> BIT_EXACT = Set.of("ddim", "pndm", "euler", "euler_a", "heun", "ddpm");
    private static final double RTOL = 1e-5;
    private static final double FLOOR_OF_MAX = 1e-6;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String model : List.of("tiny-sd15", "tiny-sd2"))
            for (String name : Schedulers.names())
                for (int steps : new int[] {20, 25}) out.add(Arguments.of(model, name, steps));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} {2} steps")
    @MethodSource("cases")
    void matchesDiffusers(String model, String name, int steps) {
        SafeTensors ref = Fixtures.expected(model, "schedulers/" + name + "_" + steps + ".safetensors");
        JsonConfig config = JsonConfig.read(Fixtures.model(model).resolve("scheduler/scheduler_config.json"));
        Scheduler scheduler = Schedulers.create(name, config);
        scheduler.setTimesteps(steps);

        double[] timesteps = scheduler.timesteps();
        assertArrayEquals(ref.tensor("timesteps").toDoubleArray(), timesteps, 0.0, "timesteps");
        if (ref.contains("sigmas")) {
            double[] expected = ref.tensor("sigmas").toDoubleArray();
            float[] sigmas = scheduler.sigmas();
            assertEquals(expected.length, sigmas.length, "sigmas count");
            for (int i = 0; i < sigmas.length; i++) assertEquals(expected[i], sigmas[i], 0.0, "sigma " + i);
        } else {
            assertEquals(0, scheduler.sigmas().length, "no sigmas");
        }
        assertEquals(ref.tensor("init_noise_sigma").getFloat(0), scheduler.initNoiseSigma(), 0f, "init_noise_sigma");

        boolean exact = BIT_EXACT.contains(name);
        RecordedNoise noise = new RecordedNoise(ref);
        float[] x = ref.tensor("initial_sample").toFloatArray();
        for (int i = 0; i < timesteps.length; i++) {
            String n = String.format("_%03d", i);
            float[] in = scheduler.scaleModelInput(x, i);
            assertClose(ref.tensor("scaled_input" + n), in, "scaled_input" + n, exact);
            float[] eps = syntheticModel(in, timesteps[i]);
            assertClose(ref.tensor("model_output" + n), eps, "model_output" + n, exact);
            x = scheduler.step(eps, i, x, noise);
            assertClose(ref.tensor("sample" + n), x, "sample" + n, exact);
        }
        assertEquals(noise.available(), noise.drawn(), "noise tensors drawn");
    }

    /**
     * The reference's stand-in for the UNet: eps = 0.1 * x_in + 0.5 * cos(t / 100), the constant computed in
     * float64 (Python floats, as the reference did) and added in float32.
     */
    private static float[] syntheticModel(float[] in, double t) {
        float shift = (float) (0.5 * Math.cos(t / 100));
        float[] eps = new float[in.length];
        for (int i = 0; i < eps.length; i++) eps[i] = 0.1f * in[i] + shift;
        return eps;
    }

    private static void assertClose(WeightTensor expected, float[] actual, String what, boolean exact) {
        assertEquals(expected.size(), actual.length, what + ": element count");
        if (exact) {
            assertArrayEquals(expected.toFloatArray(), actual, what + " (bit-exact)");
            return;
        }
        double maxRef = 0;
        for (int i = 0; i < actual.length; i++) maxRef = Math.max(maxRef, Math.abs(expected.getFloat(i)));
        double floor = FLOOR_OF_MAX * maxRef;
        for (int i = 0; i < actual.length; i++) {
            double e = expected.getFloat(i);
            double err = Math.abs(actual[i] - e);
            double limit = Math.max(RTOL * Math.abs(e), floor);
            if (!(err <= limit))
                throw new AssertionError(String.format("%s: element %d expected %.9g got %.9g (error %.3g > %.3g)",
                        what, i, e, actual[i], err, limit));
        }
    }

    /** The noise tensors the reference scheduler drew (noise_000, noise_001, ...), served in order. */
    private static final class RecordedNoise implements NoiseSource {
        private final SafeTensors ref;
        private int drawn;

        RecordedNoise(SafeTensors ref) { this.ref = ref; }

        @Override
        public float[] randn(int... shape) {
            String name = String.format("noise_%03d", drawn++);
            WeightTensor t = ref.tensor(name);
            int count = 1;
            for (int d : shape) count *= d;
            assertEquals(t.size(), count, name + ": requested size");
            return t.toFloatArray();
        }

        int drawn() { return drawn; }

        int available() {
            int n = 0;
            while (ref.contains(String.format("noise_%03d", n))) n++;
            return n;
        }
    }
}
