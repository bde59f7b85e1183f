package dev.jdiffusion.io.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.hub.ModelInfo.RepoSibling;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Which files of a repo are worth downloading. */
class HubFilesTest {
    private static List<RepoSibling> siblings(String... names) {
        return Arrays.stream(names).map(n -> new RepoSibling(n, n.length(), null, null)).toList();
    }

    private static JsonNode index(String json) throws Exception { return new ObjectMapper().readTree(json); }

    private static List<String> names(List<RepoSibling> s) { return s.stream().map(RepoSibling::rfilename).toList(); }

    @Test
    void pipelinePartsExceptTheSafetyCheckerWithOneSetOfWeightsEach() throws Exception {
        JsonNode idx = index("""
                {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
                 "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
                 "scheduler": ["diffusers", "PNDMScheduler"],
                 "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
                 "feature_extractor": ["transformers", "CLIPImageProcessor"], "image_encoder": [null, null]}""");
        var all = siblings("model_index.json", "v1-5-pruned.safetensors", "v1-5-pruned.ckpt",
                "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin",
                "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.non_ema.safetensors",
                "unet/diffusion_flax_model.msgpack",
                "text_encoder/config.json", "text_encoder/pytorch_model.bin", "text_encoder/model.fp16.safetensors",
                "text_encoder/flax_model.msgpack",
                "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
                "tokenizer/tokenizer_config.json",
                "scheduler/scheduler_config.json",
                "safety_checker/config.json", "safety_checker/model.safetensors",
                "feature_extractor/preprocessor_config.json", "vae_decoder/model.onnx");

        // No variant: the plain safetensors; a part with fp16 safetensors only gets those, not the .bin.
        assertEquals(List.of("unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "text_encoder/config.json", "text_encoder/model.fp16.safetensors",
                "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
                "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json"),
                names(HubFiles.forPipeline(all, idx, null)));
        assertEquals(List.of("unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
                "text_encoder/config.json", "text_encoder/model.fp16.safetensors"),
                names(HubFiles.forPipeline(all, idx, "fp16")).subList(0, 4));
        assertEquals("unet/diffusion_pytorch_model.non_ema.safetensors",
                names(HubFiles.forPipeline(all, idx, "non_ema")).get(1));
    }

    @Test
    void binOnlyWhenThereAreNoSafetensorsAndShardsComeTogether() throws Exception {
        JsonNode idx = index("{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"], \"vae\": [\"diffusers\", \"AutoencoderKL\"]}");
        var all = siblings("vae/config.json", "vae/diffusion_pytorch_model.bin",
                "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
                "unet/diffusion_pytorch_model.bin.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.bin");
        assertEquals(List.of("unet/config.json", "unet/diffusion_pytorch_model.safetensors.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
                "vae/config.json", "vae/diffusion_pytorch_model.bin"),
                names(HubFiles.forPipeline(all, idx, null)));
    }

    @Test
    void singleFileRepos() {
        var one = siblings("README.md", "model.safetensors", "samples/x.safetensors", "config.yaml");
        assertEquals(List.of("model.safetensors", "config.yaml"), names(HubFiles.forSingleFile(one, null)));

        var several = List.of(new RepoSibling("m-pruned-fp16.safetensors", 2, null, null),
                new RepoSibling("m-full.safetensors", 7, null, null),
                new RepoSibling("m-emaonly.safetensors", 4, null, null));
        assertEquals(List.of("m-full.safetensors"), names(HubFiles.forSingleFile(several, null)));
        assertEquals(List.of("m-pruned-fp16.safetensors"), names(HubFiles.forSingleFile(several, "fp16")));
        assertEquals(List.of(), HubFiles.forSingleFile(siblings("model.ckpt"), null));
    }
}
