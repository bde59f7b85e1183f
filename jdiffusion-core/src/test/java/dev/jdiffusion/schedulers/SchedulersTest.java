package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The factory, config handling (diffusers' from_config rules and clear errors), spacing, img2img and reuse. */
class SchedulersTest {
    @TempDir
    Path dir;

    /** A Stable Diffusion 1.x scheduler_config.json with extra keys. */
    private JsonConfig config(String extraKeys) throws IOException {
        Path file = dir.resolve("scheduler_config.json");
        Files.writeString(file, """
                {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                 "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
                 "steps_offset": 1, "trained_betas": null, "clip_sample": false %s}
                """.formatted(extraKeys));
        return JsonConfig.read(file);
    }

    static List<String> names() { return Schedulers.names(); }

    @ParameterizedTest
    @MethodSource("names")
    void unknownBetaScheduleNamesTheFileAndKey(String name) throws IOException {
        JsonConfig bad = config(", \"beta_schedule\": \"cosine_wobble\"");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Schedulers.create(name, bad));
        assertEquals(bad.file(), e.file());
        assertEquals("beta_schedule", e.key());
        assertTrue(e.getMessage().contains("scheduler_config.json") && e.getMessage().contains("'cosine_wobble'")
                && e.getMessage().contains("scaled_linear"), e.getMessage());
    }

    @Test
    void unsupportedOptionsAreErrorsNamingTheKey() throws IOException {
        JsonConfig thresholding = config(", \"thresholding\": true");
        assertEquals("thresholding", assertThrows(ModelFormatException.class,
                () -> Schedulers.create("ddim", thresholding)).key());
        JsonConfig sde = config(", \"algorithm_type\": \"sde-dpmsolver++\"");
        assertEquals("algorithm_type", assertThrows(ModelFormatException.class,
                () -> Schedulers.create("dpmpp_2m", sde)).key());
        JsonConfig order3 = config(", \"solver_order\": 3");
        assertEquals("solver_order", assertThrows(ModelFormatException.class,
                () -> Schedulers.create("unipc", order3)).key());
    }

    @Test
    void unknownNameListsTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Schedulers.create("k_dpm_3", null));
        assertTrue(e.getMessage().contains("'k_dpm_3'") && e.getMessage().contains(String.join(", ", Schedulers.names())),
                e.getMessage());
    }

    @Test
    void nameOfTheModelsOwnScheduler() throws IOException {
        assertEquals("pndm", Schedulers.nameOf(JsonConfig.read(Fixtures.model("tiny-sd15").resolve("scheduler/scheduler_config.json"))));
        assertEquals("ddim", Schedulers.nameOf(JsonConfig.read(Fixtures.model("tiny-sd2").resolve("scheduler/scheduler_config.json"))));
        Path file = dir.resolve("dpm.json");
        // as Python's json writes it: -Infinity
        Files.writeString(file, """
                {"_class_name": "DPMSolverMultistepScheduler", "use_karras_sigmas": true,
                 "lambda_min_clipped": -Infinity, "beta_schedule": "scaled_linear"}""");
        JsonConfig dpm = JsonConfig.read(file);
        assertEquals("dpmpp_2m_karras", Schedulers.nameOf(dpm));
        Scheduler s = Schedulers.create("dpmpp_2m", dpm);
        s.setTimesteps(10);
        assertEquals(10, s.timesteps().length);
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> Schedulers.nameOf(config(", \"_class_name\": \"KDPM2DiscreteScheduler\"")));
        assertEquals("_class_name", e.key());
    }

    /** dpmpp_2m means the plain sigmas even where the model's config asks for Karras ones; dpmpp_2m_karras always Karras. */
    @Test
    void theSamplerNameDecidesKarrasSigmas() throws IOException {
        JsonConfig karrasConfig = config(", \"use_karras_sigmas\": true"), plainConfig = config("");
        float[] plain = sigmas(Schedulers.create("dpmpp_2m", plainConfig));
        assertArrayEquals(plain, sigmas(Schedulers.create("dpmpp_2m", karrasConfig)), "dpmpp_2m ignores use_karras_sigmas");
        float[] karras = sigmas(Schedulers.create("dpmpp_2m_karras", plainConfig));
        assertArrayEquals(karras, sigmas(Schedulers.create("dpmpp_2m_karras", karrasConfig)));
        assertEquals(plain.length, karras.length);
        assertEquals(plain[0], karras[0], 1e-3, "both start at sigma_max");
        // Karras spacing (rho = 7) crowds the steps at low noise: its middle sigma is far below the uniform one.
        assertTrue(karras[5] < 0.6 * plain[5], "karras " + karras[5] + " vs plain " + plain[5]);
    }

    private static float[] sigmas(Scheduler s) {
        s.setTimesteps(10);
        return s.sigmas();
    }

    @Test
    void keysListedInUseDefaultValuesTakeTheClassDefault() throws IOException {
        // Written by a class whose default spacing was "leading": Euler's own default, linspace, applies.
        Scheduler euler = Schedulers.create("euler", config(
                ", \"timestep_spacing\": \"leading\", \"_use_default_values\": [\"timestep_spacing\"]"));
        euler.setTimesteps(7);
        assertArrayEquals(new double[] {999, 832.5, 666, 499.5, 333, 166.5, 0}, euler.timesteps());
    }

    /** Expected values from numpy, as diffusers computes them (np.round rounds half to even). */
    @Test
    void timestepSpacingsMatchNumpy() throws IOException {
        Scheduler ddim = Schedulers.create("ddim", config(", \"timestep_spacing\": \"linspace\""));
        ddim.setTimesteps(7);
        assertArrayEquals(new double[] {999, 832, 666, 500, 333, 166, 0}, ddim.timesteps());
        ddim = Schedulers.create("ddim", config(", \"timestep_spacing\": \"trailing\""));
        ddim.setTimesteps(7);
        assertArrayEquals(new double[] {999, 856, 713, 570, 428, 285, 142}, ddim.timesteps());
        Scheduler dpm = Schedulers.create("dpmpp_2m", config(", \"timestep_spacing\": \"linspace\""));
        dpm.setTimesteps(7);
        assertArrayEquals(new double[] {999, 856, 714, 571, 428, 285, 143}, dpm.timesteps());
        Scheduler euler = Schedulers.create("euler", config(", \"timestep_spacing\": \"linspace\""));
        euler.setTimesteps(20);
        assertEquals(946.4210815429688, euler.timesteps()[1]);
        assertEquals(52.578948974609375, euler.timesteps()[18]);
    }

    @Test
    void img2imgStartsAtTheStrengthsIndexAndNoisesToItsSigma() throws IOException {
        SafeTensors ref = Fixtures.expected("tiny-sd15", "schedulers/euler_a_20.safetensors");
        Scheduler eulerA = Schedulers.create("euler_a", JsonConfig.read(
                Fixtures.model("tiny-sd15").resolve("scheduler/scheduler_config.json")));
        eulerA.setTimesteps(20);
        int begin = eulerA.beginIndex(20, 0.6);  // int(20 * 0.6) = 12 steps run: t_start = 8
        assertEquals(8, begin);
        float[] noisy = eulerA.addNoise(new float[] {1f, 2f}, new float[] {1f, -1f}, begin);
        float sigma = ref.tensor("sigmas").getFloat(8);
        assertArrayEquals(new float[] {1f + sigma, 2f - sigma}, noisy);

        Scheduler heun = Schedulers.create("heun", config(""));
        heun.setTimesteps(20);
        assertEquals(16, heun.beginIndex(20, 0.6));  // two model evaluations per step
        assertEquals(20, heun.beginIndex(20, 0.5));  // 10 of 20 steps run
        assertEquals(40, heun.beginIndex(20, 0.0));  // nothing left to denoise
    }

    @Test
    void ddimAddNoiseIsTheForwardProcessAtTheStepsTimestep() throws IOException {
        Scheduler ddim = Schedulers.create("ddim", config(", \"beta_schedule\": \"scaled_linear\""));
        ddim.setTimesteps(20);
        float[] signal = ddim.addNoise(new float[] {1f}, new float[] {0f}, 0);      // sqrt(alphas_cumprod[951])
        float[] noise = ddim.addNoise(new float[] {0f}, new float[] {1f}, 0);       // sqrt(1 - alphas_cumprod[951])
        assertEquals(1.0, signal[0] * signal[0] + noise[0] * noise[0], 1e-6);
        assertTrue(signal[0] < 0.1f, "t = 951 is almost pure noise: " + signal[0]);
    }

    /** setTimesteps resets all state: a second run on the same scheduler repeats the first exactly. */
    @ParameterizedTest
    @MethodSource("names")
    void setTimestepsResetsState(String name) {
        Scheduler s = Schedulers.create(name, JsonConfig.read(
                Fixtures.model("tiny-sd2").resolve("scheduler/scheduler_config.json")));
        float[] first = run(s, 12);
        assertArrayEquals(first, run(s, 12));
    }

    /** The final sample of a short run with generator noise. */
    private static float[] run(Scheduler s, int steps) {
        s.setTimesteps(steps);
        TorchGenerator g = new TorchGenerator(7);
        float[] x = g.randn(1, 4, 4, 4);
        double[] t = s.timesteps();
        for (int i = 0; i < t.length; i++) {
            float[] in = s.scaleModelInput(x, i);
            float[] eps = new float[in.length];
            for (int j = 0; j < eps.length; j++) eps[j] = 0.1f * in[j] + (float) Math.cos(t[i] / 100);
            x = s.step(eps, i, x, g);
        }
        return x;
    }
}
