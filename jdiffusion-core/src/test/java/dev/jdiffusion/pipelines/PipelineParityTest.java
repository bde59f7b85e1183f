package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole pipelines against diffusers' StableDiffusionPipeline / Img2ImgPipeline with the same seed:
 * every pixel within 2 levels of 255 of the reference's image_u8, and mean difference below 0.05 levels.
 */
class PipelineParityTest {
    static final int MAX_LEVELS = 2;
    static final double MAX_MEAN_LEVELS = 0.05;
    private static final Map<String, StableDiffusionPipeline> PIPELINES = new HashMap<>();

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String model : List.of("tiny-sd15", "tiny-sd2")) {
            JsonNode files = Fixtures.manifest(model).get("files");
            files.fieldNames().forEachRemaining(f -> {
                if (f.startsWith("pipeline/") && f.endsWith(".safetensors"))
                    out.add(Arguments.of(Named.of(model + " " + files.get(f).get("name").asText(), model), files.get(f), f));
            });
        }
        return out.stream();
    }

    /** The request diffusers was called with, read from the manifest. */
    static GenerationRequest request(JsonNode m, SafeTensors ref) {
        GenerationRequest.Builder b = GenerationRequest.builder(m.get("prompt_text").asText())
                .negativePrompt(m.path("negative").asText(""))
                .steps(m.get("steps").asInt())
                .guidanceScale(m.get("guidance").asDouble())
                .sampler(m.get("scheduler").asText())
                .seed(m.get("seed").asLong())
                .size(m.path("width").asInt(0), m.path("height").asInt(0))
                .batchSize(m.path("images").asInt(1))
                .promptSyntax(dev.jdiffusion.pipelines.prompt.PromptSyntax.PLAIN);  // diffusers' own prompt handling
        if (m.has("img2img")) {
            WeightTensor init = ref.tensor("init_image_u8");
            byte[] rgb = new byte[(int) init.size()];
            for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) init.getLong(i);
            b.initImage(new RgbImage(init.dim(1), init.dim(0), rgb), m.get("img2img").asDouble());
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesDiffusers(String model, JsonNode m, String file) {
        SafeTensors ref = SafeTensors.open(Fixtures.model(model).resolve("expected").resolve(file));
        StableDiffusionPipeline pipe = PIPELINES.computeIfAbsent(model, k -> StableDiffusionPipeline.load(Fixtures.model(k)));
        GenerationResult result = pipe.generate(request(m, ref));

        assertImagesMatch(ref, result, MAX_LEVELS, MAX_MEAN_LEVELS, model + " " + file);
    }

    /** Every pixel within {@code maxLevels} of the reference's image_u8, and the mean difference below {@code maxMean}. */
    static void assertImagesMatch(SafeTensors ref, GenerationResult result, int maxLevels, double maxMean, String what) {
        assertImagesMatch(ref, result, maxLevels, maxMean, what, false);
    }

    /** @param single the reference's image_u8 is one (H, W, 3) image rather than a batch */
    static void assertImagesMatch(SafeTensors ref, GenerationResult result, int maxLevels, double maxMean, String what,
                                  boolean single) {
        WeightTensor expected = ref.tensor("image_u8");
        int n = single ? 1 : expected.dim(0), h = expected.dim(single ? 0 : 1), w = expected.dim(single ? 1 : 2);
        assertEquals(n, result.images().size(), "images");
        long sum = 0;
        int worst = 0;
        for (int b = 0; b < n; b++) {
            RgbImage img = result.images().get(b);
            assertEquals(w, img.width());
            assertEquals(h, img.height());
            for (int i = 0; i < h * w * 3; i++) {
                int d = Math.abs((img.rgb()[i] & 0xff) - (int) expected.getLong((long) b * h * w * 3 + i));
                sum += d;
                worst = Math.max(worst, d);
            }
        }
        double mean = (double) sum / ((long) n * h * w * 3);
        String msg = "%s: max %d levels, mean %.4f levels".formatted(what, worst, mean);
        assertTrue(worst <= maxLevels, msg);
        assertTrue(mean < maxMean, msg);
    }
}
