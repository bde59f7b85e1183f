package dev.jdiffusion.image;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.SafetyFixtures;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * PNG files of every mode Pillow opens (grey, grey + alpha, RGBA, palette with and without transparency, 4-bit
 * palette, 1-bit, 16-bit grey, RGB and RGBA) read as Pillow 9.4's {@code convert("RGB")} makes them, byte for
 * byte (scripts/reference/safety_extra.py).
 */
class PilConvertTest {
    private static byte[] bytes(WeightTensor t) {
        byte[] out = new byte[Math.toIntExact(t.size())];
        for (int i = 0; i < out.length; i++) out[i] = (byte) t.getLong(i);
        return out;
    }

    @Test
    void everyPngModeAsPillowConvertsIt() throws IOException {
        SafeTensors ref = SafeTensors.open(SafetyFixtures.file("extra/expected.safetensors"));
        int compared = 0;
        for (String name : ref.names()) {
            if (!name.startsWith("rgb_")) continue;
            Path png = SafetyFixtures.file("extra/images/" + name.substring(4) + ".png");
            RgbImage image = PngFiles.read(png).image();
            WeightTensor expected = ref.tensor(name);
            assertEquals(expected.dim(1), image.width(), name);
            assertEquals(expected.dim(0), image.height(), name);
            assertArrayEquals(bytes(expected), image.rgb(), name);
            compared++;
        }
        assertEquals(10, compared, "PNG modes");
    }

    @Test
    void greyIsCopiedNotColourManagedAsBufferedImageGetRgbDoes() throws IOException {
        Path png = SafetyFixtures.file("images/gray_128.png");
        RgbImage pil = PilConvert.toRgb(ImageIO.read(png.toFile()));
        RgbImage awt = RgbImage.fromBufferedImage(ImageIO.read(png.toFile()));
        assertEquals(109, pil.get(5, 5, 0));       // what Pillow reads (and the grey sample in the file)
        assertNotEquals(pil, awt);                  // getRGB turns linear grey 109 into sRGB 175
        assertEquals(pil.get(5, 5, 0), pil.get(5, 5, 2));
    }
}
