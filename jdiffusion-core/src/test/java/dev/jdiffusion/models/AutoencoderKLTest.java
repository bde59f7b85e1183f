package dev.jdiffusion.models;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;

/** VAE parity with diffusers: decode, and encode's mean and std, within 1e-4 of the largest reference magnitude. */
class AutoencoderKLTest {
    static final double TOL = 1e-4;

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void matchesDiffusers(String model) {
        DiffusersFolder folder = DiffusersFolder.open(Fixtures.model(model));
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.from(folder.config("vae")),
                WeightSource.of(folder.weights("vae", false)));
        SafeTensors ref = Fixtures.expected(model, "vae.safetensors");

        Tensor latents = nhwc(ref.tensor("latents"));
        Tensor decoded = vae.decode(TensorOps.scale(latents, 1f / vae.scalingFactor()));
        assertCloseToMax(ref.tensor("decoded"), TensorOps.nhwcToNchw(decoded), TOL, model + " decoded");

        AutoencoderKL.LatentDist dist = vae.encode(nhwc(ref.tensor("image")));
        assertCloseToMax(ref.tensor("encoded_mean"), TensorOps.nhwcToNchw(dist.mean()), TOL, model + " encoded_mean");
        assertCloseToMax(ref.tensor("encoded_std"), TensorOps.nhwcToNchw(dist.std()), TOL, model + " encoded_std");
    }

    private static Tensor nhwc(WeightTensor t) {
        return TensorOps.nchwToNhwc(t.toFloatArray(), t.dim(0), t.dim(1), t.dim(2), t.dim(3));
    }
}
