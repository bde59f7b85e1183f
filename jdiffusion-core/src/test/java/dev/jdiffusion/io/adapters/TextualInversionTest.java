package dev.jdiffusion.io.adapters;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The embedding files of the fixtures in their three formats, and what is refused. */
class TextualInversionTest {
    static Path emb(String f) { return Fixtures.root().resolve("prompt-control/embeddings").resolve(f); }

    @Test
    void readsTheThreeFormats() {
        TextualInversion pt = TextualInversion.read(emb("vividstyle.pt"));
        assertEquals("vividstyle", pt.trigger(), "A1111 .pt: the file's stem, not its inner name vivid_style_v2");
        assertEquals(3, pt.count());
        assertEquals(32, pt.width());

        TextualInversion st = TextualInversion.read(emb("softgrain.safetensors"));
        assertEquals("softgrain", st.trigger());
        assertEquals(2, st.count());
        WeightTensor half = SafeTensors.open(emb("softgrain.safetensors")).tensor("emb_params");
        assertArrayEquals(half.toFloatArray(), st.vectors(), "fp16 widened exactly");

        TextualInversion d = TextualInversion.read(emb("learned_embeds.safetensors"));
        assertEquals("<glow-toy>", d.trigger(), "diffusers: the stored token");
        assertEquals(1, d.count());
        assertArrayEquals(SafeTensors.open(emb("learned_embeds.safetensors")).tensor("<glow-toy>").toFloatArray(), d.vectors());
    }

    @Test
    void aFolderListsEmbeddingFilesOnly(@TempDir Path dir) throws IOException {
        Files.copy(emb("vividstyle.pt"), dir.resolve("vividstyle.pt"));
        Files.createDirectories(dir.resolve("sub"));
        Files.copy(emb("softgrain.safetensors"), dir.resolve("sub/softgrain.safetensors"));
        Files.writeString(dir.resolve("vividstyle.preview.png"), "png");
        Files.writeString(dir.resolve(".hidden.pt"), "x");
        Files.createFile(dir.resolve("empty.pt"));
        assertEquals(List.of(dir.resolve("sub/softgrain.safetensors"), dir.resolve("vividstyle.pt")), TextualInversion.filesIn(dir));
    }

    @Test
    void whatIsNotAnEmbeddingIsNamed(@TempDir Path dir) throws IOException {
        WeightTensor v = WeightTensor.ofFloats("v", new float[8], 2, 4);
        Path two = dir.resolve("two.safetensors");
        SafeTensorsWriter.write(two, Map.of("a", v, "b", v), Map.of());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> TextualInversion.read(two));
        assertTrue(e.getMessage().startsWith(two + ": not a textual-inversion embedding") && e.getMessage().contains("2 tensors"), e.getMessage());
        Path xl = dir.resolve("xl.safetensors");
        SafeTensorsWriter.write(xl, Map.of("clip_l", v, "clip_g", v), Map.of());
        assertTrue(assertThrows(ModelFormatException.class, () -> TextualInversion.read(xl)).getMessage().contains("SDXL embedding"));
        Path missing = dir.resolve("nope.pt");
        assertEquals(missing + ": embedding file not found", assertThrows(ModelFormatException.class, () -> TextualInversion.read(missing)).getMessage());
    }
}
