package dev.jdiffusion.io.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Single-file checkpoints of the tiny fixtures (written by diffusers' own export script) load to the
 * same weights, hence the same outputs, as the diffusers folders they came from.
 */
class SingleFileCheckpointTest {
    /** The fixtures' tolerance against the Python reference. */
    static final double TOL = 1e-4;
    /**
     * fp16 file against the fp32 folder: every weight is rounded to 11 significant bits (relative error
     * up to 2^-11 ≈ 4.9e-4), which grows through the layers; outputs within 1e-2 of the largest magnitude.
     */
    static final double FP16_TOL = 1e-2;

    /**
     * Same weights give bit-identical outputs, whether or not the JIT has compiled the kernels yet (lane
     * sums and exp are computed in a fixed order in every tier): the single-file parts must equal the
     * folder-loaded parts exactly.
     */
    static final double UNET_RUN_TO_RUN = 0;

    @TempDir Path dir;

    static Path singleFile(String name) { return Fixtures.root().resolve("single-file").resolve(name); }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void tinyCheckpointGivesTheFolderModel(String model) {
        String file = model + ".safetensors";
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(singleFile(file), Fixtures.model(model), null);
        assertEquals(model.equals("tiny-sd2") ? ModelFamily.SD2 : ModelFamily.SD1, cp.family());
        assertFalse(cp.builtInConfigs());
        DiffusersFolder folder = DiffusersFolder.open(Fixtures.model(model));

        // Same bytes for every tensor of every part: the outputs below must then be bit-identical.
        for (String part : List.of("unet", "vae", "text_encoder"))
            assertSameWeights(folder.weights(part, false), cp.weights(part), false, model + " " + part);

        compareOutputs(model, Parts.of(cp), 0);
    }

    @Test
    void fp16CheckpointIsTheRoundedFolderModel() {
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(singleFile("tiny-sd15-fp16.safetensors"), Fixtures.model("tiny-sd15"), null);
        DiffusersFolder folder = DiffusersFolder.open(Fixtures.model("tiny-sd15"));
        for (String part : List.of("unet", "vae", "text_encoder"))
            assertSameWeights(folder.weights(part, false), cp.weights(part), true, "fp16 " + part);
        compareOutputs("tiny-sd15", Parts.of(cp), FP16_TOL);
    }

    @Test
    void openClipQkvAreViewsOfTheFusedProjection() {
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(singleFile("tiny-sd2.safetensors"), Fixtures.model("tiny-sd2"), null);
        WeightTensor fused = cp.file().tensor("cond_stage_model.model.transformer.resblocks.3.attn.in_proj_weight");
        int d = fused.dim(1);
        String[] qkv = {"q_proj", "k_proj", "v_proj"};
        for (int i = 0; i < 3; i++) {
            WeightTensor t = cp.textEncoderWeights().get("text_model.encoder.layers.3.self_attn." + qkv[i] + ".weight");
            assertArrayEquals(new int[]{d, d}, t.shape());
            assertEquals(fused.segment().address() + (long) i * d * d * 4, t.segment().address(), "a view, not a copy");
            assertTrue(t.name().contains("in_proj_weight[" + i * d + ":" + (i + 1) * d + "]"), t.name());
        }
    }

    @Test
    void missingTensorNamesFileAndBothNames() throws IOException {
        SafeTensors src = SafeTensors.open(singleFile("tiny-sd15.safetensors"));
        String dropped = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight";
        Map<String, WeightTensor> kept = new LinkedHashMap<>();
        for (String n : src.names()) if (!n.equals(dropped)) kept.put(n, src.tensor(n));
        Path broken = dir.resolve("broken.safetensors");
        SafeTensorsWriter.write(broken, kept, null);

        SingleFileCheckpoint cp = SingleFileCheckpoint.open(broken, Fixtures.model("tiny-sd15"), null);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> new UNet2DConditionModel(
                UNet2DConditionConfig.from(cp.unetConfig()), cp.unetWeights()));
        assertEquals(dropped, e.key());
        assertEquals(broken, e.file());
        for (String s : List.of("broken.safetensors", dropped, "down_blocks.0.resnets.0.conv1.weight", "missing"))
            assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }

    @Test
    void shapeMismatchNamesBothNames() throws IOException {
        // A config folder that does not fit the weights: cross_attention_dim 16 instead of 32.
        Path cfg = dir.resolve("config");
        for (String part : List.of("unet", "vae", "text_encoder", "scheduler", "tokenizer")) {
            Files.createDirectories(cfg.resolve(part));
            try (var files = Files.list(Fixtures.model("tiny-sd15").resolve(part))) {
                for (Path f : files.filter(f -> f.toString().endsWith(".json")).toList())
                    Files.copy(f, cfg.resolve(part).resolve(f.getFileName()));
            }
        }
        Path unetConfig = cfg.resolve("unet").resolve("config.json");
        Files.writeString(unetConfig, Files.readString(unetConfig).replace("\"cross_attention_dim\": 32", "\"cross_attention_dim\": 16"));
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(singleFile("tiny-sd15.safetensors"), cfg, null);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> new UNet2DConditionModel(
                UNet2DConditionConfig.from(cp.unetConfig()), cp.unetWeights()));
        for (String s : List.of("tiny-sd15.safetensors", "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
                "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", "[32, 32]", "[32, 16]"))
            assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
    }

    @Test
    void tinyFixturesAreDetectedByNamesButNeedTheirConfigs() {
        for (String model : List.of("tiny-sd15", "tiny-sd2")) {
            SafeTensors file = SafeTensors.open(singleFile(model + ".safetensors"));
            FamilyDetector.Detection d = FamilyDetector.detect(file);
            assertEquals(model.equals("tiny-sd2") ? ModelFamily.SD2 : ModelFamily.SD1, d.family());
            assertEquals(32, d.crossAttentionDim());
            assertFalse(d.standardSize());
            ModelFormatException e = assertThrows(ModelFormatException.class,
                    () -> SingleFileCheckpoint.open(singleFile(model + ".safetensors"), null, null));
            for (String s : List.of("sizes differ", "input_blocks.0.0.weight [32, 4, 3, 3] instead of [320, 4, 3, 3]",
                    "config folder"))
                assertTrue(e.getMessage().contains(s), "'" + s + "' in: " + e.getMessage());
        }
    }

    @Test
    void predictionTypeFromConfigFolderAndOverride() {
        Path file = singleFile("tiny-sd2.safetensors");
        assertEquals(PredictionType.V_PREDICTION, SingleFileCheckpoint.open(file, Fixtures.model("tiny-sd2"), null).predictionType());
        SingleFileCheckpoint eps = SingleFileCheckpoint.open(file, Fixtures.model("tiny-sd2"), PredictionType.EPSILON);
        assertEquals(PredictionType.EPSILON, eps.predictionType());
        assertEquals("epsilon", eps.schedulerConfig().getString("prediction_type"));
        assertEquals("DDIMScheduler", eps.schedulerConfig().getString("_class_name"), "the rest of the config is kept");
        assertEquals(Fixtures.model("tiny-sd2").resolve("tokenizer"), eps.tokenizerDir());
    }

    // ---------------------------------------------------------------------------------------------

    /** The three parts built from one source of configs and weights. */
    record Parts(UNet2DConditionModel unet, AutoencoderKL vae, ClipTextModel clip) {
        static Parts of(DiffusersFolder f) {
            return new Parts(new UNet2DConditionModel(UNet2DConditionConfig.from(f.config("unet")), WeightSource.of(f.weights("unet", false))),
                    new AutoencoderKL(AutoencoderKLConfig.from(f.config("vae")), WeightSource.of(f.weights("vae", false))),
                    new ClipTextModel(ClipTextConfig.from(f.config("text_encoder")), WeightSource.of(f.weights("text_encoder", false))));
        }

        static Parts of(SingleFileCheckpoint cp) {
            return new Parts(new UNet2DConditionModel(UNet2DConditionConfig.from(cp.unetConfig()), cp.unetWeights()),
                    new AutoencoderKL(AutoencoderKLConfig.from(cp.vaeConfig()), cp.vaeWeights()),
                    new ClipTextModel(ClipTextConfig.from(cp.textEncoderConfig()), cp.textEncoderWeights()));
        }
    }

    /**
     * Every tensor of the folder's part is found under the same diffusers name in the single file, with
     * the same shape and the same values (fp16: the fp32 value rounded to fp16).
     */
    static void assertSameWeights(SafeTensors folderPart, WeightSource single, boolean fp16, String what) {
        int checked = 0;
        for (String name : folderPart.names()) {
            if (name.endsWith("position_ids")) continue; // a buffer, not a weight; the export drops it
            WeightTensor expected = folderPart.tensor(name);
            WeightTensor actual = single.get(name);
            assertArrayEquals(expected.shape(), squeezeConv1x1(actual.shape(), expected.rank()), what + " " + name);
            if (!fp16) {
                assertEquals(-1, expected.segment().mismatch(actual.segment()), what + " " + name + ": bytes differ");
            } else {
                float[] e = expected.toFloatArray(), a = actual.toFloatArray();
                for (int i = 0; i < e.length; i++)
                    if (Float.float16ToFloat(Float.floatToFloat16(e[i])) != a[i])
                        fail(what + " " + name + "[" + i + "]: " + a[i] + " is not fp16(" + e[i] + ")");
            }
            checked++;
        }
        assertTrue(checked > 10, what + ": only " + checked + " tensors");
    }

    /** The VAE attention's 1×1 conv weights [out, in, 1, 1] stay 4-D (Linear takes both); diffusers squeezes them. */
    private static int[] squeezeConv1x1(int[] shape, int rank) {
        return rank == 2 && shape.length == 4 && shape[2] == 1 && shape[3] == 1 ? new int[]{shape[0], shape[1]} : shape;
    }

    /** Folder outputs per model, computed once (the fp16 test reuses tiny-sd15's). */
    private static final Map<String, Map<String, float[]>> FOLDER_OUTPUTS = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * The single-file parts on every reference input (UNet, VAE, text encoder) against the Python
     * reference (1e-4 of max magnitude; fp16: 1e-2), and against the folder-loaded parts: within
     * {@link #UNET_RUN_TO_RUN} for fp32 (same weights; only run-to-run rounding differs), within 1e-2 of max magnitude for fp16. The folder's UNet runs one case (t=500) only: the
     * weight check above already shows every tensor is the same, and the UNet is the slow part.
     */
    static void compareOutputs(String model, Parts singleFile, double tolVsFolder) {
        Map<String, float[]> folder = FOLDER_OUTPUTS.computeIfAbsent(model,
                m -> outputs(m, Parts.of(DiffusersFolder.open(Fixtures.model(m))), false));
        Map<String, float[]> actual = outputs(model, singleFile, true);
        Map<String, SafeTensors> refs = Map.of("unet", Fixtures.expected(model, "unet.safetensors"),
                "vae", Fixtures.expected(model, "vae.safetensors"),
                "text_encoder", Fixtures.expected(model, "text_encoder.safetensors"));
        double worst = 0;
        for (var e : actual.entrySet()) {
            String key = e.getKey(), part = key.substring(0, key.indexOf('/')), refName = key.substring(key.indexOf('/') + 1);
            float[] a = e.getValue(), f = folder.get(key);
            assertCloseToMax(refs.get(part).tensor(refName), a, tolVsFolder == 0 ? TOL : tolVsFolder, model + " single-file " + key);
            if (f == null) continue;
            if (tolVsFolder == 0) {
                // Same weights, so the same function, computed the same way: exactly equal.
                assertCloseToMax(WeightTensor.ofFloats(key, f, f.length), a, UNET_RUN_TO_RUN, model + " single-file vs folder " + key);
            } else {
                assertCloseToMax(WeightTensor.ofFloats(key, f, f.length), a, tolVsFolder, model + " fp16 vs folder " + key);
                worst = Math.max(worst, relErr(f, a));
            }
        }
        if (tolVsFolder != 0) System.out.printf("fp16 single file vs fp32 folder: worst error %.3g of max magnitude%n", worst);
    }

    private static double relErr(float[] ref, float[] a) {
        double max = 0, err = 0;
        for (int i = 0; i < ref.length; i++) {
            max = Math.max(max, Math.abs(ref[i]));
            err = Math.max(err, Math.abs(ref[i] - a[i]));
        }
        return err / max;
    }

    /** "part/reference name" → output, for the inputs of the model tests (UNet, VAE, text encoder). */
    static Map<String, float[]> outputs(String model, Parts p, boolean allUnetCases) {
        Map<String, float[]> out = new LinkedHashMap<>();
        SafeTensors u = Fixtures.expected(model, "unet.safetensors");
        for (int t : allUnetCases ? new int[]{999, 500, 1} : new int[]{500})
            out.put("unet/out_t" + t, unet(p.unet(), u, "latents", "context", t));
        if (allUnetCases) out.put("unet/out_nonsquare_t250", unet(p.unet(), u, "latents_nonsquare", "context_nonsquare", 250));

        SafeTensors v = Fixtures.expected(model, "vae.safetensors");
        out.put("vae/decoded", TensorOps.nhwcToNchw(p.vae().decode(TensorOps.scale(nhwc(v.tensor("latents")), 1f / p.vae().scalingFactor()))));
        AutoencoderKL.LatentDist dist = p.vae().encode(nhwc(v.tensor("image")));
        out.put("vae/encoded_mean", TensorOps.nhwcToNchw(dist.mean()));
        out.put("vae/encoded_std", TensorOps.nhwcToNchw(dist.std()));

        JsonNode files = Fixtures.manifest(model).get("files");
        List<String> tokPrompts = strings(files.get("tokenizer.safetensors").get("prompts"));
        List<String> encPrompts = strings(files.get("text_encoder.safetensors").get("prompts"));
        SafeTensors tok = Fixtures.expected(model, "tokenizer.safetensors");
        int layers = p.clip().config().numHiddenLayers();
        for (int i = 0; i < encPrompts.size(); i++) {
            long[] ids = tok.tensor("ids_%02d".formatted(tokPrompts.indexOf(encPrompts.get(i)))).toLongArray();
            int[] ids32 = Arrays.stream(ids).mapToInt(x -> (int) x).toArray();
            ClipTextModel.Output o = p.clip().forward(new int[][]{ids32});
            String nn = "_%02d".formatted(i);
            Tensor penultimate = o.hiddenStates().get(layers - 1);
            out.put("text_encoder/last_hidden_state" + nn, o.lastHiddenState().data());
            out.put("text_encoder/penultimate" + nn, penultimate.data());
            out.put("text_encoder/penultimate_final_ln" + nn, p.clip().finalLayerNorm(penultimate).data());
            out.put("text_encoder/pooled" + nn, o.pooled().data());
        }
        return out;
    }

    private static float[] unet(UNet2DConditionModel unet, SafeTensors ref, String latents, String context, int t) {
        WeightTensor lat = ref.tensor(latents), ctx = ref.tensor(context);
        float[] ts = new float[lat.dim(0)];
        Arrays.fill(ts, t);
        return TensorOps.nhwcToNchw(unet.forward(nhwc(lat), ts, new Tensor(ctx.toFloatArray(), ctx.shape())));
    }

    private static Tensor nhwc(WeightTensor t) {
        return TensorOps.nchwToNhwc(t.toFloatArray(), t.dim(0), t.dim(1), t.dim(2), t.dim(3));
    }

    private static List<String> strings(JsonNode arr) {
        List<String> out = new ArrayList<>();
        arr.forEach(n -> out.add(n.asText()));
        return out;
    }
}
