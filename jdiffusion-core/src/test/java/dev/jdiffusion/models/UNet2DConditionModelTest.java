package dev.jdiffusion.models;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;

/** UNet parity with diffusers: every case within 1e-4 of the largest reference magnitude. */
class UNet2DConditionModelTest {
    static final double TOL = 1e-4;

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void matchesDiffusers(String model) {
        DiffusersFolder folder = DiffusersFolder.open(Fixtures.model(model));
        UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.from(folder.config("unet")),
                WeightSource.of(folder.weights("unet", false)));
        SafeTensors ref = Fixtures.expected(model, "unet.safetensors");
        for (int t : new int[]{999, 500, 1})
            check(unet, ref, "latents", "context", t, "out_t" + t, model);
        check(unet, ref, "latents_nonsquare", "context_nonsquare", 250, "out_nonsquare_t250", model);
    }

    private static void check(UNet2DConditionModel unet, SafeTensors ref, String latents, String context, int t,
                              String expected, String model) {
        WeightTensor lat = ref.tensor(latents);
        int n = lat.dim(0), c = lat.dim(1), h = lat.dim(2), w = lat.dim(3);
        WeightTensor ctx = ref.tensor(context);
        float[] ts = new float[n];
        java.util.Arrays.fill(ts, t);
        Tensor out = unet.forward(TensorOps.nchwToNhwc(lat.toFloatArray(), n, c, h, w), ts,
                new Tensor(ctx.toFloatArray(), ctx.shape()));
        assertCloseToMax(ref.tensor(expected), TensorOps.nhwcToNchw(out), TOL, model + " " + expected);
    }
}
