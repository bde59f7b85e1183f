package dev.jdiffusion.io.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.hub.ModelInfo.RepoSibling;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Which files of a repo are worth downloading. */
class HubFilesTest {
    private static List<RepoSibling> siblings(String... names) {
        return Arrays.stream(names).map(n -> new RepoSibling(n, n.length(), null, null)).toList();
    }

    private static JsonNode index(String json) throws Exception { return new ObjectMapper().readTree(json); }

    private static List<String> names(List<RepoSibling> s) { return s.stream().map(RepoSibling::rfilename).toList(); }

    @Test
    void pipelinePartsWithOneSetOfWeightsEachAndTheSafetyCheckerUnlessTurnedOff() throws Exception {
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
        List<String> pipeline = List.of("unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "text_encoder/config.json", "text_encoder/model.fp16.safetensors",
                "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
                "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json");
        List<String> checker = List.of("safety_checker/config.json", "safety_checker/model.safetensors",
                "feature_extractor/preprocessor_config.json");
        List<String> all2 = new java.util.ArrayList<>(pipeline);
        all2.addAll(checker);
        assertEquals(all2, names(HubFiles.forPipeline(all, idx, null)));
        assertEquals(all2, names(HubFiles.forPipeline(all, idx, null, true)));
        // --no-safety-checker: neither the checker nor its feature extractor; the image encoder never.
        assertEquals(pipeline, names(HubFiles.forPipeline(all, idx, null, false)));
        assertEquals(List.of("unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
                "text_encoder/config.json", "text_encoder/model.fp16.safetensors"),
                names(HubFiles.forPipeline(all, idx, "fp16")).subList(0, 4));
        assertEquals("unet/diffusion_pytorch_model.non_ema.safetensors",
                names(HubFiles.forPipeline(all, idx, "non_ema")).get(1));
    }

    @Test
    void shardsComeTogetherAndBinIsNeverTheFallback() throws Exception {
        JsonNode idx = index("{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"], \"vae\": [\"diffusers\", \"AutoencoderKL\"]}");
        var all = siblings("vae/config.json", "vae/diffusion_pytorch_model.safetensors",
                "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
                "unet/diffusion_pytorch_model.bin.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.bin");
        assertEquals(List.of("unet/config.json", "unet/diffusion_pytorch_model.safetensors.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
                "vae/config.json", "vae/diffusion_pytorch_model.safetensors"),
                names(HubFiles.forPipeline(all, idx, null)));

        // A part with pickled .bin weights only: DiffusersFolder would refuse them, so the download does, by name.
        var binOnly = siblings("vae/config.json", "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.fp16.bin",
                "unet/config.json", "unet/diffusion_pytorch_model.safetensors");
        HubException e = assertThrows(HubException.class, () -> HubFiles.forPipeline(binOnly, idx, null));
        assertEquals("vae: the repo has this part's weights only as pickled .bin files (vae/diffusion_pytorch_model.bin,"
                + " vae/diffusion_pytorch_model.fp16.bin), and jdiffusion reads a diffusers folder's weights from"
                + " .safetensors only; nothing was downloaded. Look for a safetensors revision of the repo (--revision),"
                + " or convert the weights to safetensors", e.getMessage());
    }

    @Test
    void aSafetyCheckerWithPickledWeightsOnlySaysHowToGoWithoutIt() throws Exception {
        JsonNode idx = index("""
                {"unet": ["diffusers", "UNet2DConditionModel"],
                 "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
                 "feature_extractor": ["transformers", "CLIPImageProcessor"]}""");
        var files = siblings("unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "safety_checker/config.json", "safety_checker/pytorch_model.bin", "feature_extractor/preprocessor_config.json");
        HubException e = assertThrows(HubException.class, () -> HubFiles.forPipeline(files, idx, null));
        assertEquals("safety_checker: the repo has this part's weights only as pickled .bin files"
                + " (safety_checker/pytorch_model.bin), and jdiffusion reads a diffusers folder's weights from .safetensors only;"
                + " nothing was downloaded. Look for a safetensors revision of the repo (--revision), or convert the weights"
                + " to safetensors, or download without the safety checker (--no-safety-checker)", e.getMessage());
        assertEquals(List.of("unet/config.json", "unet/diffusion_pytorch_model.safetensors"),
                names(HubFiles.forPipeline(files, idx, null, false)));
    }

    @Test
    void singleFileRepos() {
        var one = siblings("README.md", "model.safetensors", "samples/x.safetensors", "config.yaml");
        assertEquals(List.of("model.safetensors", "config.yaml"), names(HubFiles.forSingleFile(one, null)));

        var several = List.of(new RepoSibling("m-pruned-fp16.safetensors", 2, null, null),
                new RepoSibling("m-full.safetensors", 7, null, null),
                new RepoSibling("m-emaonly.safetensors", 4, null, null),
                new RepoSibling("m-full-ema.ckpt", 9, null, null));
        assertEquals(List.of("m-full.safetensors"), names(HubFiles.forSingleFile(several, null)));
        assertEquals(List.of("m-pruned-fp16.safetensors"), names(HubFiles.forSingleFile(several, "fp16")));
        // Equal sizes: the first by name, so the choice never depends on the listing's order.
        var twins = List.of(new RepoSibling("b.safetensors", 5, null, null), new RepoSibling("a.safetensors", 5, null, null));
        assertEquals(List.of("a.safetensors"), names(HubFiles.forSingleFile(twins, null)));
    }

    @Test
    void singleFileReposWithCkptOnlyGetTheCkpt() {
        // The loader reads .ckpt safely (a restricted unpickler): only safetensors are preferred.
        assertEquals(List.of("model.ckpt", "v1-inference.yaml"),
                names(HubFiles.forSingleFile(siblings("README.md", "model.ckpt", "v1-inference.yaml"), null)));
        var ckpts = List.of(new RepoSibling("sd-v1-4-fp16.ckpt", 2, null, null),
                new RepoSibling("sd-v1-4.ckpt", 4, null, null), new RepoSibling("sd-v1-4-full-ema.ckpt", 7, null, null));
        assertEquals(List.of("sd-v1-4-full-ema.ckpt"), names(HubFiles.forSingleFile(ckpts, null)));
        assertEquals(List.of("sd-v1-4-fp16.ckpt"), names(HubFiles.forSingleFile(ckpts, "fp16")));
        // Nothing loadable: no checkpoint at the root (a .bin is not a single-file checkpoint).
        assertEquals(List.of(), HubFiles.forSingleFile(siblings("README.md", "pytorch_model.bin", "sub/model.ckpt"), null));
    }
}
