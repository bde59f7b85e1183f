package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.testing.Fixtures;
import dev.jdiffusion.training.TrainerBehaviourTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `jdiffusion train` end to end: a real run on a synthetic ImageFolder, replay parity, and errors. */
class TrainCommandTest {
    @TempDir Path dir;
    final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @Test
    void trainsOnASyntheticImageFolderAndTheTrainedFolderGenerates() throws IOException {
        Path data = TrainerBehaviourTest.shapes(dir.resolve("data"), 200);
        Path model = dir.resolve("trained");
        int code = run("train", "unet", "--model", Fixtures.model("tiny-sd15").toString(), "--train-data", data.toString(),
                "--resolution", "16", "--batch-size", "4", "--steps", "40", "--learning-rate", "2e-3", "--caption-dropout", "0.1",
                "--validation-prompt", "a red square", "--validation-every", "20", "--output", model.toString(), "--quiet");
        assertEquals(0, code, err.toString());
        for (String step : List.of("000020", "000040")) {
            PngFiles.Read v = PngFiles.read(model.resolve("validation/step-" + step + ".png"));
            assertTrue(v.text().get("parameters").startsWith("a red square\n"), v.text().toString());
        }
        List<String> log = Files.readAllLines(model.resolve("train_log.jsonl"));
        assertEquals(40, log.size());
        ObjectMapper json = new ObjectMapper();
        double first = 0, last = 0;
        for (int i = 0; i < 5; i++) {
            JsonNode a = json.readTree(log.get(i)), b = json.readTree(log.get(log.size() - 1 - i));
            assertEquals(i + 1, a.get("step").asInt());
            assertTrue(a.get("grad_norm").asDouble() > 0 && a.get("lr").asDouble() == 2e-3);
            first += a.get("loss").asDouble() / 5;
            last += b.get("loss").asDouble() / 5;
        }
        assertTrue(last < 0.5 * first, "loss fell from " + first + " to " + last);

        // The trained folder loads and generates through the same command as any model, with the trained weights.
        Path before = dir.resolve("before.png"), after = dir.resolve("after.png");
        for (Path[] p : new Path[][]{{Fixtures.model("tiny-sd15"), before}, {model, after}})
            assertEquals(0, run("generate", "--model", p[0].toString(), "--prompt", "a red square", "--width", "16", "--height", "16",
                    "--steps", "10", "--seed", "3", "--output", p[1].toString(), "--quiet"), err.toString());
        byte[] a = PngFiles.read(before).image().rgb(), b = PngFiles.read(after).image().rgb();
        assertEquals(16 * 16 * 3, b.length);
        double diff = 0;
        for (int i = 0; i < a.length; i++) diff += Math.abs((a[i] & 0xff) - (b[i] & 0xff));
        assertTrue(diff / a.length > 5, "the trained model draws another picture (mean difference " + diff / a.length + ")");
    }

    @Test
    void replayFromTheCommandLineMatchesPyTorch() throws IOException {
        Path fixture = Fixtures.root().resolve("training/unet_sgd");
        Path model = dir.resolve("replayed");
        int code = run("train", "unet", "--model", Fixtures.model("tiny-sd15").toString(), "--replay",
                fixture.resolve("replay.safetensors").toString(), "--optimizer", "sgd", "--learning-rate", "0.05",
                "--max-grad-norm", "0", "--output", model.toString(), "--quiet");
        assertEquals(0, code, err.toString());
        SafeTensors expected = SafeTensors.open(fixture.resolve("expected.safetensors"));
        List<String> log = Files.readAllLines(model.resolve("train_log.jsonl"));
        assertEquals(2, log.size());
        ObjectMapper json = new ObjectMapper();
        for (int k = 0; k < 2; k++) {
            double ref = expected.tensor("loss." + k).getDouble(0);
            assertEquals(ref, json.readTree(log.get(k)).get("loss").asDouble(), 1e-4 * ref);
        }
        SafeTensors trained = SafeTensors.open(model.resolve("unet/diffusion_pytorch_model.safetensors"));
        double worst = 0;
        for (String name : trained.names()) {
            float[] got = trained.tensor(name).toFloatArray(), want = expected.tensor("unet." + name).toFloatArray();
            for (int i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        }
        assertTrue(worst < 2e-6, "largest difference from PyTorch's weights " + worst);
    }

    @Test
    void badInputIsOneLineWithStatus2AndNoModel() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Path model = dir.resolve("m");
        assertEquals(2, run("train", "unet", "--model", Fixtures.model("tiny-sd15").toString(), "--train-data", empty.toString(),
                "--steps", "1", "--output", model.toString()));
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().startsWith("jdiffusion: ") && err.toString().contains("metadata.jsonl is missing"), err.toString());
        assertFalse(Files.exists(model.resolve("unet")));

        err.getBuffer().setLength(0);
        assertEquals(2, run("train", "vae", "--model", Fixtures.model("tiny-sd15").toString(), "--train-data", empty.toString(),
                "--steps", "1", "--optimizer", "lion", "--output", model.toString()));
        assertTrue(err.toString().contains("--optimizer must be sgd or adamw"), err.toString());
        assertEquals(1, err.toString().strip().lines().count());
    }

    @Test
    void aDivergingRunIsOneLineNamingTheStep() throws IOException {
        Path data = TrainerBehaviourTest.shapes(dir.resolve("data"), 8);
        int code = run("train", "unet", "--model", Fixtures.model("tiny-sd15").toString(), "--train-data", data.toString(),
                "--resolution", "16", "--steps", "5", "--optimizer", "sgd", "--learning-rate", "1e18", "--max-grad-norm", "0",
                "--output", dir.resolve("m").toString(), "--quiet");
        assertEquals(1, code);
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertTrue(err.toString().matches("(?s)jdiffusion: the loss became .* at step \\d+;.*"), err.toString());
    }
}
