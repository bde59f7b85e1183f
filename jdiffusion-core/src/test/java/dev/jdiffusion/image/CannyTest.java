package dev.jdiffusion.image;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/**
 * OpenCV 4.6's cv2.Canny on RGB arrays: the image-control fixture's five edge maps, and 17 more cases made by
 * scripts/reference/canny.py (other images and sizes down to 1×1, swapped and fractional thresholds, zero
 * thresholds, diagonal stripes for the 45° branch): every pixel equal.
 */
class CannyTest {
    static final Path ROOT = Fixtures.root().resolve("image-control");

    @Test
    void fixtureEdgeMapsAreEqual() throws IOException {
        JsonNode cases = dev.jdiffusion.testing.ImageControlFixtures.manifest().get("canny");
        assertEquals(5, cases.size());
        for (JsonNode c : cases) {
            RgbImage input = PngFiles.read(ROOT.resolve(c.get("input").asText())).image();
            PilImage expected = PngFiles.readPixels(ROOT.resolve(c.get("expected").asText()));
            byte[] edges = Canny.edgeMap(input, c.get("low").asDouble(), c.get("high").asDouble());
            byte[] want = expected.convert(PilImage.Mode.L).pixels();
            assertArrayEquals(want, edges, c.get("expected").asText());
            int count = 0;
            for (byte b : edges) if (b != 0) count++;
            assertEquals(c.get("edge_pixels").asInt(), count, c.get("expected").asText());
        }
    }

    @Test
    void moreImagesSizesAndThresholdsAreEqual() {
        SafeTensors ref = SafeTensors.open(Fixtures.root().resolve("image-control-extra/canny.safetensors"));
        int n = Integer.parseInt(ref.metadata().get("cases"));
        assertTrue(n >= 17);
        for (int k = 0; k < n; k++) {
            String id = "%02d".formatted(k);
            WeightTensor in = ref.tensor("input_" + id);
            double[] t = ref.tensor("thresholds_" + id).toDoubleArray();
            RgbImage image = new RgbImage(in.dim(1), in.dim(0), bytes(in));
            assertArrayEquals(bytes(ref.tensor("edges_" + id)), Canny.edgeMap(image, t[0], t[1]),
                    "case " + id + " " + in.dim(1) + "x" + in.dim(0) + " thresholds " + t[0] + ", " + t[1]);
        }
    }

    @Test
    void edgesImageRepeatsTheMapAndSpecsParse() throws IOException {
        RgbImage in = PngFiles.readPixels(ROOT.resolve("inputs/scene_b_64.png")).toRgb();
        RgbImage e = Canny.edges(in, 50, 150);
        byte[] map = Canny.edgeMap(in, 50, 150);
        for (int i = 0; i < map.length; i++)
            for (int c = 0; c < 3; c++) assertEquals(map[i], e.rgb()[3 * i + c]);
        assertArrayEquals(new double[]{100, 200}, Canny.parseSpec("canny:100:200"));
        assertArrayEquals(new double[]{0.5, 20}, Canny.parseSpec("canny:0.5:20"));
        for (String bad : new String[]{"canny", "canny:1", "sobel:1:2", "canny:a:2", "canny:-1:2", "canny:1:2:3"})
            assertTrue(assertThrows(IllegalArgumentException.class, () -> Canny.parseSpec(bad)).getMessage().contains(bad), bad);
    }

    static byte[] bytes(WeightTensor t) {
        byte[] out = new byte[Math.toIntExact(t.size())];
        for (int i = 0; i < out.length; i++) out[i] = (byte) t.getLong(i);
        return out;
    }
}
