package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizeCommandTest {

    record Result(int status, String out, String err) {}

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int status = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(status, out.toString(), err.toString());
    }

    /** Prompts 1 (SD 2 splits "!!" off as pad tokens), 9 (emoji) and 11 (110 tokens, truncated) of the fixtures. */
    @ParameterizedTest
    @CsvSource({"tiny-sd15, 1", "tiny-sd15, 9", "tiny-sd15, 11", "tiny-sd2, 1", "tiny-sd2, 9", "tiny-sd2, 11"})
    void jsonHoldsTheReferenceIdsAndTheUntruncatedCount(String model, int index) throws Exception {
        String prompt = Fixtures.tokenizerPrompts(model).get(index);
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", Fixtures.model(model).toString(), "--json", prompt);
        assertEquals(0, r.status(), r.err());
        assertEquals("", r.err());
        assertEquals(1, r.out().lines().count(), "exactly one JSON object");

        JsonNode json = new ObjectMapper().readTree(r.out());
        SafeTensors expected = Fixtures.expected(model, "tokenizer.safetensors");
        long[] ids = expected.tensor("ids_%02d".formatted(index)).toLongArray();
        long untruncated = expected.tensor("untruncated_%02d".formatted(index)).size();
        long[] actual = new long[json.get("input_ids").size()];
        for (int i = 0; i < actual.length; i++) actual[i] = json.get("input_ids").get(i).longValue();
        assertArrayEquals(ids, actual);
        assertEquals(untruncated - 2, json.get("tokens").intValue());
        assertEquals(75, json.get("max").intValue());
        assertEquals(List.of("input_ids", "tokens", "max"), json.properties().stream().map(Map.Entry::getKey).toList());
    }

    /**
     * A single file carries no tokenizer: the built-in CLIP tokenizer of the family its tensors show, which pads
     * SD 1.x with {@code <|endoftext|>} and SD 2.x with {@code !} (prompt 1 ends in "!!", prompt 11 is truncated).
     */
    @ParameterizedTest
    @CsvSource({"tiny-sd15.safetensors, tiny-sd15, 1", "tiny-sd15.ckpt, tiny-sd15, 11", "tiny-sd2.safetensors, tiny-sd2, 1",
            "tiny-sd2.safetensors, tiny-sd2, 11"})
    void aSingleFileUsesTheBuiltInTokenizerOfItsFamily(String file, String model, int index) throws Exception {
        Path checkpoint = Fixtures.root().resolve("single-file").resolve(file);
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", checkpoint.toString(), "--json", Fixtures.tokenizerPrompts(model).get(index));
        assertEquals(0, r.status(), r.err());
        assertArrayEquals(Fixtures.expected(model, "tokenizer.safetensors").tensor("ids_%02d".formatted(index)).toLongArray(),
                inputIds(r.out()));
    }

    /** A cached snapshot of a single-file repo (here with fp16 and fp32 copies of an SD 2.x file) tokenizes as the file does. */
    @Test
    void aSnapshotFolderHoldingCheckpointsUsesTheirFamilysTokenizer(@TempDir Path snapshot) throws Exception {
        Path dir = Fixtures.root().resolve("single-file");
        Files.createSymbolicLink(snapshot.resolve("tiny-sd2.safetensors"), dir.resolve("tiny-sd2.safetensors"));
        Files.createSymbolicLink(snapshot.resolve("tiny-sd2-fp16.safetensors"), dir.resolve("tiny-sd2.safetensors"));
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", snapshot.toString(), "--json", Fixtures.tokenizerPrompts("tiny-sd2").get(1));
        assertEquals(0, r.status(), r.err());
        assertArrayEquals(Fixtures.expected("tiny-sd2", "tokenizer.safetensors").tensor("ids_01").toLongArray(), inputIds(r.out()));
    }

    @Test
    void aFileThatIsNoCheckpointIsOneLine(@TempDir Path tmp) throws Exception {
        Path png = Files.writeString(tmp.resolve("cat.png"), "not a model");
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", png.toString(), "a cat");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("jdiffusion: " + png + ": unknown model file format"), r.err());
    }

    static long[] inputIds(String jsonLine) throws Exception {
        JsonNode ids = new ObjectMapper().readTree(jsonLine).get("input_ids");
        long[] out = new long[ids.size()];
        for (int i = 0; i < out.length; i++) out[i] = ids.get(i).longValue();
        return out;
    }

    @Test
    void humanLineCountsTokensLikeTheWebUis() {
        Path tokenizer = Fixtures.model("tiny-sd15").resolve("tokenizer");
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", tokenizer.toString(), "a photo of an astronaut riding a horse on the moon");
        assertEquals(0, r.status(), r.err());
        assertEquals("11/75 tokens: 320 1125 539 550 18376 6765 320 4558 525 518 3293" + System.lineSeparator(), r.out());
    }

    @Test
    void humanLineSaysWhatIsDropped() {
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", Fixtures.model("tiny-sd15").toString(), "a ".repeat(80));
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("80/75 tokens (the last 5 are dropped): 320 320 "), r.out());
    }

    @Test
    void missingModelFolderIsOneLineNamingThePath(@TempDir Path tmp) {
        Path missing = tmp.resolve("no-such-model");
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", missing.toString(), "a cat");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertEquals("", r.out());
        assertEquals("jdiffusion: " + missing + ": model not found: no such file or folder (nor a Hugging Face repo id"
                + " such as org/name)" + System.lineSeparator(), r.err());
    }

    @Test
    void folderWithoutTokenizerIsOneLineNamingThePath(@TempDir Path tmp) {
        Result r = run("tokenize", "--prompt-syntax", "plain", "--model", tmp.toString(), "a cat");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("jdiffusion: " + tmp + ": neither a diffusers model folder"), r.err());
    }

}
