package dev.jdiffusion.tools;

import dev.jdiffusion.training.ClipVocabularyCut;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Writes a CLIP tokenizer cut to its first N merges: {@code CutVocabulary SOURCE_DIR N TARGET_DIR}. Made the
 * bundled emoji model's tokenizer/ from testdata/tiny-sd15/tokenizer with N = 8000 (ClipVocabularyCutTest checks
 * the committed files are exactly what this writes). Not a test.
 */
public final class CutVocabulary {
    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            System.err.println("usage: CutVocabulary SOURCE_TOKENIZER_DIR MERGES TARGET_DIR");
            System.exit(2);
        }
        ClipVocabularyCut.write(Path.of(args[0]), Integer.parseInt(args[1]), Path.of(args[2]));
    }
}
