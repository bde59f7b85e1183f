package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.testing.ImageControlFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.jdiffusion.pipelines.ImageControlParityTest.input;
import static org.junit.jupiter.api.Assertions.*;

/**
 * What the references imply beyond their cases: a 9-channel model without a mask is A1111's text-to-image
 * (all repainted over mid-grey), two ControlNets sum the same in either order, a guidance window that never
 * opens leaves the plain image, every stage of inpainting honours cancellation; and the request errors.
 */
class ImageControlBehaviourTest {
    static final Path IC = ImageControlFixtures.root();
    static final String PROMPT = "a photo of a red fox sitting in a snowy forest";
    @TempDir Path dir;

    static StableDiffusionPipeline base() { return ImageControlParityTest.pipeline("base"); }

    static StableDiffusionPipeline inpaint() { return ImageControlParityTest.pipeline("inpaint"); }

    static GenerationRequest.Builder request(int seed) {
        return GenerationRequest.builder(PROMPT).steps(4).sampler("euler_a").seed(seed).size(64, 64);
    }

    static byte[] pixels(GenerationResult r) { return r.images().getFirst().rgb(); }

    @Test
    void nineChannelModelWithoutMaskIsA1111TextToImage() {
        // A1111: a mask of ones over a mid-grey picture, i.e. nothing of any init picture reaches the UNet.
        byte[] txt2img = pixels(inpaint().generate(request(31).build()));
        PilImage white = new PilImage(64, 64, PilImage.Mode.L, filled(64 * 64, (byte) 255));
        for (String init : List.of("scene_a_64.png", "scene_b_64.png")) {
            GenerationResult masked = inpaint().generate(request(31).initImage(input(IC, init).toRgb(), 1.0).mask(white).build());
            assertArrayEquals(txt2img, pixels(masked), "an all-white mask over " + init + " is text-to-image");
        }
        byte[] partly = pixels(inpaint().generate(request(31).initImage(input(IC, "scene_a_64.png").toRgb(), 1.0)
                .mask(input(IC, "mask_ellipse_64.png")).build()));
        assertFalse(Arrays.equals(txt2img, partly), "a real mask keeps part of the picture");
        GenerationResult r = inpaint().generate(request(31).build());
        assertFalse(r.parameters().getFirst().contains("Denoising strength"), r.parameters().getFirst());
    }

    @Test
    void twoControlNetsInEitherOrderGiveTheSameImage() {
        ControlNetUnit a = new ControlNetUnit(ImageControlParityTest.net("controlnet-a"), input(IC, "control_depth_64.png"), 0.8, 0.0, 0.7, null);
        ControlNetUnit b = new ControlNetUnit(ImageControlParityTest.net("controlnet-b"), input(IC, "control_scribble_64.png"), 1.2, 0.3, 1.0, null);
        byte[] ab = pixels(base().generate(request(32).controlNet(a).controlNet(b).build()));
        byte[] ba = pixels(base().generate(request(32).controlNet(b).controlNet(a).build()));
        assertArrayEquals(ab, ba, "a + b = b + a for two nets' residuals");
        byte[] onlyA = pixels(base().generate(request(32).controlNet(a).build()));
        assertFalse(Arrays.equals(ab, onlyA), "the second net counts");
    }

    @Test
    void aGuidanceWindowThatNeverOpensGivesThePlainImage() {
        // keep = 0 when i/T < start: with start 0.9 and 4 steps, 3/4 < 0.9 for every i.
        ControlNetModel net = ImageControlParityTest.net("controlnet-a");
        ControlNetUnit closed = new ControlNetUnit(net, input(IC, "control_scribble_64.png"), 1.0, 0.9, 1.0, null);
        byte[] plain = pixels(base().generate(request(33).build()));
        assertArrayEquals(plain, pixels(base().generate(request(33).controlNet(closed).build())));
        assertFalse(Arrays.equals(plain, pixels(base().generate(request(33).controlNet(closed.withGuidance(0.0, 1.0)).build()))));
        // A window that ends early still changes the first steps, and so the image.
        assertFalse(Arrays.equals(plain, pixels(base().generate(request(33).controlNet(closed.withGuidance(0.0, 0.25)).build()))));
    }

