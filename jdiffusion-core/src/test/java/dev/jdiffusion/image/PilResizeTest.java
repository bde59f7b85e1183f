package dev.jdiffusion.image;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Pillow 9.4's Image.resize outputs (scripts/reference/pil_resize.py) for L, RGB and RGBA images, every
 * convolution filter, shrinking and enlarging, square and not: all bytes equal.
 */
class PilResizeTest {
    private static final SafeTensors REF = SafeTensors.open(Fixtures.root().resolve("pil-resize/resize.safetensors"));

    private static byte[] bytes(WeightTensor t) {
        byte[] out = new byte[Math.toIntExact(t.size())];
        for (int i = 0; i < out.length; i++) out[i] = (byte) t.getLong(i);
        return out;
    }

    @Test
    void everyModeFilterAndSizeEqualsPillow() {
        int compared = 0;
        for (String mode : new String[]{"L", "RGB", "RGBA"}) {
            WeightTensor input = REF.tensor("input_" + mode);
            int h = input.dim(0), w = input.dim(1), bands = input.dim(2);
            byte[] in = bytes(input);
            for (String name : REF.names()) {
                if (!name.startsWith("out_" + mode + "_")) continue;
                String[] parts = name.split("_");
                PilResize.Filter filter = PilResize.Filter.valueOf(parts[2]);
                String[] size = parts[3].split("x");
                int tw = Integer.parseInt(size[0]), th = Integer.parseInt(size[1]);
                byte[] got = bands == 4 ? PilResize.resizeWithAlpha(in, w, h, bands, tw, th, filter)
                        : PilResize.resize(in, w, h, bands, tw, th, filter, null);
                assertArrayEquals(bytes(REF.tensor(name)), got, name);
                compared++;
            }
        }
        assertEquals(3 * 5 * 5, compared);
    }

    @Test
    void rgbImageResizeIsTheRgbPath() {
        WeightTensor input = REF.tensor("input_RGB");
        RgbImage image = new RgbImage(input.dim(1), input.dim(0), bytes(input));
        assertArrayEquals(bytes(REF.tensor("out_RGB_LANCZOS_64x48")), PilResize.resize(image, 64, 48, PilResize.Filter.LANCZOS).rgb());
        assertEquals(image, PilResize.resize(image, image.width(), image.height(), PilResize.Filter.BICUBIC));
    }

    @Test
    void refusesMismatchedBuffersAndEmptySizes() {
        assertThrows(IllegalArgumentException.class, () -> PilResize.resize(new byte[5], 2, 2, 1, 4, 4, PilResize.Filter.BILINEAR, null));
        assertThrows(IllegalArgumentException.class, () -> PilResize.resize(new byte[4], 2, 2, 1, 0, 4, PilResize.Filter.BILINEAR, null));
    }
}
