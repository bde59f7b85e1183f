package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.image.watermark.InvisibleWatermark;
import dev.jdiffusion.testing.Fixtures;
import dev.jdiffusion.testing.SafetyFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The safety commands end to end: generate with a model's safety checker (flagged images black and named on
 * stderr, --no-safety-checker), safety-check's scores against diffusers', the watermark commands against
 * imwatermark, and broken inputs as one line with exit status 2.
 */
class SafetyCommandsTest {
    @TempDir Path dir;
    StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    private static JsonNode generateCase(String name) {
        for (JsonNode c : SafetyFixtures.manifest().get("generate")) if (c.get("name").asText().equals(name)) return c;
        throw new AssertionError(name);
    }

    private String[] generateArgs(JsonNode c, Path png, String... more) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", SafetyFixtures.model().toString(),
                "--prompt", c.get("prompt").asText(), "--sampler", c.get("sampler").asText(),
                "--steps", c.get("steps").asText(), "--guidance", c.get("guidance").asText(), "--seed", c.get("seed").asText(),
                "--batch", c.get("batch").asText(), "--output", png.toString(), "--quiet"));
        if (c.has("width")) a.addAll(List.of("--width", c.get("width").asText(), "--height", c.get("height").asText()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    private static void assertNear(RgbImage expected, RgbImage actual, String what) {
        byte[] e = expected.rgb(), a = actual.rgb();
        assertEquals(e.length, a.length, what);
        long sum = 0;
        int worst = 0;
        for (int i = 0; i < e.length; i++) {
            int d = Math.abs((e[i] & 0xff) - (a[i] & 0xff));
            sum += d;
            worst = Math.max(worst, d);
        }
        assertTrue(worst <= 2, what + ": max difference " + worst);
        assertTrue(sum / (double) e.length < 0.05, what + ": mean difference " + sum / (double) e.length);
    }

    private static RgbImage png(Path p) throws IOException { return PngFiles.read(p).image(); }

    @Test
    void generateBlacksOutTheFlaggedImageOfABatchAndNamesItOnStderr() throws IOException {
        JsonNode c = generateCase("batch2_mixed");   // image 0 flagged (through the special-care +0.01), image 1 kept
        Path png = dir.resolve("mixed.png");
        assertEquals(0, run(generateArgs(c, png)), err.toString());
        RgbImage flagged = png(png), kept = png(dir.resolve("mixed-1.png"));
        for (byte v : flagged.rgb()) assertEquals(0, v, "the flagged image is written black");
        assertNear(SafetyFixtures.image(c.get("expect_png").get(1).asText()), kept, "the kept image is diffusers'");
        List<String> lines = err.toString().lines().toList();
        assertEquals(1, lines.size(), "one stderr line, for the flagged file only: " + lines);
        assertTrue(lines.getFirst().startsWith("jdiffusion: " + png + ": the safety checker flagged this image"), lines.getFirst());
        assertFalse(lines.getFirst().contains("mixed-1.png"));
        assertEquals(List.of(png.toString(), dir.resolve("mixed-1.png").toString()), out.toString().lines().toList());
        assertNotNull(PngFiles.read(png).text().get("parameters"), "a black image still carries its parameters");
    }

    @Test
    void noSafetyCheckerWritesTheImageDiffusersDrewBeforeBlackingItOut() throws IOException {
        JsonNode c = generateCase("txt2img_flagged_96x64_no_safety_checker");
        Path png = dir.resolve("unchecked.png");
        assertEquals(0, run(generateArgs(c, png, "--no-safety-checker")), err.toString());
        assertEquals("", err.toString());
        assertNear(SafetyFixtures.image(c.get("expect_png").get(0).asText()), png(png), "unchecked image");
    }

    @Test
    void aMissingOrBrokenCheckerIsOneLineNamingTheFileAndNoImage() throws IOException {
        JsonNode c = generateCase("txt2img_kept");
        Map<String, Path> broken = new HashMap<>();
        // Weights missing.
        Path noWeights = SafetyFixtures.copyModel(dir.resolve("no-weights"));
        Files.delete(noWeights.resolve("safety_checker/model.safetensors"));
        broken.put("no weights found", noWeights.resolve("safety_checker"));
        // Weights cut short (an interrupted copy).
        Path truncated = SafetyFixtures.copyModel(dir.resolve("truncated"));
        Path weights = truncated.resolve("safety_checker/model.safetensors");
        byte[] all = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(all, all.length / 2));
        broken.put("", weights);
        // The whole folder missing (downloaded with --no-safety-checker): say how to go on.
        Path noFolder = SafetyFixtures.copyModel(dir.resolve("no-folder"));
        Files.delete(noFolder.resolve("safety_checker/config.json"));
        Files.delete(noFolder.resolve("safety_checker/model.safetensors"));
        Files.delete(noFolder.resolve("safety_checker"));
        broken.put("--no-safety-checker", noFolder.resolve("safety_checker"));
        for (var e : broken.entrySet()) {
            Path model = e.getValue().getParent().getFileName().toString().equals("safety_checker")
                    ? e.getValue().getParent().getParent() : e.getValue().getParent();
            Path png = dir.resolve(model.getFileName() + ".png");
            String[] args = generateArgs(c, png);
            args[2] = model.toString();
            assertEquals(2, run(args), e.getValue() + ": " + err);
            List<String> lines = err.toString().lines().toList();
            assertEquals(1, lines.size(), lines.toString());
            assertTrue(lines.getFirst().startsWith("jdiffusion: " + e.getValue()), lines.getFirst());
            assertTrue(lines.getFirst().contains(e.getKey()), lines.getFirst());
            assertFalse(Files.exists(png), "no image, checked or not");
            // A folder downloaded without its checker: turning the checker off is the way on, as the message says.
            if (e.getKey().equals("--no-safety-checker")) {
                assertEquals(0, run(generateArgs(c, png, "--no-safety-checker")), err.toString());
                assertTrue(Files.exists(png));
            }
        }
        // A checker whose weights do not match its config: the tensor and the file are named.
        Path shape = SafetyFixtures.copyModel(dir.resolve("shape"));
        Path cfg = shape.resolve("safety_checker/config.json");
        Files.writeString(cfg, Files.readString(cfg).replace("\"projection_dim\": 24,\n  \"text_config\"", "\"projection_dim\": 16,\n  \"text_config\""));
        String[] args = generateArgs(c, dir.resolve("shape.png"));
        args[2] = shape.toString();
        assertEquals(2, run(args));
        assertTrue(err.toString().contains("'visual_projection.weight'") && err.toString().contains(shape.resolve("safety_checker/model.safetensors").toString()),
                err.toString());
        assertEquals(1, err.toString().lines().count());
    }

    @Test
    void safetyCheckJsonGivesDiffusersUnroundedScores() throws IOException {
        List<JsonNode> cases = new ArrayList<>();
        SafetyFixtures.manifest().at("/safety_check/open:A").forEach(cases::add);
        List<String> args = new ArrayList<>(List.of("safety-check", "--model", SafetyFixtures.model().toString(), "--json"));
        for (JsonNode c : cases) args.add(SafetyFixtures.file(c.get("image").asText()).toString());
        assertEquals(0, run(args.toArray(String[]::new)), err.toString());
        List<String> lines = out.toString().lines().toList();
        assertEquals(cases.size(), lines.size());
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < cases.size(); i++) {
            JsonNode got = json.readTree(lines.get(i)), ref = cases.get(i).get("ref");
            assertEquals(List.of("image", "nsfw", "concept_scores", "special_scores"), iterable(got.fieldNames()));
            assertEquals(args.get(4 + i), got.get("image").asText(), "the path as given");
            assertEquals(ref.get("nsfw").asBoolean(), got.get("nsfw").asBoolean(), lines.get(i));
            for (String k : List.of("concept_scores", "special_scores")) {
                assertEquals(ref.get(k).size(), got.get(k).size());
                for (int j = 0; j < ref.get(k).size(); j++)
                    assertEquals(ref.get(k).get(j).asDouble(), got.get(k).get(j).asDouble(), SafetyFixtures.SCORE_TOL, lines.get(i));
            }
        }
        // Plain output: one line per image, what was flagged and which special concepts were hit.
        assertEquals(0, run("safety-check", "--model", SafetyFixtures.model().toString(),
                SafetyFixtures.file("images/photo_224.png").toString(), SafetyFixtures.file("images/photo_512x384.png").toString()));
        assertEquals(List.of(SafetyFixtures.file("images/photo_224.png") + ": flagged (concepts 1), special care 0, 1",
                SafetyFixtures.file("images/photo_512x384.png") + ": ok"), out.toString().lines().toList());
    }

    private static List<String> iterable(java.util.Iterator<String> it) {
        List<String> l = new ArrayList<>();
        it.forEachRemaining(l::add);
        return l;
    }

    @Test
    void safetyCheckRefusesAModelWithoutCheckerAndMissingImages() {
        assertEquals(2, run("safety-check", "--model", Fixtures.model("tiny-sd15").toString(),
                SafetyFixtures.file("images/photo_224.png").toString()));
        assertEquals("jdiffusion: " + Fixtures.model("tiny-sd15").resolve("model_index.json")
                + ": 'safety_checker': this model has no safety checker", err.toString().strip());
        assertEquals(2, run("safety-check", "--model", SafetyFixtures.model().toString(), dir.resolve("nope.png").toString()));
        assertEquals("jdiffusion: " + dir.resolve("nope.png") + ": image not found", err.toString().strip());
        assertEquals("", out.toString());
    }

    @Test
    void watermarkEncodeAndDecodeAsImwatermark() throws IOException {
        Path in = dir.resolve("in.png"), marked = dir.resolve("marked.png");
        // The input carries generation parameters: the marked copy keeps them.
        PngFiles.write(in, SafetyFixtures.image("watermark/textured_256.png"), Map.of("parameters", "a prompt\nSteps: 8"));
        assertEquals(0, run("watermark", "encode", in.toString(), marked.toString(), "--text", "SDV2"), err.toString());
        assertEquals(marked + " (32 bits)", out.toString().strip());
        assertArrayEquals(SafetyFixtures.image("watermark/textured_256_sdv2.png").rgb(), png(marked).rgb(), "imwatermark's output");
        assertEquals("a prompt\nSteps: 8", PngFiles.read(marked).text().get("parameters"));
        assertEquals(0, run("watermark", "decode", marked.toString(), "--length", "32"), err.toString());
        assertEquals("SDV2", out.toString().strip());
        // imwatermark's own mark, with a non-ASCII text.
        assertEquals(0, run("watermark", "decode", SafetyFixtures.file("watermark/textured_512_utf8.png").toString(), "--length", "112"));
        assertEquals("ça marche ✓", out.toString().strip());
    }

    @Test
    void watermarkRefusesSmallImagesAndEmptyTexts() throws IOException {
        Path small = dir.resolve("small.png");
        PngFiles.write(small, SafetyFixtures.image("images/photo_224.png"), Map.of());
        assertEquals(2, run("watermark", "encode", small.toString(), dir.resolve("o.png").toString(), "--text", "SDV2"));
        assertEquals("jdiffusion: " + small + ": image too small for the invisible watermark: 224x224 has fewer pixels than"
                + " 256x256 (imwatermark refuses it too)", err.toString().strip());
        assertFalse(Files.exists(dir.resolve("o.png")));
        assertEquals(2, run("watermark", "decode", small.toString(), "--length", "32"));
        assertTrue(err.toString().contains("image too small"), err.toString());
        assertEquals(2, run("watermark", "encode", SafetyFixtures.file("watermark/textured_256.png").toString(),
                dir.resolve("o.png").toString(), "--text", ""));
        assertEquals(2, run("watermark", "encode", SafetyFixtures.file("watermark/textured_256.png").toString(),
                dir.resolve("o.jpg").toString(), "--text", "x"));
        assertEquals(1, err.toString().lines().count(), err.toString());
        // generate says so before it generates.
        assertEquals(2, run(generateArgs(generateCase("txt2img_kept"), dir.resolve("g.png"), "--watermark", "SDV2")));
        assertTrue(err.toString().contains("--watermark needs images of at least 256x256 pixels"), err.toString());
        assertTrue(err.toString().contains("64x64"), err.toString());
    }

    @Test
    void generateWatermarkMarksWhatItWrites() throws IOException {
        // 256x256 is the smallest size imwatermark takes, and costly for the tiny model (128x128 latents): one
        // generation of 1 step without CFG. That the marks are imwatermark's to the byte is InvisibleWatermarkTest's.
        Path marked = dir.resolve("marked.png");
        assertEquals(0, run("generate", "--model", Fixtures.model("tiny-sd15").toString(), "--prompt", "a lighthouse in a storm",
                "--steps", "1", "--guidance", "1", "--seed", "301", "--width", "256", "--height", "256", "--quiet",
                "--output", marked.toString(), "--watermark", "SD"), err.toString());
        assertEquals("SD", InvisibleWatermark.decode(png(marked), 16).text());
        assertEquals(0, run("watermark", "decode", marked.toString(), "--length", "16"));
        assertEquals("SD", out.toString().strip());
        assertTrue(PngFiles.read(marked).text().get("parameters").startsWith("a lighthouse in a storm\nSteps: 1"));
    }
}
