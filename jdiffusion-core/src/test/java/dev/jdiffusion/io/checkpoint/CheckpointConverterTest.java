package dev.jdiffusion.io.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.checkpoint.CheckpointConverter.Options;
import dev.jdiffusion.io.checkpoint.CheckpointConverter.Result;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Both directions against the fixtures that diffusers itself wrote: a folder converts into exactly the
 * file that diffusers' export script made from it, and that file converts back into exactly the folder.
 */
class CheckpointConverterTest {
    private static final List<String> PARTS = List.of("unet", "vae", "text_encoder");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir Path dir;

    static Path singleFile(String name) { return Fixtures.root().resolve("single-file").resolve(name); }

    static Options withConfig(String model) { return new Options(false, false, Fixtures.model(model), null); }

    // --- diffusers folder → single file --------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"tiny-sd15, false, tiny-sd15.safetensors", "tiny-sd2, false, tiny-sd2.safetensors",
            "tiny-sd15, true, tiny-sd15-fp16.safetensors"})
    void folderBecomesTheExportScriptsFile(String model, boolean half, String reference) throws IOException {
        Path out = dir.resolve("out.safetensors");
        Result r = CheckpointConverter.convert(Fixtures.model(model), out, new Options(half, false, null, null));
        assertEquals(model.equals("tiny-sd2") ? ModelFamily.SD2 : ModelFamily.SD1, r.family());

        SafeTensors expected = SafeTensors.open(singleFile(reference)), actual = SafeTensors.open(out);
        assertEquals(List.copyOf(expected.names()), List.copyOf(actual.names()), "same keys, in the same order");
        assertSameTensors(expected, actual, reference);
        assertEquals(expected.names().size(), r.tensors());
        assertSameFile(singleFile(reference), out);
        assertNoTemporaryFiles();
    }

    /** Older diffusers releases named the VAE's attention query, key, value, proj_attn; the export reads them too. */
    @Test
    void oldVaeAttentionNamesGiveTheSameFile() throws IOException {
        Path folder = copyFolder("tiny-sd15");
        Path vae = folder.resolve("vae/diffusion_pytorch_model.safetensors");
        SafeTensors src = SafeTensors.open(vae);
        Map<String, WeightTensor> tensors = new LinkedHashMap<>();
        for (String n : src.names())
            tensors.put(n.replace(".to_q.", ".query.").replace(".to_k.", ".key.").replace(".to_v.", ".value.")
                    .replace(".to_out.0.", ".proj_attn."), src.tensor(n));
        assertTrue(tensors.containsKey("encoder.mid_block.attentions.0.proj_attn.weight"));
        rewrite(vae, tensors);
        Path out = dir.resolve("out.safetensors");
        CheckpointConverter.convert(folder, out, Options.DEFAULTS);
        assertSameFile(singleFile("tiny-sd15.safetensors"), out);
    }

    // --- single file → diffusers folder --------------------------------------------------------------

    @ParameterizedTest
    @CsvSource({"tiny-sd15.safetensors, tiny-sd15", "tiny-sd15.ckpt, tiny-sd15", "tiny-sd2.safetensors, tiny-sd2"})
    void singleFileBecomesTheFolder(String file, String model) throws IOException {
        Path out = dir.resolve("converted");
        Result r = CheckpointConverter.convert(singleFile(file), out, withConfig(model));
        assertEquals(List.of(), r.skipped(), "every tensor of the export has its place in the folder");

        Path original = Fixtures.model(model);
        DiffusersFolder expected = DiffusersFolder.open(original), actual = DiffusersFolder.open(out);
        int tensors = 0;
        for (String part : PARTS) {
            SafeTensors e = expected.weights(part, false), a = actual.weights(part, false);
            assertEquals(e.file().getFileName(), a.file().getFileName(), part + ": the file name save_pretrained uses");
            assertEquals(sorted(e.names()), List.copyOf(a.names()), part + ": same names, in save_file's order");
            assertSameTensors(e, a, part);
            assertEquals("pt", a.metadata().get("format"), "transformers reads only safetensors marked as torch's");
            tensors += a.names().size();
        }
        assertEquals(tensors, r.tensors());
        for (String config : List.of("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
                "scheduler/scheduler_config.json", "tokenizer/tokenizer_config.json", "tokenizer/special_tokens_map.json"))
            assertEquals(json(original.resolve(config)), json(out.resolve(config)), config);
        for (String f : List.of("vocab.json", "merges.txt"))
            assertEquals(-1, Files.mismatch(original.resolve("tokenizer").resolve(f), out.resolve("tokenizer").resolve(f)), f);
        try (var files = Files.list(out.resolve("tokenizer"))) {
            assertEquals(4, files.count(), "the tokenizer files save_pretrained writes");
        }
        assertNoTemporaryFiles();
    }

    @Test
    void halfFolderHoldsTheRoundedWeights() throws IOException {
        Path out = dir.resolve("half");
        CheckpointConverter.convert(singleFile("tiny-sd15.safetensors"), out,
                new Options(true, false, Fixtures.model("tiny-sd15"), null));
        DiffusersFolder expected = DiffusersFolder.open(Fixtures.model("tiny-sd15")), actual = DiffusersFolder.open(out);
        for (String part : PARTS) {
            SafeTensors e = expected.weights(part, false), a = actual.weights(part, false);
            for (String name : e.names()) {
                WeightTensor t = a.tensor(name);
                assertEquals(DType.F16, t.dtype(), name);
                assertArrayEquals(e.tensor(name).shape(), t.shape(), name);
                float[] values = e.tensor(name).toFloatArray(), halves = t.toFloatArray();
                for (int i = 0; i < values.length; i++)
                    assertEquals(Float.float16ToFloat(Float.floatToFloat16(values[i])), halves[i], name + "[" + i + "]");
            }
        }
        assertEquals("float16", json(out.resolve("text_encoder/config.json")).get("torch_dtype").asText());
        // And the half folder converts into the export script's --half file, byte for byte.
        Path file = dir.resolve("half.safetensors");
        CheckpointConverter.convert(out, file, Options.DEFAULTS);
        assertSameFile(singleFile("tiny-sd15-fp16.safetensors"), file);
    }

    /** Weights equal byte for byte (proven above); loading them must run: same model, same pixels. */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void convertedFolderMakesTheSameImage(String model) throws IOException {
        Path out = dir.resolve("converted");
        CheckpointConverter.convert(singleFile(model + ".safetensors"), out, withConfig(model));
        GenerationRequest request = GenerationRequest.builder("a photo of an astronaut riding a horse on the moon")
                .steps(2).seed(7).size(64, 64).build();
        byte[] expected = StableDiffusionPipeline.load(Fixtures.model(model)).generate(request).images().getFirst().rgb();
        byte[] actual = StableDiffusionPipeline.load(out).generate(request).images().getFirst().rgb();
        // Bit-exact: same weights, and the kernels compute the same way on every call (JIT or not).
        assertArrayEquals(expected, actual, "same weights, same seed: the same pixels");
    }

    // --- what the output looks like when something goes wrong ------------------------------------------

    @Test
    void anExistingOutputIsRefusedUnlessOverwriting() throws IOException {
        Path out = Files.createDirectory(dir.resolve("existing"));
        Files.writeString(out.resolve("old.txt"), "old");
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> CheckpointConverter.convert(singleFile("tiny-sd15.safetensors"), out, withConfig("tiny-sd15")));
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        assertEquals("old", Files.readString(out.resolve("old.txt")), "left as it was");

        CheckpointConverter.convert(singleFile("tiny-sd15.safetensors"), out, new Options(false, true, Fixtures.model("tiny-sd15"), null));
        assertFalse(Files.exists(out.resolve("old.txt")), "the folder is replaced, not merged");
        DiffusersFolder.open(out);
        assertNoTemporaryFiles();

        Path file = dir.resolve("existing.safetensors");
        Files.writeString(file, "old");
        assertThrows(ModelFormatException.class, () -> CheckpointConverter.convert(Fixtures.model("tiny-sd15"), file, Options.DEFAULTS));
        CheckpointConverter.convert(Fixtures.model("tiny-sd15"), file, new Options(false, true, null, null));
        assertSameFile(singleFile("tiny-sd15.safetensors"), file);
    }

    @Test
    void aFailureHalfWayLeavesNothingBehind() throws IOException {
        // Configs whose scheduler has no _class_name: found only when model_index.json is written, after
        // the temporary folder has been made.
        Path cfg = copyConfigs("tiny-sd15");
        Path scheduler = cfg.resolve("scheduler/scheduler_config.json");
        Files.writeString(scheduler, Files.readString(scheduler).replace("\"_class_name\": \"PNDMScheduler\",", ""));
        Path out = dir.resolve("out").resolve("model");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> CheckpointConverter.convert(
                singleFile("tiny-sd15.safetensors"), out, new Options(false, false, cfg, null)));
        assertEquals("_class_name", e.key());
        assertFalse(Files.exists(out));
        try (var files = Files.list(out.getParent())) {
            assertEquals(List.of(), files.toList(), "no temporary folder left");
        }
    }

    @Test
    void aFolderTensorWithoutPlaceInTheOriginalLayoutIsNamed() throws IOException {
        Path folder = copyFolder("tiny-sd15");
        Path unet = folder.resolve("unet/diffusion_pytorch_model.safetensors");
        SafeTensors src = SafeTensors.open(unet);
        Map<String, WeightTensor> tensors = new LinkedHashMap<>();
        for (String n : src.names()) tensors.put(n, src.tensor(n));
        tensors.put("add_embedding.linear_1.weight", src.tensor("conv_in.bias"));  // as SDXL's UNet has
        rewrite(unet, tensors);
        Path out = dir.resolve("out.safetensors");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> CheckpointConverter.convert(folder, out, Options.DEFAULTS));
        assertEquals(unet, e.file());
        assertEquals("add_embedding.linear_1.weight", e.key());
        assertTrue(e.getMessage().contains("no place"), e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void aMissingProjectionOfAFusedTensorIsNamed() throws IOException {
        Path folder = copyFolder("tiny-sd2");
        Path text = folder.resolve("text_encoder/model.safetensors");
        SafeTensors src = SafeTensors.open(text);
        String dropped = "text_model.encoder.layers.2.self_attn.k_proj.weight";
        Map<String, WeightTensor> tensors = new LinkedHashMap<>();
        for (String n : src.names()) if (!n.equals(dropped)) tensors.put(n, src.tensor(n));
        rewrite(text, tensors);
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> CheckpointConverter.convert(folder, dir.resolve("out.safetensors"), Options.DEFAULTS));
        assertEquals(dropped, e.key());
        assertTrue(e.getMessage().contains("cond_stage_model.model.transformer.resblocks.2.attn.in_proj_weight"), e.getMessage());
    }

    @Test
    void outputsOfTheWrongKindAreRefusedBeforeAnyWork() {
        var e = assertThrows(ModelFormatException.class,
                () -> CheckpointConverter.convert(Fixtures.model("tiny-sd15"), dir.resolve("model.ckpt"), Options.DEFAULTS));
        assertTrue(e.getMessage().contains("must end in .safetensors"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> CheckpointConverter.convert(singleFile("tiny-sd15.safetensors"),
                dir.resolve("model.safetensors"), withConfig("tiny-sd15")));
        assertTrue(e.getMessage().contains("must be a folder"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> CheckpointConverter.convert(dir, dir.resolve("x.safetensors"), Options.DEFAULTS));
        assertTrue(e.getMessage().contains("neither a diffusers folder"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CheckpointConverter.convert(Fixtures.model("tiny-sd15"),
                dir.resolve("x.safetensors"), withConfig("tiny-sd15")));
    }

    // ---------------------------------------------------------------------------------------------

    /** Every tensor of {@code expected} is in {@code actual} with the same dtype, shape and bytes. */
    static void assertSameTensors(SafeTensors expected, SafeTensors actual, String what) {
        assertEquals(expected.names(), actual.names(), what + ": same names");
        for (String name : expected.names()) {
            WeightTensor e = expected.tensor(name), a = actual.tensor(name);
            assertEquals(e.dtype(), a.dtype(), what + " " + name);
            assertArrayEquals(e.shape(), a.shape(), what + " " + name);
            assertEquals(-1, e.segment().mismatch(a.segment()), what + " " + name + ": bytes differ");
        }
    }

    /**
     * The same header (parsed: the writer that made the fixtures puts __metadata__ last, safetensors since
     * 0.3 first) and a byte-identical data section: the same tensors at the same offsets.
     */
    static void assertSameFile(Path expected, Path actual) throws IOException {
        byte[] e = Files.readAllBytes(expected), a = Files.readAllBytes(actual);
        int he = 8 + (int) headerLength(e), ha = 8 + (int) headerLength(a);
        assertEquals(JSON.readTree(new String(e, 8, he - 8, StandardCharsets.UTF_8)),
                JSON.readTree(new String(a, 8, ha - 8, StandardCharsets.UTF_8)), "same header");
        assertEquals(-1, Arrays.mismatch(e, he, e.length, a, ha, a.length), "same data section, byte for byte");
    }

    private static long headerLength(byte[] file) {
        return ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    private static List<String> sorted(java.util.Set<String> names) {
        List<String> list = new ArrayList<>(names);
        list.sort(null);
        return list;
    }

    private static JsonNode json(Path file) throws IOException { return JSON.readTree(file.toFile()); }

    private void assertNoTemporaryFiles() throws IOException {
        try (var files = Files.list(dir)) {
            List<String> hidden = files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList();
            assertEquals(List.of(), hidden, "temporary files left behind");
        }
    }

    /** The model's config files (no weights), as a --config folder. */
    private Path copyConfigs(String model) throws IOException {
        Path cfg = dir.resolve(model + "-config");
        for (String part : List.of("unet", "vae", "text_encoder", "scheduler", "tokenizer")) {
            Files.createDirectories(cfg.resolve(part));
            try (var files = Files.list(Fixtures.model(model).resolve(part))) {
                for (Path f : files.filter(f -> !f.toString().endsWith(".safetensors")).toList())
                    Files.copy(f, cfg.resolve(part).resolve(f.getFileName()));
            }
        }
        Files.copy(Fixtures.model(model).resolve("model_index.json"), cfg.resolve("model_index.json"));
        return cfg;
    }

    /** Replaces a (copied) weights file with other tensors; they are views of the old file, hence the detour. */
    private void rewrite(Path file, Map<String, WeightTensor> tensors) throws IOException {
        Path rewritten = dir.resolve("rewritten.safetensors");
        SafeTensorsWriter.write(rewritten, tensors, Map.of("format", "pt"));
        Files.move(rewritten, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private Path copyFolder(String model) throws IOException {
        Path copy = copyConfigs(model);
        for (String part : PARTS) {
            String file = part.equals("text_encoder") ? "model.safetensors" : "diffusion_pytorch_model.safetensors";
            Files.copy(Fixtures.model(model).resolve(part).resolve(file), copy.resolve(part).resolve(file));
        }
        return copy;
    }
}
