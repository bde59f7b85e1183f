package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.Canny;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.ImageControlFixtures;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The pictures entering the models, against the intermediates diffusers stored for each fixture case: init images,
 * binarized masks and control images (Canny and resizing included) exactly equal as floats; the padding-mask-crop
 * box equal to diffusers'; the overlay of the crop case equal to the reference PNG byte for byte.
 */
class VaeImageProcessorTest {

    static PilImage input(String name) throws IOException {
        return PngFiles.readPixels(ImageControlFixtures.path("inputs/" + name));
    }

    static VaeImageProcessor.CropBox crop(JsonNode c) throws IOException {
        if (!c.has("padding_mask_crop")) return null;
        return VaeImageProcessor.cropRegion(input(c.get("mask").asText()), c.get("width").asInt(), c.get("height").asInt(),
                c.get("padding_mask_crop").asInt());
    }

    @Test
    void inpaintInputsEqualDiffusers() throws IOException {
        int checked = 0;
        for (JsonNode c : ImageControlFixtures.cases("inpaint")) {
            SafeTensors ref = ImageControlFixtures.expected(c.get("name").asText());
            int w = c.get("width").asInt(), h = c.get("height").asInt();
            VaeImageProcessor.CropBox box = crop(c);
            if (box != null) {
                JsonNode cc = c.get("crop_coords");
                assertEquals(new VaeImageProcessor.CropBox(cc.get(0).asInt(), cc.get(1).asInt(), cc.get(2).asInt(), cc.get(3).asInt()), box);
            }
            assertArrayEquals(ref.tensor("init_image").toFloatArray(),
                    VaeImageProcessor.preprocessImage(input(c.get("init").asText()), w, h, box), c.get("name").asText() + " init_image");
            float[] mask = VaeImageProcessor.preprocessMask(input(c.get("mask").asText()), w, h, box);
            assertArrayEquals(ref.tensor("mask_condition").toFloatArray(), mask, c.get("name").asText() + " mask_condition");
            checked++;
        }
        assertEquals(8, checked);
    }

    @Test
    void overlayOfTheCropCaseEqualsDiffusersBytes() throws IOException {
        JsonNode c = ImageControlFixtures.caseNamed("inpaint9_crop6_96x64_seed6");
        SafeTensors ref = ImageControlFixtures.expected("inpaint9_crop6_96x64_seed6");
        RgbImage generated = image(ref.tensor("generated_before_overlay_u8"));
        RgbImage expected = image(ref.tensor("image_u8"));
        RgbImage out = VaeImageProcessor.applyOverlay(input(c.get("mask").asText()), input(c.get("init").asText()), generated, crop(c));
        assertArrayEquals(expected.rgb(), out.rgb());
        assertFalse(java.util.Arrays.equals(generated.rgb(), out.rgb()), "the overlay changes the picture");
    }

    @Test
    void controlImagesEqualDiffusers() throws IOException {
        int checked = 0;
        for (JsonNode c : ImageControlFixtures.cases("controlnet")) {
            SafeTensors ref = ImageControlFixtures.expected(c.get("name").asText());
            int w = c.get("width").asInt(), h = c.get("height").asInt();
            for (int i = 0; i < c.get("nets").size(); i++) {
                JsonNode net = c.get("nets").get(i);
                PilImage img = input(net.get("image").asText());
                if (net.has("preprocess")) {
                    double[] t = Canny.parseSpec(net.get("preprocess").asText());
                    img = PilImage.of(Canny.edges(img.toRgb(), t[0], t[1]));
                }
                assertArrayEquals(ref.tensor("control_image_" + i).toFloatArray(),
                        VaeImageProcessor.preprocessControlImage(img, w, h, null), c.get("name").asText() + " control " + i);
                checked++;
            }
        }
        assertEquals(7, checked);
    }

    @Test
    void cropRegionGrowsToTheAspectAndStaysInside() {
        // A 4x2 blob at (10..13, 5..6) of a 40x30 mask, padded by 2, for a 2:1 picture: 8x6 grows to 12x6, then
        // for a 1:2 picture 8x6 grows to 8x16, shifted down to stay inside.
        byte[] m = new byte[40 * 30];
        for (int y = 5; y <= 6; y++) for (int x = 10; x <= 13; x++) m[y * 40 + x] = (byte) 7;
        PilImage mask = new PilImage(40, 30, PilImage.Mode.L, m);
        assertEquals(new VaeImageProcessor.CropBox(6, 3, 18, 9), VaeImageProcessor.cropRegion(mask, 64, 32, 2));
        assertEquals(new VaeImageProcessor.CropBox(8, 0, 16, 16), VaeImageProcessor.cropRegion(mask, 32, 64, 2));
        assertThrows(IllegalArgumentException.class,
                () -> VaeImageProcessor.cropRegion(PilImage.black(8, 8, PilImage.Mode.L), 8, 8, 2));
    }

    static RgbImage image(WeightTensor t) {
        byte[] b = new byte[Math.toIntExact(t.size())];
        for (int i = 0; i < b.length; i++) b[i] = (byte) t.getLong(i);
        return new RgbImage(t.dim(1), t.dim(0), b);
    }
}
