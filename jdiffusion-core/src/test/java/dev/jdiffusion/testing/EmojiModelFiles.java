package dev.jdiffusion.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** The bundled emoji model's design (models/jdiffusion-emoji: configs and tokenizer) and its references (testdata/emoji). */
public final class EmojiModelFiles {
    private EmojiModelFiles() {}

    /** models/jdiffusion-emoji: the diffusers folder's configs and tokenizer, without weights. */
    public static Path configDir() { return Fixtures.root().getParent().resolve("models").resolve("jdiffusion-emoji"); }

    /** A file under testdata/emoji (made by the scripts under scripts/reference). */
    public static Path reference(String name) { return Fixtures.root().resolve("emoji").resolve(name); }

    public static JsonNode referenceJson(String name) {
        try {
            return new ObjectMapper().readTree(reference(name).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
