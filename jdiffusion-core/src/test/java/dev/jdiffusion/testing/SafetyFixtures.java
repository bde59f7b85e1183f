package dev.jdiffusion.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.SafeTensors;

import dev.jdiffusion.models.safety.StableDiffusionSafetyChecker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * testdata/safety/: the safety checker and watermark references (copied from shared/fixtures/safety) and
 * the extra references that scripts/reference/ made for unseen cases.
 */
public final class SafetyFixtures {
    private SafetyFixtures() {}

    public static Path root() { return Fixtures.root().resolve("safety"); }

    /** tiny-sd15-safe: tiny-sd15 (its parts are links) plus a tiny random safety checker and SD 1.5's feature extractor. */
    public static Path model() { return root().resolve("tiny-sd15-safe"); }

    public static JsonNode manifest() { return json(root().resolve("manifest.json")); }

    public static SafeTensors expected() { return SafeTensors.open(root().resolve("expected/safety.safetensors")); }

    public static Path file(String relative) { return root().resolve(relative); }

    public static RgbImage image(String relative) {
        try {
            return PngFiles.read(file(relative)).image();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static JsonNode json(Path file) {
        try {
            return JsonMapper.builder().build().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(file.toString(), e);
        }
    }

    /**
     * A writable copy of the safe model at {@code target}: the checker and feature extractor copied, the other
     * parts linked to tiny-sd15 (tests damage the checker, never the shared parts).
     */
    public static Path copyModel(Path target) {
        try {
            Files.createDirectories(target);
            try (var parts = Files.list(model())) {
                for (Path p : (Iterable<Path>) parts::iterator) {
                    Path to = target.resolve(p.getFileName().toString());
                    if (Files.isSymbolicLink(p)) Files.createSymbolicLink(to, p.toRealPath());
                    else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                        Files.createDirectories(to);
                        try (var files = Files.list(p)) {
                            for (Path f : (Iterable<Path>) files::iterator) Files.copy(f, to.resolve(f.getFileName().toString()));
                        }
                    } else Files.copy(p, to);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("copying " + model() + " to " + target, e);
        }
        return target;
    }

    /** The bar for scores: float32 here, float64 in numpy there. */
    public static final double SCORE_TOL = 1e-4;

    /** Unrounded scores within 1e-4, and the same decisions as diffusers. */
    public static void assertScores(JsonNode ref, StableDiffusionSafetyChecker.Scores s, String what) {
        assertClose(ref.get("concept_scores"), s.conceptScores(), what + ": concept scores");
        assertClose(ref.get("special_scores"), s.specialScores(), what + ": special scores");
        assertEquals(ref.get("nsfw").asBoolean(), s.nsfw(), what + ": nsfw");
        assertEquals(ints(ref.get("special_care")), s.specialCare(), what + ": special care");
        assertEquals(ints(ref.get("bad_concepts")), s.badConcepts(), what + ": bad concepts");
    }

    public static void assertClose(JsonNode expected, double[] actual, String what) {
        assertEquals(expected.size(), actual.length, what + ": count");
        for (int i = 0; i < actual.length; i++) {
            double e = expected.get(i).asDouble();
            assertTrue(Math.abs(actual[i] - e) <= SCORE_TOL, what + "[" + i + "]: expected " + e + " got " + actual[i]);
        }
    }

    private static List<Integer> ints(JsonNode arr) {
        List<Integer> out = new ArrayList<>();
        arr.forEach(n -> out.add(n.asInt()));
        return out;
    }
}
