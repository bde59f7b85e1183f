package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.testing.EmojiModelFiles;
import dev.jdiffusion.training.ModelInitializer.Part;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The emoji model's size and cost: parameters as diffusers counts them (init-reference.json), forward FLOPs equal
 * to what forward hooks count on diffusers' own modules in PyTorch (flops-reference.json, same rule: 2 per
 * multiply-add of convolutions, linear layers and attention).
 */
class TrainingCostTest {
    @Test
    void emojiModelCosts() {
        TrainingCost cost = TrainingCost.measure(EmojiModelFiles.configDir());
        JsonNode torch = EmojiModelFiles.referenceJson("flops-reference.json");
        assertEquals(64, cost.imageSize());
        assertEquals(1_272_288L, cost.parameters().get(Part.TEXT_ENCODER));
        assertEquals(5_548_452L, cost.parameters().get(Part.UNET));
        assertEquals(1_288_263L, cost.parameters().get(Part.VAE));
        assertEquals(16_218_006L, cost.weightBytes(DType.F16), "under the issue's 20 MB in float16");
        assertEquals(torch.get("unet_forward").asLong(), cost.unetFlops());
        assertEquals(torch.get("vae_encode").asLong(), cost.vaeEncodeFlops());
        assertEquals(torch.get("vae_decode").asLong(), cost.vaeDecodeFlops());
        // 4 layers × (q, k, v, out, fc1, fc2 over 77 tokens: 2·77·(4·96² + 2·96·384)) + 4 × attention (4·77·77·96).
        assertEquals(4L * 2 * 77 * (4 * 96 * 96 + 2 * 96 * 384) + 4L * 4 * 77 * 77 * 96, cost.textEncoderFlops());
        assertEquals(3 * (793_804_800L + 1_597_906_944L), cost.vaeTrainingFlopsPerSample());
        assertEquals(3 * 535_023_616L + 3 * 77_231_616L, cost.unetTrainingFlopsPerSample(true));
    }
}
