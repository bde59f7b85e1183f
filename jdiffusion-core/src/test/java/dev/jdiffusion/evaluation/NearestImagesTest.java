package dev.jdiffusion.evaluation;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.testing.EmojiModelFiles;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The prompt-following measure on synthetic images (testdata/emoji/eval: shapes drawn by OpenCV, and the measure
 * computed there with OpenCV's GaussianBlur and numpy by scripts/reference/emoji_eval_reference.py).
 */
class NearestImagesTest {
    private static RgbImage image(String name) throws IOException {
        return RgbImage.fromBufferedImage(ImageIO.read(EmojiModelFiles.reference("eval").resolve(name + ".png").toFile()));
    }

    private static List<RgbImage> images(String prefix, int n) throws IOException {
        List<RgbImage> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(image(prefix + "_" + i));
        return out;
    }

    @Test
    void descriptorsAreOpenCvsBlurAveragedTo16By16() throws IOException {
        JsonNode ref = EmojiModelFiles.referenceJson("eval/reference.json");
        List<RgbImage> gallery = images("gallery", 6), queries = images("query", 4);
        double worst = 0;
        for (int i = 0; i < 6; i++) worst = Math.max(worst, maxDiff(ref.get("gallery_descriptors").get(i), NearestImages.descriptor(gallery.get(i), 0, 0)));
        for (int i = 0; i < 4; i++) worst = Math.max(worst, maxDiff(ref.get("query_descriptors").get(i), NearestImages.descriptor(queries.get(i), 0, 0)));
        assertTrue(worst < 2e-3, "largest difference to OpenCV: " + worst + " levels");
    }

    @Test
    void distancesAreTheBestOverShiftsOfFourPixels() throws IOException {
        JsonNode ref = EmojiModelFiles.referenceJson("eval/reference.json");
        NearestImages nearest = new NearestImages(images("gallery", 6));
        List<RgbImage> queries = images("query", 4);
        for (int q = 0; q < 4; q++) {
            double[] d = nearest.distances(queries.get(q));
            for (int g = 0; g < 6; g++) {
                double expected = ref.get("distances").get(q).get(g).asDouble();
                assertEquals(expected, d[g], 1e-5 * expected + 1e-2, "query " + q + ", gallery " + g);
            }
        }
        // Query 0 is gallery image 0 moved by (3, -2): moving it back restores it exactly.
        assertEquals(0.0, nearest.distances(queries.get(0))[0]);
        double unshifted = NearestImages.squaredDistance(NearestImages.descriptor(queries.get(0), 0, 0),
                NearestImages.descriptor(image("gallery_0"), 0, 0));
        assertEquals(ref.get("unshifted_distance_query0_gallery0").asDouble(), unshifted, 1e-5 * unshifted);
        assertTrue(unshifted > 1e5, "the shift search matters: unshifted, the same picture is " + unshifted + " away");
    }

    @Test
    void ranksCountOtherImagesStrictlyCloser() throws IOException {
        NearestImages nearest = new NearestImages(images("gallery", 6));
        List<RgbImage> queries = images("query", 4);
        // Gallery: 0 red circle, 1 green circle, 2 red square, 3 yellow triangle, 4 small red circle, 5 blue square.
        assertEquals(0, NearestImages.rank(nearest.distances(queries.get(1)), Set.of(0)), "a red circle: top-1");
        assertEquals(3, NearestImages.rank(nearest.distances(queries.get(1)), Set.of(4)),
                "as 'small red circle': three others closer, top-5 but not top-1");
        assertEquals(0, NearestImages.rank(nearest.distances(queries.get(2)), Set.of(5)), "a blue square");
        assertEquals(0, NearestImages.rank(nearest.distances(queries.get(3)), Set.of(3)), "a triangle moved beyond the shifts");
        assertEquals(0, NearestImages.rank(new double[]{1, 1, 2}, Set.of(1)), "a tie with an identical image is not a miss");
        assertEquals(1, NearestImages.rank(new double[]{1, 3, 2}, Set.of(1, 2)), "the best of several targets counts");
        assertThrows(IllegalArgumentException.class, () -> nearest.distances(new RgbImage(32, 32, new byte[32 * 32 * 3])));
    }

    @Test
    void aWhitePictureIsAtDistanceZeroFromWhiteAndFarFromAnyShape() throws IOException {
        byte[] white = new byte[64 * 64 * 3];
        Arrays.fill(white, (byte) 255);
        RgbImage blank = new RgbImage(64, 64, white);
        float[] d = NearestImages.descriptor(blank, 2, -3);
        for (float v : d) assertEquals(255f, v, 1e-3f);
        List<RgbImage> gallery = new ArrayList<>(images("gallery", 6));
        gallery.add(blank);
        double[] dist = new NearestImages(gallery).distances(blank);
        assertEquals(0.0, dist[6], 1e-3);
        for (int i = 0; i < 6; i++) assertTrue(dist[i] > 1e5, "shape " + i + ": " + dist[i]);
    }

    private static double maxDiff(JsonNode expected, float[] actual) {
        assertEquals(expected.size(), actual.length);
        double m = 0;
        for (int i = 0; i < actual.length; i++) m = Math.max(m, Math.abs(expected.get(i).asDouble() - actual[i]));
        return m;
    }
}
