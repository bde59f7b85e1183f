package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.PythonJson;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.EmojiModelFiles;
import dev.jdiffusion.testing.Fixtures;
import dev.jdiffusion.training.ModelInitializer.Part;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fresh weights as PyTorch makes them: the tensors of testdata/emoji/init-reference.json (diffusers 0.30 building
 * the emoji configs, transformers' CLIP layout and _init_weights; scripts/reference/emoji_model_init_reference.py),
 * with the same names, shapes and dtype, the same constants, and random values of the same distribution.
 */
class ModelInitializerTest {
    private static final Path CONFIG = EmojiModelFiles.configDir();

    private static JsonConfig config(Path dir, Part part) { return JsonConfig.read(dir.resolve(part.folder()).resolve("config.json")); }

    @Test
    void tensorsAreThoseDiffusersAndTransformersSave() {
        JsonNode ref = EmojiModelFiles.referenceJson("init-reference.json");
        long total = 0;
        for (Part part : Part.values()) {
            SortedMap<String, WeightTensor> ours = ModelInitializer.initialize(part, config(CONFIG, part), 0);
            JsonNode expected = ref.get(part.folder());
            TreeSet<String> names = new TreeSet<>();
            expected.fieldNames().forEachRemaining(names::add);
            assertEquals(names, ours.keySet(), part + " tensor names");
            for (Map.Entry<String, WeightTensor> e : ours.entrySet()) {
                assertArrayEquals(ints(expected.get(e.getKey()).get("shape")), e.getValue().shape(), e.getKey());
                assertEquals("float32", expected.get(e.getKey()).get("dtype").asText());
                assertEquals(DType.F32, e.getValue().dtype(), e.getKey());
                total += e.getValue().size();
            }
        }
        assertEquals(5_548_452 + 1_288_263 + 1_272_288, total, "parameters of the emoji model");
    }

    /**
     * Per tensor: constants equal; random values with PyTorch's spread (std within 6/√n relative — sampling noise of
     * both sides is below 1.5/√n), the same family (kurtosis 1.8 for uniform, 3 for normal: within 0.6 for n ≥ 1000),
     * and, for uniform tensors, the same bound (each side's max|x| is
     * within 20/n of it but for a chance of e^-20).
     */
    @Test
    void valuesAreDistributedAsPyTorchInitialisesThem() {
        JsonNode ref = EmojiModelFiles.referenceJson("init-reference.json");
        int constants = 0, random = 0, familyChecked = 0;
        for (Part part : Part.values()) {
            for (Map.Entry<String, WeightTensor> e : ModelInitializer.initialize(part, config(CONFIG, part), 0).entrySet()) {
                JsonNode r = ref.get(part.folder()).get(e.getKey());
                double[] v = values(e.getValue());
                String what = part.folder() + " " + e.getKey();
                if (r.has("constant")) {
                    for (double x : v) assertEquals(r.get("constant").asDouble(), x, 0.0, what);
                    constants++;
                    continue;
                }
                random++;
                int n = v.length;
                double mean = Arrays.stream(v).average().orElseThrow();
                double std = Math.sqrt(Arrays.stream(v).map(x -> (x - mean) * (x - mean)).average().orElseThrow());
                double kurt = Arrays.stream(v).map(x -> Math.pow((x - mean) / std, 4)).average().orElseThrow();
                double maxAbs = Arrays.stream(v).map(Math::abs).max().orElseThrow();
                double refStd = r.get("std").asDouble();
                assertEquals(1.0, std / refStd, 6 / Math.sqrt(n), what + " std " + std + " vs PyTorch's " + refStd);
                if (n >= 1000) {
                    assertEquals(r.get("kurtosis").asDouble(), kurt, 0.6, what + " kurtosis");
                    familyChecked++;
                }
                if (r.get("kurtosis").asDouble() < 2.4 && n >= 1000)  // uniform: both maxima are the bound within 20/n
                    assertEquals(1.0, maxAbs / r.get("max_abs").asDouble(), 20.0 / n, what + " max|x|");
            }
        }
        assertEquals(228, constants, "norm scales and zero biases");
        assertEquals(366, random, "random tensors");
        assertEquals(217, familyChecked, "tensors large enough to tell uniform from normal");
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void otherArchitecturesGetTheNamesAndShapesTheirSavedWeightsHave(String model, @TempDir Path tmp) throws IOException {
        // The tiny models were written by diffusers' and transformers' save_pretrained (1×1-conv projections in
        // SD 1.x, linear ones in SD 2.x, CLIP's full 49,408-token vocabulary).
        Path out = tmp.resolve("init");
        ModelInitializer.writeFolder(Fixtures.model(model), out, 3);
        DiffusersFolder real = DiffusersFolder.open(Fixtures.model(model)), fresh = DiffusersFolder.open(out);
        for (Part part : Part.values()) {
            SafeTensors a = real.weights(part.folder(), false), b = fresh.weights(part.folder(), false);
            assertEquals(new TreeSet<>(a.names()), new TreeSet<>(b.names()), model + " " + part);
            for (String name : a.names()) assertArrayEquals(a.tensor(name).shape(), b.tensor(name).shape(), model + " " + name);
        }
    }

    @Test
    void aFolderIsWrittenAsSavePretrainedWritesItAndTheSameSeedGivesTheSameBytes(@TempDir Path tmp) throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        ModelInitializer.writeFolder(CONFIG, a, 7);
        ModelInitializer.writeFolder(CONFIG, b, 7);
        for (String f : List.of("model_index.json", "scheduler/scheduler_config.json", "unet/config.json", "vae/config.json",
                "text_encoder/config.json", "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json",
                "tokenizer/special_tokens_map.json"))
            assertArrayEquals(Files.readAllBytes(CONFIG.resolve(f)), Files.readAllBytes(a.resolve(f)), f);
        for (Part part : Part.values()) {
            Path file = a.resolve(part.folder()).resolve(part.weightsFile());
            assertArrayEquals(Files.readAllBytes(file), Files.readAllBytes(b.resolve(part.folder()).resolve(part.weightsFile())),
                    part + ": same seed, same bytes");
            SafeTensors st = SafeTensors.open(file);
            assertEquals(Map.of("format", "pt"), st.metadata());
            // save_file's layout: all float32, so tensors lie in name order.
            assertEquals(st.names().stream().sorted().toList(),
                    st.names().stream().sorted(java.util.Comparator.comparingLong(n -> st.entry(n).begin())).toList());
        }
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of("a", "b"), left.map(p -> p.getFileName().toString()).sorted().toList(), "no temporaries left");
        }
        float[] seed7 = ModelInitializer.initialize(Part.UNET, config(CONFIG, Part.UNET), 7).get("conv_in.weight").toFloatArray();
        float[] seed8 = ModelInitializer.initialize(Part.UNET, config(CONFIG, Part.UNET), 8).get("conv_in.weight").toFloatArray();
        assertArrayEquals(SafeTensors.open(a.resolve("unet/diffusion_pytorch_model.safetensors")).tensor("conv_in.weight").toFloatArray(),
                seed7);
        assertFalse(Arrays.equals(seed7, seed8), "another seed, other weights");
    }

    @Test
    void refusesAnExistingOutputAMissingConfigAndATokenizerTooBigForTheEmbedding(@TempDir Path tmp) throws IOException {
        Path existing = Files.createDirectory(tmp.resolve("existing"));
        assertThrows(FileAlreadyExistsException.class, () -> ModelInitializer.writeFolder(CONFIG, existing, 0));

        Path broken = Fixtures.copyModel("tiny-sd15", tmp.resolve("broken"));
        Files.delete(broken.resolve("unet/config.json"));
        ModelFormatException missing = assertThrows(ModelFormatException.class,
                () -> ModelInitializer.writeFolder(broken, tmp.resolve("out1"), 0));
        assertTrue(missing.getMessage().contains("unet/config.json"), missing.getMessage());

        Path small = copyConfigs(tmp.resolve("small"));
        editTextConfig(small, o -> o.put("vocab_size", 8000));
        ModelFormatException vocab = assertThrows(ModelFormatException.class,
                () -> ModelInitializer.writeFolder(small, tmp.resolve("out2"), 0));
        assertTrue(vocab.getMessage().contains("vocab_size") && vocab.getMessage().contains("8513"), vocab.getMessage());

        Path wrongEos = copyConfigs(tmp.resolve("eos"));
        editTextConfig(wrongEos, o -> o.put("eos_token_id", 49407));
        ModelFormatException eos = assertThrows(ModelFormatException.class,
                () -> ModelInitializer.writeFolder(wrongEos, tmp.resolve("out3"), 0));
        assertTrue(eos.getMessage().contains("eos_token_id") && eos.getMessage().contains("8513"), eos.getMessage());

        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of("broken", "eos", "existing", "small"), left.map(p -> p.getFileName().toString()).sorted().toList(),
                    "nothing written for refused runs");
        }
    }

    private static Path copyConfigs(Path to) throws IOException {
        try (Stream<Path> files = Files.walk(CONFIG)) {
            for (Path p : files.toList()) {
                Path t = to.resolve(CONFIG.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(t);
                else Files.copy(p, t);
            }
        }
        return to;
    }

    private static void editTextConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        Path f = dir.resolve("text_encoder/config.json");
        PythonJson.write(f, JsonConfig.read(f).edited(edit).root());
    }

    private static double[] values(WeightTensor t) {
        double[] v = new double[Math.toIntExact(t.size())];
        for (int i = 0; i < v.length; i++) v[i] = t.getFloat(i);
        return v;
    }

    private static int[] ints(JsonNode arr) {
        int[] out = new int[arr.size()];
        for (int i = 0; i < out.length; i++) out[i] = arr.get(i).intValue();
        return out;
    }
}
