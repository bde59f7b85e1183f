package dev.jdiffusion.models;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.ClipImageProcessor;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipVisionModel;
import dev.jdiffusion.models.safety.StableDiffusionSafetyChecker;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.SafetyFixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The safety checker of the fixture's tiny model (transformers' CLIPVisionModel + diffusers'
 * StableDiffusionSafetyChecker) on the fixture's 13 images: preprocessing crops byte for byte, the vision
 * tower's pooled output and the projected embedding within 1e-4 of the largest reference magnitude, every
 * unrounded score within 1e-4, and the same flags, special-care hits and bad concepts.
 */
class StableDiffusionSafetyCheckerTest {
    static StableDiffusionSafetyChecker checker() {
        DiffusersFolder f = DiffusersFolder.open(SafetyFixtures.model());
        return new StableDiffusionSafetyChecker(f.config("safety_checker"), WeightSource.of(f.weights("safety_checker", false)));
    }

    static ClipImageProcessor processor() {
        return ClipImageProcessor.from(JsonConfig.read(SafetyFixtures.model().resolve("feature_extractor/preprocessor_config.json")));
    }

    private static byte[] bytes(WeightTensor t) {
        byte[] out = new byte[Math.toIntExact(t.size())];
        for (int i = 0; i < out.length; i++) out[i] = (byte) t.getLong(i);
        return out;
    }

    @Test
    void cropsPooledOutputsAndEmbeddingsMatchTransformers() {
        StableDiffusionSafetyChecker checker = checker();
        ClipImageProcessor processor = processor();
        SafeTensors ref = SafetyFixtures.expected();
        int compared = 0;
        for (JsonNode c : SafetyFixtures.manifest().at("/safety_check/open:A")) {
            String name = c.get("name").asText();
            if (!ref.contains("crop_u8_" + name)) continue;
            RgbImage image = SafetyFixtures.image(c.get("image").asText());
            RgbImage crop = processor.resizeAndCrop(image);
            assertArrayEquals(bytes(ref.tensor("crop_u8_" + name)), crop.rgb(), name + ": crop");
            float[] pixels = processor.normalize(crop);
            ClipVisionModel.Output out = checker.visionModel().forward(pixels, 1);
            assertCloseToMax(ref.tensor("pooled_output_" + name), out.pooled().data(), 1e-4, name + ": pooled output");
            Tensor embeds = checker.imageEmbeds(pixels, 1);
            assertCloseToMax(ref.tensor("image_embeds_" + name), embeds.data(), 1e-4, name + ": image embeds");
            compared++;
        }
        assertEquals(5, compared, "images with reference crops");
    }

    @Test
    void scoresFlagsAndSpecialCareOfEveryFixtureImage() {
        StableDiffusionSafetyChecker checker = checker();
        ClipImageProcessor processor = processor();
        JsonNode cases = SafetyFixtures.manifest().at("/safety_check/open:A");
        assertEquals(13, cases.size());
        List<String> roles = new ArrayList<>();
        for (JsonNode c : cases) {
            String name = c.get("name").asText();
            RgbImage image = SafetyFixtures.image(c.get("image").asText());
            assertEquals(c.get("width").asInt(), image.width(), name);
            StableDiffusionSafetyChecker.Scores s = checker.forward(processor.pixelValues(image), 1).getFirst();
            SafetyFixtures.assertScores(c.get("ref"), s, name);
            roles.add(c.get("role").asText());
        }
        // The cases cover every branch of the scoring: kept, flagged, flagged through the +0.01, special care
        // but kept, a cascade of special-care hits, and a positive score that rounds to zero.
        assertTrue(roles.containsAll(List.of("clean", "direct", "special_adj", "special_clean", "cascade", "rounding")), roles.toString());
    }

    /**
     * Unseen cases (scripts/reference/safety_extra.py, checked there against the fixture's real transformers
     * outputs): new photo-like images of odd sizes (7x5 to 33x500) and one picture in 10 PNG modes, scored by the
     * fixture's checker and by a second checker of another shape (hidden 48, 3 layers of 6 heads, patch 16, image 96,
     * gelu, layer_norm_eps 1e-6, F16 weights, new-style preprocessor_config.json), whose thresholds make each case
     * of the scoring happen again.
     */
    @Test
    void unseenImagesModesAndAnotherCheckerShape() {
        Path extra = SafetyFixtures.file("extra");
        JsonNode expected = SafetyFixtures.json(extra.resolve("expected.json"));
        SafeTensors ref = SafeTensors.open(extra.resolve("expected.safetensors"));
        Path b = extra.resolve("tiny-sd15-safe-b");
        DiffusersFolder fb = DiffusersFolder.open(b);
        StableDiffusionSafetyChecker checkerB = new StableDiffusionSafetyChecker(fb.config("safety_checker"),
                WeightSource.of(fb.weights("safety_checker", false)));
        assertEquals(96, checkerB.imageSize());
        ClipImageProcessor processorB = ClipImageProcessor.from(JsonConfig.read(b.resolve("feature_extractor/preprocessor_config.json")));
        StableDiffusionSafetyChecker checkerA = checker();
        ClipImageProcessor processorA = processor();
        int images = 0, crops = 0;
        for (var e : iterable(expected.get("images").fields())) {
            String name = e.getKey();
            RgbImage image = SafetyFixtures.image("extra/images/" + e.getValue().asText());
            SafetyFixtures.assertScores(expected.at("/scores/A/" + name), checkerA.forward(processorA.pixelValues(image), 1).getFirst(), "A " + name);
            RgbImage crop = processorB.resizeAndCrop(image);
            if (ref.contains("crop_b_" + name)) {
                assertArrayEquals(bytes(ref.tensor("crop_b_" + name)), crop.rgb(), "B crop " + name);
                crops++;
            }
            SafetyFixtures.assertScores(expected.at("/scores/B/" + name), checkerB.forward(processorB.normalize(crop), 1).getFirst(), "B " + name);
            images++;
        }
        assertEquals(16, images);
        assertEquals(6, crops);
        List<String> roles = new ArrayList<>();
        expected.get("roles_b").fieldNames().forEachRemaining(roles::add);
        assertEquals(List.of("special_adj", "direct", "rounding", "special_clean", "cascade"), roles);
    }

    private static <T> Iterable<T> iterable(java.util.Iterator<T> it) { return () -> it; }
}
