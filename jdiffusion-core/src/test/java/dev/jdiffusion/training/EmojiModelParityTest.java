package dev.jdiffusion.training;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.pipelines.StableDiffusionModel;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.EmojiModelFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The emoji architecture (a UNet with cross-attention at 8×8 and 4×4 only, a VAE with downsampling factor 4, a
 * 16×16 sample size) loads from the folder {@code init-model --seed 0} writes and computes what diffusers 0.30
 * computes with those weights (testdata/emoji/forward-reference.safetensors, made by
 * scripts/reference/emoji_model_forward_reference.py from the same seed's folder): within 1e-4 of the largest
 * reference magnitude, the fixtures' tolerance.
 */
class EmojiModelParityTest {
    static final double TOL = 1e-4;
    static final float REFERENCE_SCALING_FACTOR = 0.18215f;
    @TempDir static Path tmp;
    private static Path folder;

    @BeforeAll
    static void writeInitialWeights() throws IOException {
        folder = tmp.resolve("emoji");
        ModelInitializer.writeFolder(EmojiModelFiles.configDir(), folder, 0);
    }

    @Test
    void unetAndVaeMatchDiffusersOnTheInitialWeights() {
        StableDiffusionModel model = StableDiffusionModel.load(folder);
        assertEquals(4, model.vae().config().downscaleFactor());
        assertEquals(64, model.defaultImageSize());
        SafeTensors ref = SafeTensors.open(EmojiModelFiles.reference("forward-reference.safetensors"));

        WeightTensor lat = ref.tensor("latents"), ctx = ref.tensor("context");
        long[] t = ref.tensor("timesteps").toLongArray();
        Tensor out = model.unet().forward(nhwc(lat), new float[]{t[0], t[1]}, new Tensor(ctx.toFloatArray(), ctx.shape()));
        assertCloseToMax(ref.tensor("unet_out"), TensorOps.nhwcToNchw(out), TOL, "unet");

        float[] first = new float[4 * 16 * 16];
        System.arraycopy(lat.toFloatArray(), 0, first, 0, first.length);
        // The reference divided by the configs' scaling_factor of that day, 0.18215 (the placeholder before the VAE
        // was trained; the shipped config now holds the trained VAE's 0.772).
        Tensor decoded = model.vae().decode(TensorOps.scale(TensorOps.nchwToNhwc(first, 1, 4, 16, 16),
                1f / REFERENCE_SCALING_FACTOR));
        assertCloseToMax(ref.tensor("vae_decoded"), TensorOps.nhwcToNchw(decoded), TOL, "vae decode");

        var dist = model.vae().encode(nhwc(ref.tensor("image")));
        assertCloseToMax(ref.tensor("vae_mean"), TensorOps.nhwcToNchw(dist.mean()), TOL, "vae mean");
        assertCloseToMax(ref.tensor("vae_std"), TensorOps.nhwcToNchw(dist.std()), TOL, "vae std");
    }

    /**
     * The cut vocabulary end to end: ids come from the tokenizer files (bos 8512, eos and padding 8513), the embedding
     * size from config.json, and the pooled output sits where transformers 4.44 takes it: the first eos_token_id
     * (8513 here), the highest id for SD's legacy eos_token_id 2, and position 0 when the config names none (its
     * default, 49407, is not in this vocabulary: torch's argmax of all-false).
     */
    @Test
    void textEncoderTakesVocabularyAndSpecialIdsFromTheFiles() {
        StableDiffusionModel model = StableDiffusionModel.load(folder);
        int[] ids = model.tokenizer().encodePadded("red apple");
        assertArrayEquals(new int[]{8512, 736, 3055, 8513, 8513}, java.util.Arrays.copyOf(ids, 5));
        assertEquals(8513, ids[76]);
        JsonConfig config = JsonConfig.read(folder.resolve("text_encoder/config.json"));
        var weights = WeightSource.of(SafeTensors.open(folder.resolve("text_encoder/model.safetensors")));
        int d = 96;
        for (var c : new Object[][]{{config, 3}, {config.edited(o -> o.put("eos_token_id", 2)), 3},
                {config.edited(o -> o.remove("eos_token_id")), 0}}) {
            ClipTextModel clip = new ClipTextModel(ClipTextConfig.from((JsonConfig) c[0]), weights);
            ClipTextModel.Output out = clip.forward(new int[][]{ids});
            float[] row = java.util.Arrays.copyOfRange(out.lastHiddenState().data(), (int) c[1] * d, ((int) c[1] + 1) * d);
            assertArrayEquals(row, out.pooled().data(), "pooled = last hidden state at position " + c[1]);
        }
        ClipTextModel clip = new ClipTextModel(ClipTextConfig.from(config), weights);
        int[] outside = ids.clone();
        outside[1] = 8514;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> clip.forward(new int[][]{outside}));
        assertTrue(e.getMessage().contains("8514"), e.getMessage());
    }

    private static Tensor nhwc(WeightTensor t) {
        return TensorOps.nchwToNhwc(t.toFloatArray(), t.dim(0), t.dim(1), t.dim(2), t.dim(3));
    }
}
