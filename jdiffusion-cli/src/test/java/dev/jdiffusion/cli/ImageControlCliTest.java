package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import dev.jdiffusion.testing.ImageControlFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The image-control fixture's command lines, run as a user types them: inpainting with a padding crop and a
 * multi-ControlNet generation give diffusers' pictures, `preprocess canny` gives OpenCV's edge maps exactly; bad
 * masks, control images and ControlNets are one line and exit status 2, with no picture written.
 */
class ImageControlCliTest {
    @TempDir Path dir;
    final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(List<String> args) {
        return Main.run(args.toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(err, true));
    }

    /** The manifest's command line with paths made absolute (they are relative to the fixture folder). */
    static List<String> cli(JsonNode c, Path output) {
        List<String> args = new ArrayList<>();
        String prev = "";
        for (JsonNode a : c.get("cli")) {
            String v = a.asText();
            if (prev.equals("--model") || prev.equals("--init-image") || prev.equals("--mask") || prev.equals("--controlnet")
                    || prev.equals("--control-image"))
                v = ImageControlFixtures.path(v).toString();
            args.add(v);
            prev = v;
        }
        args.add("--output");
        args.add(output.toString());
        return args;
    }

    @Test
    void fixtureCommandLinesGiveDiffusersPictures() throws IOException {
        for (String name : List.of("inpaint9_crop6_96x64_seed6", "cn_multi_ab_euler_seed15")) {
            JsonNode c = ImageControlFixtures.caseNamed(name);
            Path png = dir.resolve(name + ".png");
            assertEquals(0, run(cli(c, png)), err.toString());
            SafeTensors ref = ImageControlFixtures.expected(name);
            WeightTensor expected = ref.tensor("image_u8");
            PilImage got = PngFiles.readPixels(png);
            int worst = 0;
            long sum = 0;
            for (int i = 0; i < expected.size(); i++) {
                int d = Math.abs((got.pixels()[i] & 0xff) - (int) expected.getLong(i));
                worst = Math.max(worst, d);
                sum += d;
            }
            assertTrue(worst <= 2 && sum / (double) expected.size() < 0.05, name + ": max " + worst + ", sum " + sum);
            String params = PngFiles.read(png).text().get("parameters");
            if (name.startsWith("inpaint")) assertTrue(params.contains("Inpaint area: Only masked, Masked area padding: 6"), params);
            else assertTrue(params.contains("ControlNet 1: \"Module: none, Model: controlnet-b, Weight: 1.2, Resize Mode: Just Resize,"
                    + " Guidance Start: 0.3, Guidance End: 1\""), params);
        }
    }

    @Test
    void preprocessCannyWritesOpenCvsEdges() throws IOException {
        for (JsonNode c : ImageControlFixtures.manifest().get("canny")) {
            Path png = dir.resolve("edges.png");
            List<String> args = new ArrayList<>();
            for (JsonNode a : c.get("cli")) args.add(a.asText());
            args.set(args.size() - 2, ImageControlFixtures.path(args.get(args.size() - 2)).toString());
            args.set(args.size() - 1, png.toString());
            assertEquals(0, run(args), err.toString());
            PilImage got = PngFiles.readPixels(png), want = PngFiles.readPixels(ImageControlFixtures.path(c.get("expected").asText()));
            assertEquals(PilImage.Mode.RGB, got.mode());
            assertArrayEquals(want.convert(PilImage.Mode.RGB).pixels(), got.pixels(), c.get("expected").asText());
        }
        Path bad = Files.writeString(dir.resolve("not-a-picture.png"), "hello");
        assertEquals(2, run(List.of("preprocess", "canny", bad.toString(), dir.resolve("o.png").toString())));
        assertFalse(Files.exists(dir.resolve("o.png")));
        assertEquals(2, run(List.of("preprocess", "canny", "--low", "-3", bad.toString(), dir.resolve("o.png").toString())));
    }

    @Test
    void badInputsAreOneLineAndExitStatusTwo() throws IOException {
        Path model = Fixtures.model("tiny-sd15"), png = dir.resolve("out.png");
        String scene = ImageControlFixtures.path("inputs/scene_a_64.png").toString();
        String mask = ImageControlFixtures.path("inputs/mask_rect_64.png").toString();
        String cnA = ImageControlFixtures.path("controlnet-a").toString();
        Path garbage = Files.writeString(dir.resolve("mask.png"), "not a png");
        Path sd2 = Files.createDirectories(dir.resolve("controlnet-sd2"));
        Files.writeString(sd2.resolve("config.json"), Files.readString(ImageControlFixtures.path("controlnet-a/config.json"))
                .replace("\"cross_attention_dim\": 32", "\"cross_attention_dim\": 1024"));
        List<String> base = List.of("generate", "--model", model.toString(), "--prompt", "a fox", "--steps", "2",
                "--width", "64", "--height", "64", "--seed", "1", "--output", png.toString(), "--quiet");
        record Case(List<String> extra, String message) {}
        List<Case> cases = List.of(
                new Case(List.of("--init-image", scene, "--mask", garbage.toString()), "--mask " + garbage),
                new Case(List.of("--init-image", scene, "--mask", dir.resolve("missing.png").toString()), "file not found"),
                new Case(List.of("--mask", mask), "--mask needs --init-image"),
                new Case(List.of("--init-image", scene, "--padding-mask-crop", "4"), "--padding-mask-crop needs --mask"),
                new Case(List.of("--controlnet", cnA, "--control-image", garbage.toString()), "--control-image " + garbage),
                new Case(List.of("--controlnet", cnA), "each --controlnet needs its --control-image"),
                new Case(List.of("--controlnet", cnA, "--control-image", scene, "--control-scale", "1", "--control-scale", "2"),
                        "--control-scale is given 2 times for 1 --controlnet"),
                new Case(List.of("--controlnet", cnA, "--control-image", scene, "--control-guidance-start", "0.8",
                        "--control-guidance-end", "0.2"), "must satisfy 0 <= start < end <= 1"),
                new Case(List.of("--controlnet", cnA, "--control-image", scene, "--control-preprocess", "sobel"), "unknown preprocessor 'sobel'"),
                new Case(List.of("--guess-mode"), "--guess-mode needs --controlnet"),
                new Case(List.of("--controlnet", sd2.toString(), "--control-image", scene),
                        "ControlNet controlnet-sd2 is for Stable Diffusion 2.x (text width 1024) but the model tiny-sd15 is a model with text width 32"),
                new Case(List.of("--controlnet", dir.resolve("nope").toString(), "--control-image", scene), "not found"));
        for (Case c : cases) {
            err.getBuffer().setLength(0);
            List<String> args = new ArrayList<>(base);
            args.addAll(c.extra());
            assertEquals(2, run(args), String.join(" ", c.extra()) + ": " + err);
            String text = err.toString().strip();
            assertEquals(1, text.lines().count(), text);
            assertTrue(text.startsWith("jdiffusion: ") && text.contains(c.message()), c.message() + " in: " + text);
            assertFalse(Files.exists(png), "no picture for " + c.extra());
        }
    }
}
