package dev.jdiffusion.schedulers;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.JsonConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The beta schedules the fixtures do not cover (they are all scaled_linear), against diffusers' definitions written
 * out here independently, and DDIM's set_alpha_to_one.
 */
class NoiseScheduleTest {
    static final int[] AT = {0, 1, 250, 499, 500, 750, 998, 999};

    private static JsonConfig config(Consumer<ObjectNode> edit) {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("num_train_timesteps", 1000);
        edit.accept(o);
        return new JsonConfig(Path.of("scheduler_config.json"), o);
    }

    /** float32 linspace, plainly: start + i * step, the ends exact (torch.linspace's contract). */
    private static float[] linspace(float start, float end, int n) {
        float step = (end - start) / (n - 1);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) out[i] = start + i * step;
        out[n - 1] = end;
        return out;
    }

    /** alphas_cumprod = cumprod(1 - betas), in double so that it is the reference, not a replica. */
    private static void assertSchedule(float[] betas, NoiseSchedule s, String what) {
        double product = 1;
        int k = 0;
        for (int t = 0; t < betas.length; t++) {
            product *= 1.0 - betas[t];
            if (k < AT.length && AT[k] == t) {
                // torch.linspace's vectorised kernel may differ from start + i * step by an ulp or two.
                assertEquals(betas[t], s.beta(t), 4 * Math.ulp(betas[t]), what + " betas[" + t + "]");
                assertEquals(product, s.alphaCumprod(t), 1e-5 * product, what + " alphas_cumprod[" + t + "]");
                k++;
            }
        }
        assertEquals(AT.length, k);
    }

    @Test
    void linear() {
        // DDPM's schedule, diffusers' default beta_start/beta_end: torch.linspace(1e-4, 0.02, 1000)
        NoiseSchedule s = NoiseSchedule.fromConfig(config(o -> o.put("beta_schedule", "linear")), 0.0001, 0.02);
        assertSchedule(linspace(1e-4f, 0.02f, 1000), s, "linear");
        assertEquals(1e-4f, s.beta(0));
        assertEquals(0.02f, s.beta(999));
        assertEquals(4.0358e-5, s.alphaCumprod(999), 1e-8, "the DDPM paper's alpha_bar_T");
    }

    @Test
    void scaledLinear() {
        // Stable Diffusion's: torch.linspace(beta_start ** 0.5, beta_end ** 0.5, 1000) ** 2
        NoiseSchedule s = NoiseSchedule.fromConfig(config(o -> o.put("beta_schedule", "scaled_linear")
                .put("beta_start", 0.00085).put("beta_end", 0.012)), 0.0001, 0.02);
        float[] roots = linspace((float) Math.sqrt(0.00085), (float) Math.sqrt(0.012), 1000);
        float[] betas = new float[roots.length];
        for (int i = 0; i < betas.length; i++) betas[i] = roots[i] * roots[i];
        assertSchedule(betas, s, "scaled_linear");
        // Not the linear schedule between the same ends: the middle is lower.
        assertTrue(s.beta(500) < (0.00085f + 0.012f) / 2 - 1e-4, "scaled_linear betas[500] = " + s.beta(500));
    }

    @Test
    void squaredcosCapV2() {
        // betas_for_alpha_bar(1000, max_beta=0.999) with alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2) ** 2
        NoiseSchedule s = NoiseSchedule.fromConfig(config(o -> o.put("beta_schedule", "squaredcos_cap_v2")), 0.0001, 0.02);
        float[] betas = new float[1000];
        for (int i = 0; i < 1000; i++) {
            double a1 = Math.pow(Math.cos((i / 1000.0 + 0.008) / 1.008 * Math.PI / 2), 2);
            double a2 = Math.pow(Math.cos(((i + 1) / 1000.0 + 0.008) / 1.008 * Math.PI / 2), 2);
            betas[i] = (float) Math.min(1 - a2 / a1, 0.999);
        }
        assertSchedule(betas, s, "squaredcos_cap_v2");
        assertEquals(0.999f, s.beta(999), "alpha_bar(1) = 0: the cap applies");
        assertTrue(s.beta(998) < 0.999f && s.beta(0) < 1e-4f, s.beta(0) + " " + s.beta(998));
    }

    /**
     * DDIM's last step goes to alphas_cumprod "before" timestep 0: exactly 1 with set_alpha_to_one (diffusers'
     * default), so with prediction_type "sample" the result is the model's x0 itself, bit for bit; else alphas_cumprod[0].
     */
    @Test
    void ddimSetAlphaToOneMakesTheLastStepLandOnX0() {
        float[] x = {0.5f, -1.25f, 2f}, x0 = {0.1f, 0.2f, -0.3f};
        for (Boolean alphaToOne : new Boolean[] {true, null, false}) {
            JsonConfig c = config(o -> {
                o.put("beta_schedule", "linear").put("prediction_type", "sample").put("clip_sample", false);
                if (alphaToOne != null) o.put("set_alpha_to_one", alphaToOne);
            });
            DDIMScheduler ddim = new DDIMScheduler(c);
            ddim.setTimesteps(10);
            assertEquals(0, ddim.timesteps()[9]);
            float[] out = ddim.step(x0, 9, x, null);
            if (alphaToOne == null || alphaToOne) {
                assertArrayEquals(x0, out, "set_alpha_to_one=" + alphaToOne + ": final alpha exactly 1");
            } else {
                // a_prev = alphas_cumprod[0] = a_t at t = 0: sqrt(a0) x0 + sqrt(1 - a0) eps, with eps recovered from
                // x, gives x back (the step moves nowhere), far from x0.
                assertArrayEquals(x, out, 1e-5f, "set_alpha_to_one=false: final alpha alphas_cumprod[0]");
            }
        }
    }
}
