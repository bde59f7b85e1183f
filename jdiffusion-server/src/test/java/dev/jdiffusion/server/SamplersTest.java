package dev.jdiffusion.server;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A1111's sampler and schedule names mapped to jdiffusion's samplers, as A1111 1.9+ resolves them. */
class SamplersTest {
    static String ours(String sampler, String scheduler) { return Samplers.resolve(sampler, scheduler).ours(); }

    @Test
    void a1111NamesAndSchedules() {
        assertEquals("euler_a", ours("Euler a", null));
        assertEquals("euler_a", ours("k_euler_a", "Automatic"));
        assertEquals("euler", ours("Euler", "uniform"));
        assertEquals("lms", ours("LMS", ""));
        assertEquals("heun", ours("Heun", null));
        assertEquals("ddim", ours("DDIM", "automatic"));
        assertEquals("pndm", ours("PLMS", null));
        assertEquals("unipc", ours("UniPC", null));
        // DPM++ 2M's own default schedule is Karras in A1111 1.9+; Uniform is the model's sigmas.
        assertEquals("dpmpp_2m_karras", ours("DPM++ 2M", null));
        assertEquals("dpmpp_2m_karras", ours("DPM++ 2M", "Karras"));
        assertEquals("dpmpp_2m", ours("DPM++ 2M", "uniform"));
        assertEquals("dpmpp_2m_karras", ours("DPM++ 2M Karras", null), "the pre-1.9 combined name");
        assertEquals("dpmpp_2m_karras", ours("DPM++ 2M Karras", "Automatic"));
        assertEquals("euler_a", ours("euler_a", null), "jdiffusion's own names too");
    }

    @Test
    void unknownNamesAndPairsNameTheirField() {
        assertEquals("sampler_name", assertThrows(ApiException.class, () -> ours("DPM++ SDE", null)).field);
        assertEquals("scheduler", assertThrows(ApiException.class, () -> ours("Euler a", "karras")).field);
        assertEquals("scheduler", assertThrows(ApiException.class, () -> ours("DDIM", "exponential")).field);
        assertEquals(400, assertThrows(ApiException.class, () -> ours("Euler b", null)).status);
    }

    @Test
    void infotextNamesMapBack() {
        for (Samplers.Sampler s : Samplers.ALL) {
            for (var e : s.bySchedule().entrySet()) {
                var names = Samplers.a1111Names(e.getValue());
                assertEquals(e.getValue(), ours(names.get("sampler_name"), names.get("scheduler")),
                        "what the infotext says must select the same sampler again");
            }
        }
    }
}
