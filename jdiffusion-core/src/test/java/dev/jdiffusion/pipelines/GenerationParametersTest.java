package dev.jdiffusion.pipelines;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Infotexts read back as A1111's parse_generation_parameters reads them. */
class GenerationParametersTest {
    @Test
    void readsWhatInfoTextWrites() {
        GenerationRequest r = GenerationRequest.builder("a cat, \"quoted\"\nsecond line").negativePrompt("blurry\nugly")
                .steps(25).guidanceScale(7.5).seed(1234).clipSkip(2).build();
        String text = InfoText.format(r, "dpmpp_2m_karras", 96, 64, "my: model, v2", 0);
        Map<String, String> p = GenerationParameters.parse(text);
        assertEquals("a cat, \"quoted\"\nsecond line", p.get("Prompt"));
        assertEquals("blurry\nugly", p.get("Negative prompt"));
        assertEquals("25", p.get("Steps"));
        assertEquals("DPM++ 2M", p.get("Sampler"));
        assertEquals("Karras", p.get("Schedule type"));
        assertEquals("7.5", p.get("CFG scale"));
        assertEquals("1234", p.get("Seed"));
        assertEquals("96", p.get("Size-1"));
        assertEquals("64", p.get("Size-2"));
        assertEquals("my: model, v2", p.get("Model"), "quoted values are unquoted");
        assertEquals("2", p.get("Clip skip"));
        assertNull(p.get("Size"));
    }

    @Test
    void aPromptWithoutParametersAndTheClipSkipDefault() {
        Map<String, String> p = GenerationParameters.parse("just a prompt, with: one colon");
        assertEquals("just a prompt, with: one colon", p.get("Prompt"));
        assertEquals("", p.get("Negative prompt"));
        assertEquals("1", p.get("Clip skip"));
        assertEquals(3, p.size());
    }
}
