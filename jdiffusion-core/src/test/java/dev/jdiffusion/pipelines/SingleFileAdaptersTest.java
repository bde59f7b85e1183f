package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.pipelines.prompt.PromptEncoder;
import dev.jdiffusion.pipelines.prompt.PromptSyntax;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * LoRAs on single-file checkpoints (the original SD layout, renamed as it loads; SD 2.x's fused in_proj sliced into
 * q, k, v): the adapted weights and so the prompt embeddings are those of the diffusers folder with the same LoRA.
 */
class SingleFileAdaptersTest {
    static final Path DIR = Fixtures.root().resolve("single-file");

    static PromptEncoder.Encoded encode(StableDiffusionPipeline base, GenerationRequest r) {
        return base.withAdapters(Adapters.of(r)).promptEncoder().encode(r.prompt(), r.negativePrompt(), r.promptSyntax(), 1, true);
    }

    /** The fixture's kohya LoCon at 0.8 on the SD 1.x single file: A1111's prompt embeddings of the lora_kohya_0.8 case. */
    @Test
    void sd1SingleFileWithKohyaLora() {
        StableDiffusionPipeline file = StableDiffusionPipeline.load(DIR.resolve("tiny-sd15.safetensors"),
                new LoadOptions(Fixtures.model("tiny-sd15"), null, null));
        GenerationRequest r = GenerationRequest.builder("a cottage in a flower garden, morning light").negativePrompt("dark")
                .lora(Fixtures.root().resolve("prompt-control/loras/locon_style.safetensors"), 0.8).build();
        SafeTensors ref = SafeTensors.open(Fixtures.root().resolve("prompt-control/cases/lora_kohya_0.8.safetensors"));
        PromptEncoder.Encoded e = encode(file, r);
        assertCloseToMax(ref.tensor("prompt_embeds"), e.cond().data(), 1e-4, "prompt_embeds");
        assertCloseToMax(ref.tensor("negative_prompt_embeds"), e.uncond().data(), 1e-4, "negative_prompt_embeds");
    }

    /** SD 2.x single file (OpenCLIP text encoder with fused in_proj) with OpenCLIP-named and kohya LoRAs: equal to the folder's. */
    @Test
    void sd2SingleFileWithOpenClipLora() {
        StableDiffusionPipeline file = StableDiffusionPipeline.load(DIR.resolve("tiny-sd2.safetensors"),
                new LoadOptions(Fixtures.model("tiny-sd2"), null, null));
        StableDiffusionPipeline folder = StableDiffusionPipeline.load(Fixtures.model("tiny-sd2"));
        Path extra = Fixtures.root().resolve("prompt-control-extra/loras");
        GenerationRequest r = GenerationRequest.builder("a (red:1.3) lantern in the snow").negativePrompt("dark")
                .lora(extra.resolve("sd2_openclip_te.safetensors"), 1.0).lora(extra.resolve("sd2_locon.safetensors"), 0.7)
                .promptSyntax(PromptSyntax.A1111).build();
        PromptEncoder.Encoded a = encode(file, r), b = encode(folder, r);
        assertArrayEquals(b.cond().data(), a.cond().data());
        assertArrayEquals(b.uncond().data(), a.uncond().data());
    }
}
