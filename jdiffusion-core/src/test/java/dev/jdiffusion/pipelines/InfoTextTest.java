package dev.jdiffusion.pipelines;

import dev.jdiffusion.schedulers.Schedulers;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The A1111 infotext: sampler labels and schedule types that A1111 1.9+ reads back as the same sampling. */
class InfoTextTest {
    @Test
    void everySamplerHasItsA1111LabelAndScheduleType() {
        Map<String, String> expected = new LinkedHashMap<>();
        expected.put("ddim", "DDIM/Automatic");
        expected.put("pndm", "PLMS/Automatic");
        expected.put("lms", "LMS/Automatic");
        expected.put("euler", "Euler/Automatic");
        expected.put("euler_a", "Euler a/Automatic");
        expected.put("heun", "Heun/Automatic");
        // A1111 resolves "DPM++ 2M" + "Automatic" to Karras (its default scheduler for that sampler).
        expected.put("dpmpp_2m", "DPM++ 2M/Uniform");
        expected.put("dpmpp_2m_karras", "DPM++ 2M/Karras");
        expected.put("unipc", "UniPC/Automatic");
        expected.put("ddpm", "DDPM/Automatic");
        assertEquals(Schedulers.names(), java.util.List.copyOf(expected.keySet()), "every sampler is covered");
        expected.forEach((name, label) -> {
            InfoText.SamplerLabel l = InfoText.label(name);
            assertEquals(label, l.sampler() + "/" + l.scheduleType(), name);
        });
    }

    @Test
    void plainDpmppTwoMSaysUniform() {
        GenerationRequest r = GenerationRequest.builder("a cat").steps(25).seed(42).guidanceScale(7).build();
        assertEquals("""
                a cat
                Steps: 25, Sampler: DPM++ 2M, Schedule type: Uniform, CFG scale: 7, Seed: 42, Size: 512x512, Model: m, Version: jdiffusion""",
                InfoText.format(r, "dpmpp_2m", 512, 512, "m", 0));
        assertTrue(InfoText.format(r, "dpmpp_2m_karras", 512, 512, "m", 0).contains("Sampler: DPM++ 2M, Schedule type: Karras,"));
    }
}
