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
        Result r = run("tokenize", "--model", Fixtures.model(model).toString(), "--json", prompt);
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

    @Test
    void humanLineCountsTokensLikeTheWebUis() {
        Path tokenizer = Fixtures.model("tiny-sd15").resolve("tokenizer");
        Result r = run("tokenize", "--model", tokenizer.toString(), "a photo of an astronaut riding a horse on the moon");
        assertEquals(0, r.status(), r.err());
        assertEquals("11/75 tokens: 320 1125 539 550 18376 6765 320 4558 525 518 3293" + System.lineSeparator(), r.out());
    }

    @Test
    void humanLineSaysWhatIsDropped() {
        Result r = run("tokenize", "--model", Fixtures.model("tiny-sd15").toString(), "a ".repeat(80));
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith("80/75 tokens (the last 5 are dropped): 320 320 "), r.out());
    }

    @Test
    void missingModelFolderIsOneLineNamingThePath(@TempDir Path tmp) {
        Path missing = tmp.resolve("no-such-model");
        Result r = run("tokenize", "--model", missing.toString(), "a cat");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertEquals("", r.out());
        assertEquals("jdiffusion: " + missing + ": no such model folder" + System.lineSeparator(), r.err());
    }

    @Test
    void folderWithoutTokenizerIsOneLineNamingThePath(@TempDir Path tmp) {
        Result r = run("tokenize", "--model", tmp.toString(), "a cat");
        assertEquals(Main.EXIT_USAGE, r.status());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("jdiffusion: " + tmp + ": neither a diffusers model folder"), r.err());
    }

}