    @Test
    void inpaintingAndControlNetStopWhenCancelled() {
        GenerationRequest r = request(34).steps(6).initImage(input(IC, "scene_a_64.png").toRgb(), 1.0)
                .mask(input(IC, "mask_rect_64.png"))
                .controlNet(ControlNetUnit.of(ImageControlParityTest.net("controlnet-b"), input(IC, "control_depth_64.png"))).build();
        GenerationCancelledException e = assertThrows(GenerationCancelledException.class,
                () -> base().generate(r, (step, total) -> step < 2));
        assertTrue(e.getMessage().contains("2 of 6"), e.getMessage());
    }

    @Test
    void parametersSayWhatWasDoneAsA1111Does() {
        GenerationResult r = inpaint().generate(request(35).initImage(input(IC, "scene_c_96x64.png").toRgb(), 1.0)
                .size(96, 64).mask(input(IC, "mask_small_96x64.png")).paddingMaskCrop(6)
                .controlNet(ControlNetUnit.of(ImageControlParityTest.net("controlnet-b"), input(IC, "scene_c_96x64.png"))
                        .withScale(0.5).withPreprocessor("canny:100:200")).build());
        String p = r.parameters().getFirst();
        assertTrue(p.contains("Denoising strength: 1, Mask blur: 0, Inpaint area: Only masked, Masked area padding: 6"), p);
        assertTrue(p.contains("ControlNet 0: \"Module: canny, Model: controlnet-b, Weight: 0.5, Resize Mode: Just Resize,"
                + " Threshold A: 100, Threshold B: 200, Guidance Start: 0, Guidance End: 1\""), p);
    }

    @Test
    void badRequestsAreClearErrors() throws IOException {
        PilImage mask = input(IC, "mask_rect_64.png");
        RgbImage scene = input(IC, "scene_a_64.png").toRgb();
        assertTrue(assertThrows(IllegalArgumentException.class, () -> base().generate(request(1).mask(mask).build()))
                .getMessage().contains("a mask needs an init image"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> base().generate(request(1).initImage(scene, 1.0)
                .mask(PilImage.black(64, 64, PilImage.Mode.L)).paddingMaskCrop(4).build())).getMessage().contains("mask is empty"));
        assertThrows(IllegalArgumentException.class, () -> ControlNetUnit.of(ImageControlParityTest.net("controlnet-a"), mask).withGuidance(0.5, 0.5));
        assertThrows(IllegalArgumentException.class, () -> ControlNetUnit.of(ImageControlParityTest.net("controlnet-a"), mask).withGuidance(-0.1, 1));
        assertThrows(IllegalArgumentException.class, () -> ControlNetUnit.of(ImageControlParityTest.net("controlnet-a"), mask).withPreprocessor("sobel"));

        // A ControlNet for SD 2.x (text width 1024) cannot steer an SD 1.x-shaped UNet: refused before its weights are read.
        Path sd2 = Files.createDirectories(dir.resolve("controlnet-sd2"));
        JsonConfig cfg = JsonConfig.read(ImageControlFixtures.path("controlnet-a/config.json"))
                .edited(o -> ((ObjectNode) o).put("cross_attention_dim", 1024));
        Files.writeString(sd2.resolve("config.json"), cfg.root().toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ControlNets.load(sd2, base().model().unet().config(), "tiny-sd15"));
        assertEquals("ControlNet controlnet-sd2 is for Stable Diffusion 2.x (text width 1024) but the model tiny-sd15 is"
                + " a model with text width 32", e.getMessage());
        Path other = Files.createDirectories(dir.resolve("controlnet-wide"));
        Files.writeString(other.resolve("config.json"), JsonConfig.read(ImageControlFixtures.path("controlnet-a/config.json"))
                .edited(o -> o.putArray("block_out_channels").add(64).add(64)).root().toString());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ControlNets.load(other, base().model().unet().config(),
                "tiny-sd15")).getMessage().contains("made for another architecture"));
    }

    private static byte[] filled(int n, byte v) {
        byte[] b = new byte[n];
        Arrays.fill(b, v);
        return b;
    }
}
