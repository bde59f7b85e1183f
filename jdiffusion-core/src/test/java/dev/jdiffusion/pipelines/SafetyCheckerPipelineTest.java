package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.SafetyFixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pipeline with the fixture model's safety checker, against diffusers' StableDiffusionPipeline /
 * Img2ImgPipeline with theirs (the manifest's 5 generate cases): the same images flagged, flagged images all
 * black, kept ones within 2 levels (mean under 0.05) of diffusers'; with the checker off, the flagged
 * image as diffusers drew it before blacking it out.
 */
class SafetyCheckerPipelineTest {
    private static StableDiffusionPipeline checked, unchecked;

    @BeforeAll
    static void load() {
        checked = StableDiffusionPipeline.load(SafetyFixtures.model());
        unchecked = StableDiffusionPipeline.load(SafetyFixtures.model(), LoadOptions.DEFAULTS.withSafetyChecker(false));
    }

    static GenerationRequest request(JsonNode c) {
        GenerationRequest.Builder b = GenerationRequest.builder(c.get("prompt").asText()).steps(c.get("steps").asInt())
                .guidanceScale(c.get("guidance").asDouble()).sampler(c.get("sampler").asText()).seed(c.get("seed").asLong())
                .batchSize(c.get("batch").asInt()).size(c.path("width").asInt(0), c.path("height").asInt(0));
        if (c.has("init_image")) b.initImage(SafetyFixtures.image(c.get("init_image").asText()), c.get("strength").asDouble());
        return b.build();
    }

    /** Every value within 2 levels of the reference and the mean difference under 0.05 levels. */
    static void assertNear(byte[] expected, byte[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        long sum = 0;
        int worst = 0;
        for (int i = 0; i < expected.length; i++) {
            int d = Math.abs((expected[i] & 0xff) - (actual[i] & 0xff));
            sum += d;
            worst = Math.max(worst, d);
        }
        assertTrue(worst <= 2, what + ": max difference " + worst + " levels");
        assertTrue(sum / (double) expected.length < 0.05, what + ": mean difference " + sum / (double) expected.length);
    }

    private static byte[] slice(WeightTensor t, int index) {
        int n = (int) (t.size() / t.dim(0));
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) out[i] = (byte) t.getLong((long) index * n + i);
        return out;
    }

    @Test
    void flagsAndBlackImagesAsDiffusers() {
        SafeTensors ref = SafetyFixtures.expected();
        int flagged = 0, kept = 0;
        for (JsonNode c : SafetyFixtures.manifest().get("generate")) {
            String name = c.get("name").asText();
            boolean off = c.path("no_safety_checker").asBoolean(false);
            GenerationResult result = (off ? unchecked : checked).generate(request(c));
            List<Boolean> expectBlack = new ArrayList<>();
            c.get("expect_black").forEach(b -> expectBlack.add(b.asBoolean()));
            if (off) assertNull(result.nsfwContentDetected(), name + ": no checker ran");
            else assertEquals(expectBlack, result.nsfwContentDetected(), name + ": flags");
            for (int i = 0; i < expectBlack.size(); i++) {
                RgbImage image = result.images().get(i);
                String what = name + " #" + i;
                if (expectBlack.get(i)) {
                    for (byte v : image.rgb()) assertEquals(0, v, what + ": a flagged image is black");
                    assertNear(slice(ref.tensor("generate_" + name + "_A_image_u8"), i), image.rgb(), what);
                    flagged++;
                } else {
                    assertNear(SafetyFixtures.image(c.get("expect_png").get(i).asText()).rgb(), image.rgb(), what);
                    if (!off) assertNear(slice(ref.tensor("generate_" + name + "_A_image_u8"), i), image.rgb(), what);
                    kept++;
                }
            }
        }
        assertEquals(3, flagged, "flagged images in the fixture cases");
        assertEquals(3, kept, "kept images in the fixture cases (one with the checker off)");
    }

    @Test
    void theStepScoresWhatItIsGivenAndBlacksOutOnlyTheFlagged() {
        SafetyCheckerStep step = checked.safetyChecker().orElseThrow();
        RgbImage bad = SafetyFixtures.image("images/photo_256.png"), good = SafetyFixtures.image("images/photo_512x384.png");
        SafetyCheckerStep.Checked result = step.apply(List.of(good, bad, good));
        assertEquals(List.of(false, true, false), result.nsfw());
        assertEquals(good, result.images().get(0));
        assertEquals(256 * 256 * 3, result.images().get(1).rgb().length);
        for (byte v : result.images().get(1).rgb()) assertEquals(0, v);
        // Batched scoring gives each image's own scores (the fixture's, within 1e-4).
        JsonNode photo256 = null;
        for (JsonNode c : SafetyFixtures.manifest().at("/safety_check/open:A"))
            if (c.get("name").asText().equals("photo_256")) photo256 = c.get("ref");
        SafetyFixtures.assertScores(photo256, result.scores().get(1), "photo_256 in a batch");
    }
}
