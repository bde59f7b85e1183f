package dev.jdiffusion.server;

import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Starting test servers on loopback and comparing their images. */
final class ServerFixtures {
    private ServerFixtures() {}

    static ServerOptions options(Path outputDir) {
        return new ServerOptions(Fixtures.model("tiny-sd15"), Fixtures.root(), LoadOptions.DEFAULTS, "127.0.0.1", 0,
                Map.of(), 16, List.of(), outputDir, Limits.DEFAULTS);
    }

    static ServerOptions withQueue(ServerOptions o, int queueSize) {
        return new ServerOptions(o.model(), o.modelsDir(), o.loadOptions(), o.host(), o.port(), o.credentials(), queueSize,
                o.corsOrigins(), o.outputDir(), o.limits());
    }

    /** Every pixel within 2 levels of 255 of diffusers' image_u8 (entry {@code index}), mean below 0.05 levels. */
    static void assertMatchesReference(RgbImage image, String referenceFile, int index) {
        SafeTensors ref = Fixtures.expected("tiny-sd15", referenceFile);
        {
            WeightTensor expected = ref.tensor("image_u8");
            int h = expected.dim(1), w = expected.dim(2);
            assertEquals(w, image.width());
            assertEquals(h, image.height());
            long sum = 0;
            int worst = 0;
            for (int i = 0; i < h * w * 3; i++) {
                int d = Math.abs((image.rgb()[i] & 0xff) - (int) expected.getLong((long) index * h * w * 3 + i));
                sum += d;
                worst = Math.max(worst, d);
            }
            assertTrue(worst <= 2, "max difference " + worst + " levels");
            assertTrue(sum / (double) (h * w * 3) < 0.05, "mean difference " + sum / (double) (h * w * 3));
        }
    }

    /** The img2img reference's init image. */
    static RgbImage initImage(String referenceFile) {
        SafeTensors ref = Fixtures.expected("tiny-sd15", referenceFile);
        {
            WeightTensor init = ref.tensor("init_image_u8");
            byte[] rgb = new byte[(int) init.size()];
            for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) init.getLong(i);
            return new RgbImage(init.dim(1), init.dim(0), rgb);
        }
    }

    static void assertSamePixels(RgbImage expected, RgbImage actual) {
        assertEquals(expected.width(), actual.width());
        assertEquals(expected.height(), actual.height());
        assertArrayEquals(expected.rgb(), actual.rgb(), "pixels differ");
    }
}
