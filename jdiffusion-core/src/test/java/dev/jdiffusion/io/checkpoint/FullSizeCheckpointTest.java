package dev.jdiffusion.io.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter.Entry;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.controlnet.ControlNetConfig;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.pipelines.ControlNets;
import dev.jdiffusion.pipelines.StableDiffusionModel;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Full-size SD 1.5 and SD 2.1 single files, as sparse safetensors files of F16 zeros (about 2 GB each
 * on paper, a few hundred KB of header on disk): every tensor the built-in configs imply, under its
 * original-layout name and shape, plus the extras real checkpoints carry. They must be recognised, the parts
 * must build from them with the built-in configs (every shape check passes), and they must load as a model
 * (built-in tokenizer and scheduler config) whose text encoder runs.
 */
class FullSizeCheckpointTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir static Path dir;
    static Path sd15, sd21;
    static Map<String, Spec> sd15Listing, sd21Listing;

    /** One tensor of a generated file. */
    record Spec(DType dtype, int[] shape) {
        long bytes() {
            long n = dtype.byteSize();
            for (int d : shape) n *= d;
            return n;
        }
    }

    @BeforeAll
    static void writeFiles() throws IOException {
        long t0 = System.nanoTime();
        sd15Listing = ldmListing(ModelFamily.SD1);
        sd15Listing.put("cond_stage_model.transformer.text_model.embeddings.position_ids", new Spec(DType.I64, new int[]{1, 77}));
        sd15Listing.put("model_ema.decay", new Spec(DType.F32, new int[0]));
        sd15Listing.put("model_ema.num_updates", new Spec(DType.I32, new int[0]));
        sd15Listing.put("model_ema.diffusion_modelinput_blocks00weight", new Spec(DType.F32, new int[]{320, 4, 3, 3}));
        sd15Listing.put("alphas_cumprod", new Spec(DType.F32, new int[]{1000}));
        sd15 = dir.resolve("sd15.safetensors");
        writeSparse(sd15, sd15Listing);

        sd21Listing = ldmListing(ModelFamily.SD2);
        // OpenCLIP ViT-H has 24 resblocks; diffusers (and the built-in config) use 23.
        for (var e : List.copyOf(sd21Listing.entrySet()))
            if (e.getKey().contains(".resblocks.22."))
                sd21Listing.put(e.getKey().replace(".resblocks.22.", ".resblocks.23."), e.getValue());
        sd21Listing.put("cond_stage_model.model.text_projection", new Spec(DType.F16, new int[]{1024, 1024}));
        sd21Listing.put("cond_stage_model.model.logit_scale", new Spec(DType.F16, new int[0]));
        sd21 = dir.resolve("sd21.safetensors");
        writeSparse(sd21, sd21Listing);
        // A few non-zero tensors at the text encoder's end, for the forward pass below (all else stays zero).
        writeData(sd15, sd15Listing, SD15_LAST_FC2_BIAS, FullSizeCheckpointTest::lastFc2Bias, 768);
        writeData(sd15, sd15Listing, SD15_FINAL_LN + "weight", FullSizeCheckpointTest::finalLnWeight, 768);
        writeData(sd15, sd15Listing, SD15_FINAL_LN + "bias", FullSizeCheckpointTest::finalLnBias, 768);
        writeData(sd21, sd21Listing, SD21_LAST_FC2_BIAS, FullSizeCheckpointTest::lastFc2Bias, 1024);
        writeData(sd21, sd21Listing, SD21_UNUSED_FC2_BIAS, c -> (c % 3) * 2f - 2f, 1024);
        writeData(sd21, sd21Listing, SD21_FINAL_LN + "weight", FullSizeCheckpointTest::finalLnWeight, 1024);
        writeData(sd21, sd21Listing, SD21_FINAL_LN + "bias", FullSizeCheckpointTest::finalLnBias, 1024);
        System.out.printf("wrote sparse SD 1.5 (%d tensors, %.2f GB) and SD 2.1 (%d tensors, %.2f GB) in %d ms%n",
                sd15Listing.size(), Files.size(sd15) / 1e9, sd21Listing.size(), Files.size(sd21) / 1e9,
                (System.nanoTime() - t0) / 1_000_000);
    }

    @Test
    void sd15IsRecognisedAndBuildsWithBuiltInConfigs() {
        long t0 = System.nanoTime();
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(sd15, null, null);
        assertEquals(ModelFamily.SD1, cp.family());
        assertTrue(cp.detection().standardSize(), () -> cp.detection().nonStandard().toString());
        assertEquals(768, cp.detection().crossAttentionDim());
        assertTrue(cp.builtInConfigs());
        buildParts(cp);
        assertEquals(PredictionType.EPSILON, cp.predictionType());
        assertEquals("PNDMScheduler", cp.schedulerConfig().getString("_class_name"));
        assertTrue(cp.schedulerConfig().getBoolean("skip_prk_steps", false));
        assertEquals(1, cp.schedulerConfig().getInt("steps_offset"));
        assertEquals(0.00085, cp.schedulerConfig().getDouble("beta_start"));
        assertEquals(0.012, cp.schedulerConfig().getDouble("beta_end"));
        assertEquals(64, cp.unetConfig().getInt("sample_size"));
        System.out.printf("SD 1.5: opened, detected and built in %d ms%n", (System.nanoTime() - t0) / 1_000_000);
    }

    @Test
    void sd21IsRecognisedAndBuildsWithBuiltInConfigs() {
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(sd21, null, null);
        assertEquals(ModelFamily.SD2, cp.family());
        assertTrue(cp.detection().standardSize(), () -> cp.detection().nonStandard().toString());
        assertEquals(1024, cp.detection().crossAttentionDim());
        buildParts(cp);
        ClipTextConfig text = ClipTextConfig.from(cp.textEncoderConfig());
        assertEquals(List.of(1024, 23, 16, 4096), List.of(text.hiddenSize(), text.numHiddenLayers(), text.numAttentionHeads(), text.intermediateSize()));
        // Default as diffusers: the 768-v model.
        assertEquals(PredictionType.V_PREDICTION, cp.predictionType());
        assertEquals("DDIMScheduler", cp.schedulerConfig().getString("_class_name"));
        assertEquals(96, cp.unetConfig().getInt("sample_size"));
    }

    /**
     * What a user's {@code generate --model sd15.safetensors} does: StableDiffusionModel.load with no options, so the
     * built-in configs, tokenizer and scheduler config, then a text-encoder forward pass on the full-size weights.
     */
    @Test
    void sd15LoadsAsAModelAndItsTextEncoderRuns() {
        StableDiffusionModel m = StableDiffusionModel.load(sd15);
        assertEquals(64, m.sampleSize());
        assertEquals(512, m.defaultImageSize());
        assertEquals(768, m.unet().config().crossAttentionDim());
        assertEquals(4, m.unet().config().inChannels());
        assertEquals("epsilon", m.schedulerConfig().getString("prediction_type"));
        assertEquals("PNDMScheduler", m.schedulerConfig().getString("_class_name"));
        assertEquals(List.of(768, 12), List.of(m.textEncoder().config().hiddenSize(), m.textEncoder().config().numHiddenLayers()));
        assertEquals(49407, m.tokenizer().padId(), "SD 1.x pads with <|endoftext|>");
        assertEquals(8, m.vae().config().downscaleFactor());
        assertEncodesToTheFinalLayerNormOfTheLastBias(m);
    }

    /** The same for SD 2.1 (768-v): OpenCLIP's 24 resblocks of which diffusers runs 23, so resblocks.23 must not count. */
    @Test
    void sd21LoadsAsAModelAndItsTextEncoderRuns() {
        StableDiffusionModel m = StableDiffusionModel.load(sd21);
        assertEquals(96, m.sampleSize());
        assertEquals(768, m.defaultImageSize());
        assertEquals(1024, m.unet().config().crossAttentionDim());
        assertEquals("v_prediction", m.schedulerConfig().getString("prediction_type"));
        assertEquals("DDIMScheduler", m.schedulerConfig().getString("_class_name"));
        assertEquals(List.of(1024, 23), List.of(m.textEncoder().config().hiddenSize(), m.textEncoder().config().numHiddenLayers()));
        assertEquals(0, m.tokenizer().padId(), "SD 2.x pads with '!'");
        assertEquals(8, m.vae().config().downscaleFactor());
        assertEncodesToTheFinalLayerNormOfTheLastBias(m);
    }

    /**
     * Inpainting checkpoints (runwayml/stable-diffusion-inpainting, stabilityai/stable-diffusion-2-inpainting): the same
     * files with a 9-channel conv_in are recognised and built with the built-in configs set to 9 input channels; the
     * SD 2 one is the 512 px epsilon model, as diffusers' "inpainting_v2" config.
     */
    @Test
    void inpaintingCheckpointsBuildWithTheBuiltInConfigs() throws IOException {
        for (ModelFamily family : ModelFamily.values()) {
            Map<String, Spec> listing = new LinkedHashMap<>(family == ModelFamily.SD1 ? sd15Listing : sd21Listing);
            listing.put("model.diffusion_model.input_blocks.0.0.weight", new Spec(DType.F16, new int[]{320, 9, 3, 3}));
            Path f = dir.resolve(family.builtInConfigs() + "-inpainting.safetensors");
            writeSparse(f, listing);
            SingleFileCheckpoint cp = SingleFileCheckpoint.open(f, null, null);
            assertEquals(family, cp.family());
            assertTrue(FamilyDetector.isInpainting(cp.file()));
            assertTrue(cp.detection().standardSize(), () -> cp.detection().nonStandard().toString());
            assertEquals(9, cp.unetConfig().getInt("in_channels"));
            buildParts(cp);
            assertEquals(PredictionType.EPSILON, cp.predictionType(), family.label());
            assertEquals(64, cp.unetConfig().getInt("sample_size"), family.label());
        }
        assertFalse(FamilyDetector.isInpainting(SingleFileCheckpoint.open(sd15, null, null).file()));
    }

    /**
     * Full-size ControlNets in the original layout ({@code control_model.*} as lllyasviel's releases, and without the
     * prefix as some standalone files): every tensor a ControlNetModel of the published architecture asks for is
     * found and has its shape; a net loads for its own generation only, refused by name for the other.
     */
    @Test
    void fullSizeControlNetsLoadForTheirOwnGenerationOnly() throws IOException {
        Map<ModelFamily, UNet2DConditionConfig> unets = new java.util.EnumMap<>(ModelFamily.class);
        for (ModelFamily family : ModelFamily.values())
            unets.put(family, UNet2DConditionConfig.from(BuiltinConfigs.read(family, "unet", "config.json")));
        for (ModelFamily family : ModelFamily.values())
            for (String prefix : List.of("control_model.", "")) {
                Path f = dir.resolve("control_" + family.builtInConfigs() + (prefix.isEmpty() ? "_bare" : "") + ".safetensors");
                Map<String, Spec> listing = controlNetListing(family, prefix);
                writeSparse(f, listing);
                ControlNetModel net = ControlNets.load(f, unets.get(family), family.builtInConfigs());
                assertEquals(List.of(16, 32, 96, 256), net.config().conditioningEmbeddingOutChannels());
                assertEquals(unets.get(family).blockOutChannels(), net.config().unet().blockOutChannels());
                assertEquals(4, net.config().unet().inChannels());
                ModelFamily other = family == ModelFamily.SD1 ? ModelFamily.SD2 : ModelFamily.SD1;
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> ControlNets.load(f, unets.get(other), "other"));
                assertEquals("ControlNet " + f.getFileName().toString().replace(".safetensors", "") + " is for "
                        + family.label() + " (text width " + family.crossAttentionDim() + ") but the model other is "
                        + other.label() + " (text width " + other.crossAttentionDim() + ")", e.getMessage());
            }
        Map<String, Spec> sd15 = controlNetListing(ModelFamily.SD1, "control_model.");
        assertEquals(16, sd15.keySet().stream().filter(k -> k.startsWith("control_model.input_hint_block.")).count(),
                "conv_in, 6 blocks, conv_out");
        assertEquals(24, sd15.keySet().stream().filter(k -> k.startsWith("control_model.zero_convs.")).count(), "12 zero convolutions");
        assertArrayEquals(new int[]{1280, 1280, 1, 1}, sd15.get("control_model.middle_block_out.0.weight").shape());
        assertArrayEquals(new int[]{256, 96, 3, 3}, sd15.get("control_model.input_hint_block.12.weight").shape());
        assertArrayEquals(new int[]{320, 256, 3, 3}, sd15.get("control_model.input_hint_block.14.weight").shape());
    }

    /** The original-layout names and shapes of the published architecture's ControlNet, under {@code prefix}. */
    static Map<String, Spec> controlNetListing(ModelFamily family, String prefix) throws IOException {
        UNet2DConditionConfig unet = UNet2DConditionConfig.from(BuiltinConfigs.read(family, "unet", "config.json"));
        Map<String, int[]> names = new LinkedHashMap<>();
        new ControlNetModel("recorder", ControlNetConfig.fromUnet(unet, 4, 3, List.of(16, 32, 96, 256)),
                new Recorder(names, "", zeroMapping(64L << 20)));
        KeyMap map = LdmKeyMaps.controlNet(prefix, unet.layersPerBlock(), 4);
        Map<String, Spec> out = new LinkedHashMap<>();
        names.forEach((name, shape) -> {
            KeyMap.Ref ref = map.resolve(name);
            assertNotNull(ref, name);
            String key = ref.key();
            int[] s = shape;
            if (key.endsWith(".weight") && s.length == 2 && (key.contains("zero_convs.") || key.contains("middle_block_out.")
                    || key.contains(".skip_connection.") || (family == ModelFamily.SD1 && key.matches(".*\\.proj_(in|out)\\.weight"))))
                s = new int[]{s[0], s[1], 1, 1};
            assertNull(out.put(key, new Spec(DType.F16, s)), key);
        });
        return out;
    }

    static final String SD15_LAST_FC2_BIAS = "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.bias";
    static final String SD15_FINAL_LN = "cond_stage_model.transformer.text_model.final_layer_norm.";
    static final String SD21_LAST_FC2_BIAS = "cond_stage_model.model.transformer.resblocks.22.mlp.c_proj.bias";
    static final String SD21_UNUSED_FC2_BIAS = "cond_stage_model.model.transformer.resblocks.23.mlp.c_proj.bias";
    static final String SD21_FINAL_LN = "cond_stage_model.model.ln_final.";

    // Patterns exact in F16, so the expected output follows from them alone.
    static float lastFc2Bias(int c) { return ((c * 7) % 17 - 8) * 0.25f; }
    static float finalLnWeight(int c) { return 0.5f + (c % 5) * 0.25f; }
    static float finalLnBias(int c) { return ((c % 11) - 5) * 0.125f; }

    /**
     * With every other weight zero, each token's hidden state is zero up to the last layer, whose MLP adds its
     * output bias: the last hidden state is the final layer norm of that bias, for every token, (b - mean) /
     * sqrt(var + eps) * w + beta, computed here in double. It fails if a key maps wrongly (another layer, a missing
     * bias), if the layer norm or the residual path is off, or if anything turns NaN.
     */
    private static void assertEncodesToTheFinalLayerNormOfTheLastBias(StableDiffusionModel m) {
        int d = m.textEncoder().config().hiddenSize();
        double mean = 0, var = 0;
        for (int c = 0; c < d; c++) mean += lastFc2Bias(c);
        mean /= d;
        for (int c = 0; c < d; c++) var += (lastFc2Bias(c) - mean) * (lastFc2Bias(c) - mean);
        var /= d;
        double eps = m.textEncoder().config().layerNormEps();
        int[] prompt = m.tokenizer().encode("a photo of a cat");
        int[] ids = new int[prompt.length + 2];
        ids[0] = m.tokenizer().bosId();
        System.arraycopy(prompt, 0, ids, 1, prompt.length);
        ids[ids.length - 1] = m.tokenizer().eosId();
        var out = m.textEncoder().forward(new int[][]{ids});
        float[] last = out.lastHiddenState().data();
        assertEquals(ids.length * d, last.length);
        for (int t = 0; t < ids.length; t++)
            for (int c = 0; c < d; c++) {
                double expected = (lastFc2Bias(c) - mean) / Math.sqrt(var + eps) * finalLnWeight(c) + finalLnBias(c);
                int i = t * d + c, tt = t, cc = c;
                assertEquals(expected, last[i], 1e-5 * Math.max(1, Math.abs(expected)), () -> "token " + tt + ", channel " + cc);
            }
        float[] pooled = out.pooled().data();
        assertArrayEquals(Arrays.copyOfRange(last, (ids.length - 1) * d, ids.length * d), pooled, "pooled at the end-of-text token");
    }

    @Test
    void sd21PredictionTypeOverrideAndGlobalStep() {
        SingleFileCheckpoint base = SingleFileCheckpoint.open(sd21, null, PredictionType.EPSILON);
        assertEquals(PredictionType.EPSILON, base.predictionType());
        assertEquals("epsilon", base.schedulerConfig().getString("prediction_type"));
        assertEquals(64, base.unetConfig().getInt("sample_size"), "512-base");
        SafeTensors file = SafeTensors.open(sd21);
        // diffusers' heuristic: global_step 875000 is the 512-base checkpoint; anything else is 768-v.
        assertEquals(PredictionType.EPSILON, SingleFileCheckpoint.open(file, 875000L, null, null).predictionType());
        assertEquals(PredictionType.V_PREDICTION, SingleFileCheckpoint.open(file, 110000L, null, null).predictionType());
        assertEquals(PredictionType.V_PREDICTION, SingleFileCheckpoint.open(file, 875000L, null, PredictionType.V_PREDICTION).predictionType());
        // An SD 1.x fine-tune trained for v: the override is all that can tell.
        assertEquals(PredictionType.V_PREDICTION, SingleFileCheckpoint.open(sd15, null, PredictionType.V_PREDICTION).predictionType());
    }

    @Test
    void builtInTokenizerFiles() throws IOException {
        Path t15 = SingleFileCheckpoint.open(sd15, null, null).tokenizerDir();
        Path t21 = SingleFileCheckpoint.open(sd21, null, null).tokenizerDir();
        for (Path t : List.of(t15, t21)) {
            assertTrue(Files.size(t.resolve("vocab.json")) > 1_000_000);
            assertTrue(Files.readString(t.resolve("merges.txt")).startsWith("#version"));
            assertEquals(77, JsonConfig.read(t.resolve("tokenizer_config.json")).getInt("model_max_length"));
        }
        assertEquals("<|endoftext|>", JsonConfig.read(t15.resolve("special_tokens_map.json")).getString("pad_token"));
        assertEquals("!", JsonConfig.read(t21.resolve("special_tokens_map.json")).getString("pad_token"));
    }

    /** Keys and shapes known from the published files, so that the generated listing is not only self-consistent. */
    @Test
    void generatedListingsHoldTheKnownOriginalKeys() {
        Map<String, int[]> sd15Known = Map.ofEntries(
                Map.entry("model.diffusion_model.time_embed.0.weight", new int[]{1280, 320}),
                Map.entry("model.diffusion_model.input_blocks.3.0.op.weight", new int[]{320, 320, 3, 3}),
                Map.entry("model.diffusion_model.input_blocks.9.0.op.weight", new int[]{1280, 1280, 3, 3}),
                Map.entry("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", new int[]{320, 768}),
                Map.entry("model.diffusion_model.input_blocks.1.1.proj_in.weight", new int[]{320, 320, 1, 1}),
                Map.entry("model.diffusion_model.middle_block.1.transformer_blocks.0.ff.net.0.proj.weight", new int[]{10240, 1280}),
                Map.entry("model.diffusion_model.middle_block.2.emb_layers.1.weight", new int[]{1280, 1280}),
                Map.entry("model.diffusion_model.output_blocks.2.1.conv.weight", new int[]{1280, 1280, 3, 3}),
                Map.entry("model.diffusion_model.output_blocks.5.2.conv.weight", new int[]{1280, 1280, 3, 3}),
                Map.entry("model.diffusion_model.output_blocks.8.2.conv.weight", new int[]{640, 640, 3, 3}),
                Map.entry("model.diffusion_model.output_blocks.11.0.skip_connection.weight", new int[]{320, 640, 1, 1}),
                Map.entry("model.diffusion_model.out.2.weight", new int[]{4, 320, 3, 3}),
                Map.entry("first_stage_model.encoder.down.1.block.0.nin_shortcut.weight", new int[]{256, 128, 1, 1}),
                Map.entry("first_stage_model.decoder.up.3.upsample.conv.weight", new int[]{512, 512, 3, 3}),
                Map.entry("first_stage_model.decoder.up.1.block.0.nin_shortcut.weight", new int[]{256, 512, 1, 1}),
                Map.entry("first_stage_model.decoder.up.0.block.2.conv2.weight", new int[]{128, 128, 3, 3}),
                Map.entry("first_stage_model.decoder.mid.attn_1.proj_out.weight", new int[]{512, 512, 1, 1}),
                Map.entry("first_stage_model.quant_conv.weight", new int[]{8, 8, 1, 1}),
                Map.entry("cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc1.weight", new int[]{3072, 768}));
        sd15Known.forEach((k, shape) -> assertArrayEquals(shape, sd15Listing.get(k) == null ? null : sd15Listing.get(k).shape(), k));
        // The published SD 1.5 files: 686 UNet, 248 VAE, 196 text encoder tensors (+ position_ids).
        assertEquals(686, count(sd15Listing, "model.diffusion_model."));
        assertEquals(248, count(sd15Listing, "first_stage_model."));
        assertEquals(197, count(sd15Listing, "cond_stage_model."));

        Map<String, int[]> sd21Known = Map.of(
                "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight", new int[]{320, 1024},
                "model.diffusion_model.input_blocks.1.1.proj_in.weight", new int[]{320, 320},
                "cond_stage_model.model.positional_embedding", new int[]{77, 1024},
                "cond_stage_model.model.token_embedding.weight", new int[]{49408, 1024},
                "cond_stage_model.model.transformer.resblocks.22.attn.in_proj_weight", new int[]{3072, 1024},
                "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_bias", new int[]{3072},
                "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight", new int[]{4096, 1024},
                "cond_stage_model.model.ln_final.weight", new int[]{1024});
        sd21Known.forEach((k, shape) -> assertArrayEquals(shape, sd21Listing.get(k) == null ? null : sd21Listing.get(k).shape(), k));
        assertEquals(686, count(sd21Listing, "model.diffusion_model."));
    }

    @Test
    void unsupportedCheckpointsAreNamed() throws IOException {
        Spec small = new Spec(DType.F16, new int[]{4});
        Spec convIn = new Spec(DType.F16, new int[]{320, 4, 3, 3});
        refused(Map.of("model.diffusion_model.input_blocks.0.0.weight", convIn,
                        "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias", small),
                "Stable Diffusion XL", "SDXL base", "not supported (yet)");
        refused(Map.of("model.diffusion_model.input_blocks.0.0.weight", new Spec(DType.F16, new int[]{320, 5, 3, 3}),
                        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", small),
                "depth-to-image", "5 UNet input channels", "inpainting models 9", "not supported (yet)");
        refused(Map.of("model.diffusion_model.input_blocks.0.0.weight", new Spec(DType.F16, new int[]{320, 8, 3, 3}),
                        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", small),
                "instruct-pix2pix", "8 UNet input channels");
        refused(Map.of("model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias", small),
                "Stable Diffusion 3", "not supported (yet)");
        refused(Map.of("conv_in.weight", convIn, "down_blocks.0.resnets.0.conv1.weight", small),
                "diffusers' names", "diffusers folder");
        refused(Map.of("foo.bar.weight", small, "foo.bar.bias", small, "baz", small),
                "no UNet", "3 tensors", "2 under foo.bar.");
        refused(Map.of("model.diffusion_model.input_blocks.0.0.weight", convIn,
                        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", new Spec(DType.F16, new int[]{320, 512})),
                "no text encoder", "512", "cannot tell");
        // A UNet-only file at SD 2.x width is still recognised; the missing text encoder shows up when it is built.
        Path unetOnly = dir.resolve("unet-only.safetensors");
        Map<String, Spec> listing = new LinkedHashMap<>();
        sd21Listing.forEach((k, v) -> { if (k.startsWith("model.diffusion_model.")) listing.put(k, v); });
        writeSparse(unetOnly, listing);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SingleFileCheckpoint.open(unetOnly, null, null));
        assertTrue(e.getMessage().contains("first_stage_model.encoder.conv_in.weight is missing"), e.getMessage());
        assertThrows(ModelFormatException.class, () -> SingleFileCheckpoint.open(dir.resolve("model.ckpt"), null, null));
    }

    /**
     * The converter on full-size files: every original key finds its diffusers name (the extras real
     * checkpoints carry are left out), and the diffusers tensors convert back into the very same keys and
     * shapes. (Converting them for real would write gigabytes; the tiny fixtures prove the bytes.)
     */
    @Test
    void fullSizeCheckpointsConvertBothWays() throws IOException {
        for (ModelFamily family : ModelFamily.values()) {
            Path file = family == ModelFamily.SD1 ? sd15 : sd21;
            Map<String, Spec> original = family == ModelFamily.SD1 ? sd15Listing : sd21Listing;
            SingleFileCheckpoint cp = SingleFileCheckpoint.open(file, null, null);
            List<String> skipped = new ArrayList<>();
            Map<String, List<Entry>> parts = CheckpointConverter.toDiffusersLayout(cp, false, skipped);

            List<String> extras = family == ModelFamily.SD1
                    ? List.of("cond_stage_model.transformer.text_model.embeddings.position_ids", "model_ema.decay",
                        "model_ema.num_updates", "model_ema.diffusion_modelinput_blocks00weight", "alphas_cumprod")
                    : List.of("cond_stage_model.model.text_projection", "cond_stage_model.model.logit_scale");
            Set<String> expectedSkipped = new java.util.TreeSet<>(extras);
            if (family == ModelFamily.SD2)
                original.keySet().stream().filter(k -> k.contains(".resblocks.23.")).forEach(expectedSkipped::add);
            assertEquals(expectedSkipped, new java.util.TreeSet<>(skipped), family + ": left out");
            // Diffusers keeps the VAE's attention projections as Linear weights.
            Entry toQ = parts.get("vae").stream().filter(e -> e.name().equals("decoder.mid_block.attentions.0.to_q.weight")).findFirst().orElseThrow();
            assertArrayEquals(new int[]{512, 512}, toQ.shape());
            assertEquals(686, parts.get("unet").size());
            assertEquals((family == ModelFamily.SD1 ? 12 : 23) * 16 + 4, parts.get("text_encoder").size(), "q, k, v split");

            Map<String, Spec> back = new LinkedHashMap<>();
            for (String part : List.of("unet", "vae", "text_encoder")) {
                Map<String, Spec> diffusers = new LinkedHashMap<>();
                for (Entry e : parts.get(part)) diffusers.put(e.name(), new Spec(e.dtype(), e.shape()));
                Path f = dir.resolve(family + "-" + part + ".safetensors");
                writeSparse(f, diffusers);
                KeyMap map = switch (part) {
                    case "unet" -> LdmKeyMaps.unet(cp.unetConfig());
                    case "vae" -> LdmKeyMaps.vaeForExport(cp.vaeConfig());
                    default -> family == ModelFamily.SD2 ? LdmKeyMaps.openClip(cp.textEncoderConfig()) : LdmKeyMaps.clipForExport();
                };
                for (Entry e : CheckpointConverter.toOriginalLayout(SafeTensors.open(f), map, part, false, new ArrayList<>()))
                    back.put(e.name(), new Spec(e.dtype(), e.shape()));
            }
            Map<String, Spec> expected = new java.util.TreeMap<>(original);
            expectedSkipped.forEach(expected::remove);
            assertEquals(expected.keySet(), new java.util.TreeSet<>(back.keySet()), family + ": the same keys back");
            expected.forEach((k, spec) -> assertArrayEquals(spec.shape(), back.get(k).shape(), k));
        }
    }

    private void refused(Map<String, Spec> tensors, String... fragments) throws IOException {
        Path f = Files.createTempFile(dir, "bad", ".safetensors");
        writeSparse(f, tensors);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SingleFileCheckpoint.open(f, null, null));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        for (String s : fragments) assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }

    private static long count(Map<String, Spec> listing, String prefix) {
        return listing.keySet().stream().filter(k -> k.startsWith(prefix)).count();
    }

    private static void buildParts(SingleFileCheckpoint cp) {
        new UNet2DConditionModel(UNet2DConditionConfig.from(cp.unetConfig()), cp.unetWeights());
        new AutoencoderKL(AutoencoderKLConfig.from(cp.vaeConfig()), cp.vaeWeights());
        new ClipTextModel(ClipTextConfig.from(cp.textEncoderConfig()), cp.textEncoderWeights());
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * The original-layout names and shapes of a full-size checkpoint: the diffusers names and shapes the
     * model code asks for when built from the built-in configs, mapped back through the key maps.
     */
    static Map<String, Spec> ldmListing(ModelFamily family) throws IOException {
        JsonConfig unetCfg = BuiltinConfigs.read(family, "unet", "config.json");
        JsonConfig vaeCfg = BuiltinConfigs.read(family, "vae", "config.json");
        JsonConfig textCfg = BuiltinConfigs.read(family, "text_encoder", "config.json");
        Map<String, int[]> unet = new LinkedHashMap<>(), vae = new LinkedHashMap<>(), text = new LinkedHashMap<>();
        MemorySegment zeros = zeroMapping(256L << 20);
        new UNet2DConditionModel(UNet2DConditionConfig.from(unetCfg), new Recorder(unet, "", zeros));
        new AutoencoderKL(AutoencoderKLConfig.from(vaeCfg), new Recorder(vae, "", zeros));
        new ClipTextModel(ClipTextConfig.from(textCfg), new Recorder(text, "", zeros));

        TensorFile empty = new EmptyFile();
        Map<String, Spec> out = new LinkedHashMap<>();
        addMapped(out, unet, LdmKeyMaps.unet(unetCfg), family);
        addMapped(out, vae, LdmKeyMaps.vae(vaeCfg, empty), family);
        addMapped(out, text, family == ModelFamily.SD2 ? LdmKeyMaps.openClip(textCfg) : LdmKeyMaps.clip(empty), family);
        return out;
    }

    private static void addMapped(Map<String, Spec> out, Map<String, int[]> diffusers, KeyMap map, ModelFamily family) {
        diffusers.forEach((name, shape) -> {
            KeyMap.Ref ref = map.resolve(name);
            assertNotNull(ref, name);
            int[] s = shape.clone();
            s[0] *= ref.parts(); // q, k, v fused into one tensor
            if (isConv1x1(ref.key(), family)) s = new int[]{s[0], s[1], 1, 1};
            Spec spec = new Spec(DType.F16, s);
            Spec prev = out.putIfAbsent(ref.key(), spec);
            if (prev != null) assertArrayEquals(prev.shape(), s, ref.key());
        });
    }

    /** Weights that the original models hold as 1×1 convolutions, though diffusers' Linear reads them as matrices. */
    private static boolean isConv1x1(String key, ModelFamily family) {
        if (!key.endsWith(".weight")) return false;
        return key.contains(".skip_connection.") || key.contains(".nin_shortcut.") || key.contains("quant_conv.")
                || key.matches(".*\\.mid\\.attn_1\\.(q|k|v|proj_out)\\.weight")
                || (family == ModelFamily.SD1 && key.startsWith("model.diffusion_model.") && key.matches(".*\\.proj_(in|out)\\.weight"));
    }

    /** Writes a safetensors header and extends the file to its full length without writing data: all zeros. */
    static void writeSparse(Path file, Map<String, Spec> tensors) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        long offset = 0;
        for (var e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", e.getValue().dtype().name());
            var shape = t.putArray("shape");
            for (int d : e.getValue().shape()) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + e.getValue().bytes());
            offset += e.getValue().bytes();
        }
        byte[] h = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            raf.write(h);
            for (int i = h.length; i < padded; i++) raf.write(' ');
            raf.setLength(8 + padded + offset);
        }
    }

    /** Writes F16 values into one tensor of a file that {@link #writeSparse} wrote from {@code listing}. */
    static void writeData(Path file, Map<String, Spec> listing, String name, java.util.function.IntToDoubleFunction value, int n)
            throws IOException {
        long offset = 0;
        for (var e : listing.entrySet()) {
            if (e.getKey().equals(name)) break;
            offset += e.getValue().bytes();
        }
        Spec spec = listing.get(name);
        assertNotNull(spec, name);
        assertEquals(DType.F16, spec.dtype(), name);
        assertArrayEquals(new int[]{n}, spec.shape(), name);
        ByteBuffer data = ByteBuffer.allocate(2 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            float v = (float) value.applyAsDouble(i);
            assertEquals(v, Float.float16ToFloat(Float.floatToFloat16(v)), name + ": exact in F16");
            data.putShort(Float.floatToFloat16(v));
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(len, 0);
            ch.write(data.flip(), 8 + len.flip().getLong() + offset);
        }
    }

    /** A read-only mapping of a sparse file: zeros that cost no memory. */
    private static MemorySegment zeroMapping(long bytes) throws IOException {
        Path f = Files.createTempFile(dir, "zeros", ".bin");
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) { raf.setLength(bytes); }
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes, Arena.ofAuto());
        }
    }

    /** Hands out F16 zero tensors of whatever shape the model code asks for, recording names and shapes. */
    private record Recorder(Map<String, int[]> shapes, String prefix, MemorySegment zeros) implements WeightSource {
        @Override public WeightTensor get(String name) {
            // Linear first looks at the rank (matrix or 1×1 conv): answer "matrix", the shaped lookup follows.
            return new WeightTensor(prefix + name, DType.F16, new int[]{0}, zeros.asSlice(0, 0));
        }

        @Override public WeightTensor get(String name, int... shape) {
            shapes.put(prefix + name, shape.clone());
            long n = 2;
            for (int d : shape) n *= d;
            return new WeightTensor(prefix + name, DType.F16, shape, zeros.asSlice(0, n));
        }

        @Override public boolean contains(String name) { return true; }
        @Override public String describe() { return "recorder"; }
        @Override public WeightSource prefixed(String more) { return new Recorder(shapes, prefix + more, zeros); }
    }

    private static final class EmptyFile implements TensorFile {
        @Override public Set<String> names() { return Set.of(); }
        @Override public WeightTensor tensor(String name) { throw new ModelFormatException(null, name, "missing"); }
        @Override public boolean contains(String name) { return false; }
        @Override public Path file() { return Path.of("empty"); }
    }
}
