package dev.jdiffusion.models.clip;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClipTokenizerTest {

    static int[] ids(SafeTensors expected, String name) {
        return Arrays.stream(expected.tensor(name).toLongArray()).mapToInt(Math::toIntExact).toArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void matchesTransformersOnEveryFixturePrompt(String model) {
        ClipTokenizer tokenizer = ClipTokenizer.load(Fixtures.model(model).resolve("tokenizer"));
        SafeTensors expected = Fixtures.expected(model, "tokenizer.safetensors");
        List<String> prompts = Fixtures.tokenizerPrompts(model);
        assertEquals(20, prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            String prompt = prompts.get(i), nn = "%02d".formatted(i);
            int[] untruncated = ids(expected, "untruncated_" + nn);
            assertArrayEquals(ids(expected, "ids_" + nn), tokenizer.encodePadded(prompt), model + " ids_" + nn + ": " + prompt);
            assertArrayEquals(untruncated, tokenizer.encodeUntruncated(prompt), model + " untruncated_" + nn + ": " + prompt);
            assertEquals(untruncated.length - 2, tokenizer.encode(prompt).length, model + " encode " + nn);
        }
    }

    @Test
    void specialTokensComeFromTheTokenizerFiles() {
        ClipTokenizer sd15 = ClipTokenizer.load(Fixtures.model("tiny-sd15").resolve("tokenizer"));
        ClipTokenizer sd2 = ClipTokenizer.load(Fixtures.model("tiny-sd2").resolve("tokenizer"));
        assertAll(
                () -> assertEquals(77, sd15.maxLength()),
                () -> assertEquals(49406, sd15.bosId()),
                () -> assertEquals(49407, sd15.eosId()),
                () -> assertEquals(49407, sd15.padId()),
                () -> assertEquals(77, sd2.maxLength()),
                () -> assertEquals(49406, sd2.bosId()),
                () -> assertEquals(49407, sd2.eosId()),
                () -> assertEquals(0, sd2.padId()));
    }

    @Test
    void encodesTheClassicPrompt() {
        ClipTokenizer tokenizer = ClipTokenizer.load(Fixtures.model("tiny-sd15").resolve("tokenizer"));
        assertArrayEquals(new int[]{320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 518, 3293},
                tokenizer.encode("a photo of an astronaut riding a horse on the moon"));
    }

    @Test
    void padTokenOfSd2IsAnAddedTokenThatSplitsText() {
        // "!" is SD 2's pad token, so transformers splits it off before BPE: "!!" is two tokens, not one.
        ClipTokenizer sd15 = ClipTokenizer.load(Fixtures.model("tiny-sd15").resolve("tokenizer"));
        ClipTokenizer sd2 = ClipTokenizer.load(Fixtures.model("tiny-sd2").resolve("tokenizer"));
        assertEquals(1, sd15.encode("!!").length);
        assertArrayEquals(new int[]{0, 0}, sd2.encode("!!"));
    }

    @Test
    void longPromptsAreTruncatedTo75TokensBetweenBosAndEos() {
        ClipTokenizer tokenizer = ClipTokenizer.load(Fixtures.model("tiny-sd15").resolve("tokenizer"));
        int[] padded = tokenizer.encodePadded("a ".repeat(100));
        assertEquals(77, padded.length);
        assertEquals(49406, padded[0]);
        assertEquals(320, padded[75]);
        assertEquals(49407, padded[76]);
        assertEquals(100, tokenizer.encode("a ".repeat(100)).length);
    }

    @Test
    void missingVocabIsAnErrorNamingTheFile(@TempDir Path dir) throws IOException {
        copyTokenizer(dir);
        Files.delete(dir.resolve("vocab.json"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ClipTokenizer.load(dir));
        assertEquals(dir.resolve("vocab.json"), e.file());
        assertEquals(dir.resolve("vocab.json") + ": file not found", e.getMessage());
    }

    @Test
    void malformedMergesLineIsAnErrorNamingFileAndLine(@TempDir Path dir) throws IOException {
        copyTokenizer(dir);
        Path merges = dir.resolve("merges.txt");
        List<String> lines = new ArrayList<>(Files.readAllLines(merges));
        lines.set(2, "t h e");
        Files.write(merges, lines);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ClipTokenizer.load(dir));
        assertEquals(merges + ": line 3: expected two symbols separated by a space, found 't h e'", e.getMessage());
    }

    @Test
    void nonIntegerVocabIdIsAnErrorNamingFileAndToken(@TempDir Path dir) throws IOException {
        copyTokenizer(dir);
        Files.writeString(dir.resolve("vocab.json"), "{\"a</w>\": 320, \"b</w>\": \"x\"}");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ClipTokenizer.load(dir));
        assertEquals(dir.resolve("vocab.json"), e.file());
        assertEquals("b</w>", e.key());
    }

    private static void copyTokenizer(Path dir) throws IOException {
        Path src = Fixtures.model("tiny-sd15").resolve("tokenizer");
        for (String f : List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"))
            Files.copy(src.resolve(f), dir.resolve(f));
    }
}
