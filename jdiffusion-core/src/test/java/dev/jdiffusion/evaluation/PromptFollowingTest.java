package dev.jdiffusion.evaluation;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The evaluation end to end with the tiny SD 1.5 model, and its two measures on images with known answers. */
class PromptFollowingTest {
    private static final List<String> PROMPTS = List.of("a red apple", "a blue car", "a green tree");

    @Test
    void aModelThatDrawsExactlyTheGalleryIsAlwaysRight(@TempDir Path tmp) throws IOException {
        StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));
        GenerationRequest template = GenerationRequest.builder("").seed(3).steps(1).sampler("ddim").build();
        byte[] white = new byte[64 * 64 * 3];
        Arrays.fill(white, (byte) 255);
        RgbImage blank = new RgbImage(64, 64, white);

        // First pass against placeholders: the pictures the evaluation draws are what generate draws.
        PromptFollowing.Gallery placeholders = new PromptFollowing.Gallery(PROMPTS, List.of(blank, blank, blank));
        List<RgbImage> drawn = new ArrayList<>();
        PromptFollowing.Report first = PromptFollowing.evaluate(pipeline, placeholders, PROMPTS, template, (i, img) -> drawn.add(img));
        assertEquals(3, drawn.size());
        assertArrayEquals(pipeline.generate(GenerationRequest.builder(PROMPTS.get(1)).seed(3).steps(1).sampler("ddim").build())
                .images().getFirst().rgb(), drawn.get(1).rgb(), "the evaluation draws what generate draws");
        for (int i = 0; i < 3; i++)
            assertEquals(PromptFollowing.meanDifference(drawn.get(i), drawn.get((i + 1) % 3)), first.pairDifferences()[i], 0.0);
        assertTrue(first.minPairDifference() > 0, "prompts change the tiny model's pictures");

        // A gallery of exactly those pictures (an ImageFolder with list captions, the name first) plus a white image.
        StringBuilder metadata = new StringBuilder();
        for (int i = 0; i < PROMPTS.size(); i++) {
            PngFiles.write(tmp.resolve(i + ".png"), drawn.get(i), Map.of());
            metadata.append("{\"file_name\": \"").append(i).append(".png\", \"text\": [\"").append(PROMPTS.get(i))
                    .append("\", \"other\"]}\n");
        }
        PngFiles.write(tmp.resolve("white.png"), blank, Map.of());
        metadata.append("{\"file_name\": \"white.png\", \"text\": \"white\"}\n");
        Files.writeString(tmp.resolve("metadata.jsonl"), metadata);
        PromptFollowing.Gallery gallery = PromptFollowing.Gallery.readImageFolder(tmp);
        assertEquals(List.of("a red apple", "a blue car", "a green tree", "white"), gallery.names());
        NearestImages nearest = new NearestImages(gallery.images());
        List<PromptFollowing.PromptResult> results = new ArrayList<>();
        for (int i = 0; i < PROMPTS.size(); i++) {
            PromptFollowing.PromptResult r = PromptFollowing.measure(nearest, gallery, PROMPTS.get(i), Set.of(i), drawn.get(i));
            assertEquals(0, r.rank());
            assertEquals(0.0, r.targetDistance());
            assertEquals(PROMPTS.get(i), r.nearest());
            results.add(r);
        }
        PromptFollowing.Report report = new PromptFollowing.Report(results, first.pairDifferences(), gallery.images().size());
        assertEquals(1.0, report.top1());
        assertEquals(1.0, report.top5());
        assertEquals(0.25, report.chance(1));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PromptFollowing.evaluate(pipeline, gallery, List.of("a purple cow"), template, null));
        assertTrue(e.getMessage().contains("a purple cow"), e.getMessage());
    }

    @Test
    void meanDifferenceIsInLevels() {
        byte[] black = new byte[4 * 4 * 3], half = new byte[4 * 4 * 3], white = new byte[4 * 4 * 3];
        Arrays.fill(white, (byte) 255);
        for (int i = 0; i < half.length; i++) half[i] = (byte) (i % 2 == 0 ? 20 : 0);
        RgbImage b = new RgbImage(4, 4, black), h = new RgbImage(4, 4, half), w = new RgbImage(4, 4, white);
        assertEquals(255.0, PromptFollowing.meanDifference(b, w));
        assertEquals(10.0, PromptFollowing.meanDifference(b, h));
        assertEquals(0.0, PromptFollowing.meanDifference(h, h));
        assertThrows(IllegalArgumentException.class, () -> PromptFollowing.meanDifference(b, new RgbImage(2, 2, new byte[12])));
    }

    @Test
    void reportCountsTopOneAndTopFive() {
        List<PromptFollowing.PromptResult> results = List.of(
                new PromptFollowing.PromptResult("a", 0, "a", 1, 1), new PromptFollowing.PromptResult("b", 4, "x", 9, 2),
                new PromptFollowing.PromptResult("c", 5, "y", 9, 2), new PromptFollowing.PromptResult("d", 120, "z", 9, 2));
        PromptFollowing.Report r = new PromptFollowing.Report(results, new double[]{12, 3, 40, 11}, 1636);
        assertEquals(0.25, r.top1());
        assertEquals(0.5, r.top5());
        assertEquals(3.0, r.minPairDifference());
        assertEquals(11.5, r.medianPairDifference());
        assertEquals(0.75, r.pairsDifferent());
        assertEquals(1 / 1636.0, r.chance(1));
        assertTrue(r.summary().startsWith("4 prompts, gallery of 1636: top-1 25.0% (chance 0.06%), top-5 50.0%"), r.summary());
        assertEquals(1, NearestImages.rank(new double[]{0.5, 1, 1}, Set.of(1)));
    }
}
