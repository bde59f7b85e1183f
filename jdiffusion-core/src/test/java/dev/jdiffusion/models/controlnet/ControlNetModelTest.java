package dev.jdiffusion.models.controlnet;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.unet.UNetResiduals;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.ImageControlFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.List;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.*;

/**
 * ControlNetModel and the 9-channel inpainting UNet against diffusers' module outputs (expected/module_*.safetensors):
 * every residual and output within 1e-4 of the largest reference magnitude, with and without guess mode.
 */
class ControlNetModelTest {
    static final double TOL = 1e-4;

    static ControlNetModel load(String name) {
        Path dir = ImageControlFixtures.path(name);
        return new ControlNetModel(name, ControlNetConfig.from(JsonConfig.read(dir.resolve("config.json"))),
                WeightSource.of(SafeTensors.open(dir.resolve("diffusion_pytorch_model.safetensors"))));
    }

    static Tensor nhwc(WeightTensor t) {
        return TensorOps.nchwToNhwc(t.toFloatArray(), t.dim(0), t.dim(1), t.dim(2), t.dim(3));
    }

    @ParameterizedTest
    @ValueSource(strings = {"controlnet-a", "controlnet-b"})
    void residualsMatchDiffusers(String name) {
        ControlNetModel net = load(name);
        SafeTensors ref = ImageControlFixtures.expected("module_" + name);
        Tensor latents = nhwc(ref.tensor("latents")), cond = nhwc(ref.tensor("cond"));
        WeightTensor ctx = ref.tensor("context");
        Tensor context = new Tensor(ctx.toFloatArray(), ctx.shape());
        check(net.forward(latents, new float[]{500}, context, cond, 1.0f, false), ref, "t500_", name);
        check(net.forward(latents, new float[]{50}, context, cond, 0.8f, true), ref, "t50_guess_s0.8_", name);
    }

    private static void check(UNetResiduals r, SafeTensors ref, String prefix, String name) {
        assertEquals(6, r.down().size(), "conv_in, 2 resnets, downsampler, 2 resnets");
        for (int i = 0; i < r.down().size(); i++)
            assertCloseToMax(ref.tensor(prefix + "down_" + i), TensorOps.nhwcToNchw(r.down().get(i)), TOL, name + " " + prefix + "down_" + i);
        assertCloseToMax(ref.tensor(prefix + "mid"), TensorOps.nhwcToNchw(r.mid()), TOL, name + " " + prefix + "mid");
    }

    @Test
    void configMirrorsConfigJson() {
        ControlNetConfig a = load("controlnet-a").config(), b = load("controlnet-b").config();
        assertEquals(List.of(16, 32), a.conditioningEmbeddingOutChannels());
        assertEquals(List.of(8, 16), b.conditioningEmbeddingOutChannels());
        assertEquals(2, a.conditioningDownscale());
        assertEquals(List.of(32, 64), a.unet().blockOutChannels());
        assertEquals(32, a.unet().crossAttentionDim());
        assertFalse(a.bgr());
        assertFalse(a.globalPoolConditions());
    }

    @Test
    void logspaceIsTorchs() {
        float[] s = ControlNetModel.logspace(-1f, 0f, 8);
        assertEquals(0.1f, s[0]);
        assertEquals(1.0f, s[7]);
        for (int i = 0; i < 8; i++) assertEquals(Math.pow(10, -1 + i / 7.0), s[i], 1e-6);
    }

    @Test
    void inpaintingUnetMatchesDiffusers() {
        DiffusersFolder folder = DiffusersFolder.open(ImageControlFixtures.path("tiny-sd15-inpaint"));
        UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.from(folder.config("unet")),
                WeightSource.of(folder.weights("unet", false)));
        assertEquals(9, unet.config().inChannels());
        SafeTensors ref = ImageControlFixtures.expected("module_inpaint_unet");
        WeightTensor ctx = ref.tensor("context");
        Tensor out = unet.forward(nhwc(ref.tensor("sample")), new float[]{700, 700}, new Tensor(ctx.toFloatArray(), ctx.shape()));
        assertCloseToMax(ref.tensor("out_t700"), TensorOps.nhwcToNchw(out), TOL, "9-channel UNet t=700");
    }
}
