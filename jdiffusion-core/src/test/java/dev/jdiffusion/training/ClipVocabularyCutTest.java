package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.models.clip.ClipTokenizer;
import dev.jdiffusion.testing.EmojiModelFiles;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The bundled emoji model's tokenizer: CLIP's first 8,000 merges. The committed files are exactly what the cut
 * writes, in transformers' file format, and tokenize as transformers' slow CLIPTokenizer does with them
 * (testdata/emoji/tokenizer-cut-reference.json, from scripts/reference/clip_tokenizer_reference.py).
 */
class ClipVocabularyCutTest {
    private static final Path FULL = Fixtures.model("tiny-sd15").resolve("tokenizer");

    @Test
    void vocabJsonIsWrittenAsTransformersSavesIt() throws IOException {
        // The full CLIP vocab.json was written by transformers' save_vocabulary: the writer reproduces it byte for byte.
        Map<String, Integer> vocab = new TreeMap<>();
        JsonConfig.read(FULL.resolve("vocab.json")).root().properties().forEach(e -> vocab.put(e.getKey(), e.getValue().intValue()));
        assertEquals(Files.readString(FULL.resolve("vocab.json")), ClipVocabularyCut.vocabJson(vocab));
    }

    @Test
    void committedTokenizerIsTheCutOfClipsVocabulary(@TempDir Path tmp) throws IOException {
        ClipVocabularyCut.write(FULL, 8000, tmp);
        Path committed = EmojiModelFiles.configDir().resolve("tokenizer");
        for (String f : new String[]{"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"})
            assertArrayEquals(Files.readAllBytes(committed.resolve(f)), Files.readAllBytes(tmp.resolve(f)), f);
        JsonNode vocab = JsonConfig.read(committed.resolve("vocab.json")).root();
        assertAll(
                () -> assertEquals(8514, vocab.size()),
                () -> assertEquals(8512, vocab.get("<|startoftext|>").intValue()),
                () -> assertEquals(8513, vocab.get("<|endoftext|>").intValue()),
                () -> assertEquals(8001, Files.readAllLines(committed.resolve("merges.txt")).size()),
                // Kept tokens keep CLIP's ids: "the</w>" is 518 in both, "photo</w>" 1125.
                () -> assertEquals(518, vocab.get("the</w>").intValue()),
                () -> assertEquals(1125, vocab.get("photo</w>").intValue()));
    }

    @Test
    void tokenizesAsTransformersDoesWithTheCutVocabulary() {
        ClipTokenizer tokenizer = ClipTokenizer.load(EmojiModelFiles.configDir().resolve("tokenizer"));
        assertAll(
                () -> assertEquals(8512, tokenizer.bosId()),
                () -> assertEquals(8513, tokenizer.eosId()),
                () -> assertEquals(8513, tokenizer.padId()),
                () -> assertEquals(77, tokenizer.maxLength()));
        JsonNode ref = EmojiModelFiles.referenceJson("tokenizer-cut-reference.json");
        JsonNode prompts = ref.get("prompts");
        assertEquals(62, prompts.size(), "reference prompts");
        int longer = 0;
        for (int i = 0; i < prompts.size(); i++) {
            String p = prompts.get(i).asText();
            assertArrayEquals(ints(ref.get("input_ids").get(i)), tokenizer.encodePadded(p), "input_ids " + i + ": " + p);
            assertArrayEquals(ints(ref.get("untruncated").get(i)), tokenizer.encodeUntruncated(p), "untruncated " + i + ": " + p);
            if (ref.get("untruncated").get(i).size() > ref.get("untruncated_full_vocabulary").get(i).size()) longer++;
        }
        // The cut changes real prompts ("astronaut" is 7982 627 339 instead of 18376): 40 of the 62 get longer.
        assertEquals(40, longer);
        assertArrayEquals(new int[]{8512, 7982, 627, 339, 8513}, tokenizer.encodeUntruncated("astronaut"));
    }

    @Test
    void aSmallerCutRenumbersTheSpecialTokens(@TempDir Path tmp) throws IOException {
        ClipVocabularyCut.write(FULL, 10, tmp);
        ClipTokenizer tokenizer = ClipTokenizer.load(tmp);
        assertEquals(524, JsonConfig.read(tmp.resolve("vocab.json")).root().size());
        assertEquals(522, tokenizer.bosId());
        assertEquals(523, tokenizer.eosId());
        // The first ten merges are "i n", "t h", "a n", "r e", "a r", "e r", "th e</w>", "in g</w>", "o u", "o n":
        // "the" is two merges away (t h, then th e</w> = 518); "cat" stays c, a, t</w> (ids 66, 64, 339).
        assertArrayEquals(new int[]{522, 518, 66, 64, 339, 523}, tokenizer.encodeUntruncated("the cat"));
    }

    private static int[] ints(JsonNode arr) {
        int[] out = new int[arr.size()];
        for (int i = 0; i < out.length; i++) out[i] = arr.get(i).intValue();
        return out;
    }
}
