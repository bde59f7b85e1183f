package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.evaluation.NearestImages;
import dev.jdiffusion.evaluation.PromptFollowing;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.testing.EmojiModelFiles;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** init-model, dataset emoji and eval-emoji from the command line: outputs, numbers, one-line errors with status 2. */
class EmojiCommandsTest {
    record Result(int status, String out, String err) {}

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int status = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(status, out.toString(), err.toString());
    }

    @Test
    void initModelWritesAFolderThatGenerateDrawsAt64Pixels(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("emoji");
        Result init = run("init-model", "--config", EmojiModelFiles.configDir().toString(), "--output", model.toString(), "--seed", "5");
        assertEquals(0, init.status(), init.err());
        assertEquals(model + System.lineSeparator(), init.out());
        assertTrue(init.err().contains("8,109,003 parameters: 32.4 MB as float32, 16.2 MB as float16"), init.err());
        assertTrue(init.err().contains("training FLOPs per sample (3 x forward): VAE 7.18 G; UNet 1.68 G, with the text encoder 1.84 G"),
                init.err());

        Path png = tmp.resolve("apple.png");
        Result gen = run("generate", "--model", model.toString(), "--prompt", "red apple", "--seed", "1", "--steps", "2",
                "--quiet", "--output", png.toString());
        assertEquals(0, gen.status(), gen.err());
        PngFiles.Read read = PngFiles.read(png);
        assertEquals(64, read.image().width(), "the model's own size: sample_size 16 × VAE factor 4");
        assertEquals(64, read.image().height());
        assertTrue(read.text().get("parameters").contains("Size: 64x64"), read.text().toString());

        Result again = run("init-model", "--config", EmojiModelFiles.configDir().toString(), "--output", model.toString());
        assertEquals(2, again.status());
        assertEquals(1, again.err().lines().count(), again.err());
        assertTrue(again.err().contains("already exists"), again.err());
    }

    @Test
    void datasetEmojiNamesWhatIsMissing(@TempDir Path tmp) {
        Result r = run("dataset", "emoji", "--package", tmp.resolve("nothing").toString(), "--output", tmp.resolve("out").toString());
        assertEquals(2, r.status());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().contains("emoji.json"), r.err());
        assertTrue(Files.notExists(tmp.resolve("out")));
    }

    /** The report's ranks, distances and differences are those of the pictures it saved, measured afresh. */
    @Test
    void evalEmojiReportsWhatItsPicturesShow(@TempDir Path tmp) throws Exception {
        Path gallery = Files.createDirectory(tmp.resolve("gallery"));
        List<String> names = List.of("a red circle", "a blue square", "a yellow triangle");
        String[] files = {"gallery_0.png", "gallery_5.png", "gallery_3.png"};
        StringBuilder metadata = new StringBuilder();
        for (int i = 0; i < files.length; i++) {
            Files.copy(EmojiModelFiles.reference("eval").resolve(files[i]), gallery.resolve(files[i]));
            metadata.append("{\"file_name\": \"").append(files[i]).append("\", \"text\": [\"").append(names.get(i)).append("\"]}\n");
        }
        Files.writeString(gallery.resolve("metadata.jsonl"), metadata);
        Path prompts = Files.writeString(tmp.resolve("prompts.txt"), "a red circle\na yellow triangle\n");

        Path pictures = tmp.resolve("pictures");
        Result r = run("eval-emoji", "--model", Fixtures.model("tiny-sd15").toString(), "--dataset", gallery.toString(),
                "--prompts", prompts.toString(), "--steps", "2", "--sampler", "ddim", "--seed", "4",
                "--images", pictures.toString(), "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(2, json.get("prompts").intValue());
        assertEquals(3, json.get("gallery").intValue());

        PromptFollowing.Gallery g = PromptFollowing.Gallery.readImageFolder(gallery);
        NearestImages nearest = new NearestImages(g.images());
        RgbImage p0 = PngFiles.read(pictures.resolve("000.png")).image(), p1 = PngFiles.read(pictures.resolve("001.png")).image();
        double[] d0 = nearest.distances(p0), d1 = nearest.distances(p1);
        JsonNode results = json.get("results");
        assertEquals(NearestImages.rank(d0, Set.of(0)), results.get(0).get("rank").intValue());
        assertEquals(NearestImages.rank(d1, Set.of(2)), results.get(1).get("rank").intValue());
        assertEquals(d0[0], results.get(0).get("target_distance").doubleValue(), 0.0);
        assertEquals(d1[2], results.get(1).get("target_distance").doubleValue(), 0.0);
        assertEquals(PromptFollowing.meanDifference(p0, p1), results.get(0).get("difference_to_next").doubleValue(), 0.0);
        int hits = (results.get(0).get("rank").intValue() == 0 ? 1 : 0) + (results.get(1).get("rank").intValue() == 0 ? 1 : 0);
        assertEquals(hits / 2.0, json.get("top1").doubleValue(), 0.0);
        assertEquals(1.0, json.get("top5").doubleValue(), 0.0, "a gallery of three: every rank is below 5");

        // --package: the package's flags and components join the gallery (issue 10's 1,911), ranked like the rest.
        Path pkg = Files.createDirectories(tmp.resolve("package/img/google/64"));
        Files.copy(EmojiModelFiles.reference("eval").resolve("gallery_2.png"), pkg.resolve("1f1ea-1f1ec.png"));
        Files.writeString(tmp.resolve("package/emoji.json"), "[{\"name\": \"EGYPT FLAG\", \"image\": \"1f1ea-1f1ec.png\", "
                + "\"category\": \"Flags\", \"subcategory\": \"country-flag\", \"sort_order\": 1, \"has_img_google\": true}]");
        Result withPackage = run("eval-emoji", "--model", Fixtures.model("tiny-sd15").toString(), "--dataset", gallery.toString(),
                "--prompts", prompts.toString(), "--steps", "2", "--sampler", "ddim", "--seed", "4",
                "--package", tmp.resolve("package").toString(), "--json");
        assertEquals(0, withPackage.status(), withPackage.err());
        JsonNode wp = new ObjectMapper().readTree(withPackage.out());
        assertEquals(4, wp.get("gallery").intValue());
        NearestImages four = new NearestImages(g.plus(List.of("egypt flag"),
                List.of(PngFiles.read(pkg.resolve("1f1ea-1f1ec.png")).image())).images());
        assertEquals(NearestImages.rank(four.distances(p0), Set.of(0)), wp.get("results").get(0).get("rank").intValue());
        assertEquals(NearestImages.rank(four.distances(p1), Set.of(2)), wp.get("results").get(1).get("rank").intValue());
        Result noPackage = run("eval-emoji", "--model", Fixtures.model("tiny-sd15").toString(), "--dataset", gallery.toString(),
                "--prompts", prompts.toString(), "--steps", "1", "--package", tmp.resolve("nothing").toString());
        assertEquals(2, noPackage.status());
        assertEquals(1, noPackage.err().lines().count(), noPackage.err());
        assertTrue(noPackage.err().contains("emoji.json"), noPackage.err());

        Result unknown = run("eval-emoji", "--model", Fixtures.model("tiny-sd15").toString(), "--dataset", gallery.toString(),
                "--prompts", Files.writeString(tmp.resolve("bad.txt"), "a purple cow\n").toString(), "--steps", "1");
        assertEquals(2, unknown.status());
        assertEquals(1, unknown.err().lines().count(), unknown.err());
        assertTrue(unknown.err().contains("a purple cow"), unknown.err());
    }
}
