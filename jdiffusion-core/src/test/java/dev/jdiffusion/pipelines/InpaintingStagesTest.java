package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.schedulers.Scheduler;
import dev.jdiffusion.schedulers.Schedulers;
import dev.jdiffusion.schedulers.TorchGenerator;
import dev.jdiffusion.testing.ImageControlFixtures;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.stream.Stream;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Each inpainting stage alone against diffusers' intermediates of the 8 fixture cases: the noise bit for bit (so the
 * random draws come in diffusers' order: init picture, noise, masked picture), the latent mask exactly, the
 * encoded pictures and the starting latents within 1e-4 of their largest magnitude.
 */
class InpaintingStagesTest {

    static Stream<Arguments> cases() {
        return ImageControlFixtures.cases("inpaint").stream().map(c -> Arguments.of(Named.of(c.get("name").asText(), c)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void stagesMatchDiffusers(JsonNode c) {
        String name = c.get("name").asText();
        SafeTensors ref = ImageControlFixtures.expected(name);
        StableDiffusionPipeline pipe = ImageControlParityTest.pipeline(c.get("model").asText());
        GenerationRequest r = ImageControlParityTest.request(c, ImageControlFixtures.root());
        int w = r.width(), h = r.height(), f = pipe.vaeScaleFactor();
        var model = pipe.model();
        Inpainting task = new Inpainting(model.vae(), model.unet().config().inChannels(), r, w, h, f);
        Scheduler scheduler = Schedulers.create(r.sampler(), model.schedulerConfig());
        scheduler.setTimesteps(r.steps());
        int first = scheduler.beginIndex(r.steps(), task.strength());
        float[] latents = task.prepare(scheduler, new TorchGenerator(r.seed()), 1, 4, first);

        assertArrayEquals(ref.tensor("noise").toFloatArray(), task.noise(), name + " noise");
        assertArrayEquals(ref.tensor("mask_latent").toFloatArray(), task.maskLatent(), name + " mask_latent");
        assertCloseToMax(ref.tensor("masked_image_latents"), task.maskedImageLatents(), 1e-4, name + " masked_image_latents");
        assertCloseToMax(ref.tensor("latents_init"), latents, 1e-4, name + " latents_init");
        if (ref.contains("image_latents")) assertCloseToMax(ref.tensor("image_latents"), task.imageLatents(), 1e-4, name + " image_latents");
        assertEquals(c.get("unet_in_channels").asInt() == 4 || c.get("strength").asDouble() < 1, task.imageLatents() != null,
                "the init picture is encoded (a draw) exactly when diffusers encodes it");
    }
}
