package dev.jdiffusion.image;

import dev.jdiffusion.testing.EmojiModelFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Compositing onto white exactly as PIL 9.4 does it (testdata/emoji/alpha, from
 * scripts/reference/alpha_composite_reference.py): every (colour, alpha) pair, and images in the modes the Noto
 * emoji come in (RGBA, LA, palette with tRNS) plus RGB and L. Identical bytes.
 */
class RgbaImageTest {
    private static Path dir() { return EmojiModelFiles.reference("alpha"); }

    @ParameterizedTest
    @ValueSource(strings = {"rgba_all_pairs", "la", "p_trns", "rgb", "l"})
    void compositesOntoWhiteAsPil(String name) throws IOException {
        RgbImage ours = RgbaImage.read(dir().resolve(name + ".png")).compositeOnto(255, 255, 255);
        RgbImage pil = RgbImage.fromBufferedImage(ImageIO.read(dir().resolve(name + "_on_white.png").toFile()));
        assertEquals(pil.width(), ours.width());
        assertEquals(pil.height(), ours.height());
        assertArrayEquals(pil.rgb(), ours.rgb(), name);
    }

    @Test
    void overWhiteIsTheExactValueRoundedHalfUp() throws IOException {
        // PIL's fixed-point arithmetic lands on floor((c·a + 255·(255 − a)) / 255 + 1/2) for every pair over white.
        RgbImage ours = RgbaImage.read(dir().resolve("rgba_all_pairs.png")).compositeOnto(255, 255, 255);
        for (int a = 0; a < 256; a++)
            for (int c = 0; c < 256; c++)
                assertEquals((int) Math.floor((c * a + 255.0 * (255 - a)) / 255 + 0.5), ours.get(c, a, 0), "c " + c + ", a " + a);
        assertEquals(127, ours.get(0, 128, 0));   // 127.0
        assertEquals(255, ours.get(200, 1, 0));   // 254.78
        assertEquals(101, ours.get(100, 254, 0)); // 100.61
        assertEquals(183, ours.get(17, 77, 0));   // 183.13
        assertEquals(255, ours.get(0, 0, 0));     // transparent: the background, whatever the colour underneath
        assertEquals(0, ours.get(0, 255, 0));     // opaque: the colour
    }

    @Test
    void transparentPixelsBecomeWhiteWhateverTheirColour() throws IOException {
        RgbaImage la = RgbaImage.read(dir().resolve("la.png"));
        RgbImage white = la.compositeOnto(255, 255, 255);
        int coloured = 0;
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 16; x++) {
                assertEquals(0, la.get(x, y, 3));
                if (la.get(x, y, 0) != 255) coloured++;
                for (int c = 0; c < 3; c++) assertEquals(255, white.get(x, y, c));
            }
        assertTrue(coloured > 50, "the transparent rows carry grey bleed (" + coloured + " of 64 pixels)");
    }

    @Test
    void notAnImageIsOneLineNamingTheFile(@TempDir Path tmp) throws IOException {
        Path bad = Files.writeString(tmp.resolve("bad.png"), "not a png");
        IOException e = assertThrows(IOException.class, () -> RgbaImage.read(bad));
        assertTrue(e.getMessage().contains("bad.png"), e.getMessage());
    }
}
