package dev.jdiffusion.cli;

import dev.jdiffusion.evaluation.PromptFollowing;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bundled model (models/jdiffusion-emoji) as a new user meets it: {@code generate} without {@code --model}
 * draws the same 64×64 picture as diffusers' {@code StableDiffusionPipeline.from_pretrained} on that folder (the
 * reference PNGs under testdata/bundled-model, made by scripts/reference/bundled_model_reference.py: the folder's
 * own DPMSolverMultistepScheduler, 20 steps, guidance 7.5, torch.Generator seeded 1), and the prompt matters.
 */
class BundledModelTest {
    static final Path REFERENCE = Path.of("..", "testdata", "bundled-model");
    @TempDir Path dir;
    final StringWriter out = new StringWriter(), err = new StringWriter();

    private RgbImage generate(String prompt, Path file) throws IOException {
        int code = Main.run(new String[]{"generate", "--prompt", prompt, "--seed", "1", "--output", file.toString(), "--quiet"},
                new PrintWriter(out, true), new PrintWriter(err, true));
        assertEquals(0, code, err.toString());
        return PngFiles.read(file).image();
    }

    @Test
    void generateWithoutModelDrawsWhatDiffusersDrawsFromTheBundledFolder() throws IOException {
        for (String prompt : new String[]{"red apple", "hot beverage"}) {
            RgbImage ours = generate(prompt, dir.resolve(prompt.replace(' ', '_') + ".png"));
            RgbImage theirs = PngFiles.read(REFERENCE.resolve(prompt.replace(' ', '_') + "_seed1.png")).image();
            assertEquals(64, ours.width());
            assertEquals(64, ours.height());
            int max = 0;
            for (int i = 0; i < ours.rgb().length; i++)
                max = Math.max(max, Math.abs((ours.rgb()[i] & 0xff) - (theirs.rgb()[i] & 0xff)));
            // The bound: within 2 levels of diffusers (float32 rounding across 20 steps and the decoder).
            assertTrue(max <= 2, prompt + ": max difference from diffusers " + max + " levels");
        }
    }

    @Test
    void theSameSeedWithTwoPromptsGivesClearlyDifferentPictures() throws IOException {
        RgbImage a = generate("red apple", dir.resolve("a.png")), b = generate("blue heart", dir.resolve("b.png"));
        double mean = PromptFollowing.meanDifference(a, b);
        assertTrue(mean > 10, "mean difference between the prompts' pictures " + mean + " levels, not above 10");
    }

    @Test
    void theBundledFolderIsSmallAndCarriesItsModelCard() throws IOException {
        Path model = BundledModel.locate();
        long bytes;
        try (var files = Files.walk(model)) {
            bytes = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        assertTrue(bytes < 20L << 20, "bundled model folder is " + bytes + " bytes, over 20 MB");
        String card = Files.readString(model.resolve("README.md"));
        assertTrue(card.contains("jdiffusion train unet") && card.contains("jdiffusion train vae") && card.contains("Apache"),
                "the model card names the training commands and the artwork's licence");
    }
}
