package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;

/** --vae swaps in another VAE from a folder or a file in either layout: decoding then matches that VAE's reference. */
class VaeSwapTest {
    @TempDir Path dir;

    /** Decodes the reference latents of {@code refModel}'s VAE fixture and compares with its "decoded" (1e-4 of max). */
    private static void decodesLike(AutoencoderKL vae, String refModel) {
        SafeTensors ref = Fixtures.expected(refModel, "vae.safetensors");
        WeightTensor lat = ref.tensor("latents");
        Tensor z = TensorOps.nchwToNhwc(lat.toFloatArray(), lat.dim(0), lat.dim(1), lat.dim(2), lat.dim(3));
        Tensor decoded = vae.decode(TensorOps.scale(z, 1f / vae.scalingFactor()));
        assertCloseToMax(ref.tensor("decoded"), TensorOps.nhwcToNchw(decoded), 1e-4, refModel + " VAE via --vae");
    }

    private static StableDiffusionModel sd15With(Path vae) {
        return StableDiffusionModel.load(Fixtures.model("tiny-sd15"), new LoadOptions(null, null, vae));
    }

    @Test
    void diffusersVaeFolder() {
        decodesLike(sd15With(Fixtures.model("tiny-sd2").resolve("vae")).vae(), "tiny-sd2");
    }

    @Test
    void vaeOfAWholeCheckpointInTheOriginalLayout() {
        decodesLike(sd15With(Fixtures.root().resolve("single-file/tiny-sd2.safetensors")).vae(), "tiny-sd2");
    }

    @Test
    void standaloneVaeFileInTheOriginalLayout() throws IOException {
        // Published fine-tuned VAEs ship as bare encoder.* / decoder.* keys of the original layout.
        SafeTensors whole = SafeTensors.open(Fixtures.root().resolve("single-file/tiny-sd2.safetensors"));
        Map<String, WeightTensor> bare = new LinkedHashMap<>();
        for (String n : whole.names())
            if (n.startsWith("first_stage_model.")) bare.put(n.substring("first_stage_model.".length()), whole.tensor(n));
        Path file = dir.resolve("vae-ft.safetensors");
        SafeTensorsWriter.write(file, bare, Map.of());
        decodesLike(sd15With(file).vae(), "tiny-sd2");
    }

    @Test
    void standaloneVaeFileWithDiffusersNames() {
        decodesLike(sd15With(Fixtures.model("tiny-sd2").resolve("vae/diffusion_pytorch_model.safetensors")).vae(), "tiny-sd2");
    }
}
