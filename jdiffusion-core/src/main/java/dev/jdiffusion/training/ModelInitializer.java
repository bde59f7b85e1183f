package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.clip.ClipTokenizer;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.schedulers.TorchGenerator;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Fresh weights for a model trained from scratch, initialised as PyTorch builds the models: diffusers'
 * UNet2DConditionModel and AutoencoderKL keep torch's defaults (Linear and Conv2d weights kaiming_uniform(a=√5),
 * that is U(±1/√fan_in), biases U(±1/√fan_in) of the same fan-in; GroupNorm/LayerNorm weight 1, bias 0), and
 * transformers' CLIPTextModel applies {@code CLIPPreTrainedModel._init_weights} (normal token and position
 * embeddings of std 0.02·f, q/k/v and fc2 std d^-0.5·(2L)^-0.5·f, out_proj d^-0.5·f, fc1 (2d)^-0.5·f, zero Linear
 * biases, unit LayerNorms; f = initializer_factor). Tensor names, shapes and dtype (float32) are those
 * {@code save_pretrained} writes; the tensors are asked for by jdiffusion's own model classes, so a folder
 * written here always loads.
 *
 * <p>Deterministic: each tensor draws from its own {@link TorchGenerator} seeded from the seed, the part and the
 * tensor's name, so the same seed gives the same bytes, and changing one part's config leaves the others as
 * they were. (The values are distributed as PyTorch's, not drawn in PyTorch's order: torch.manual_seed(S) in
 * Python gives other numbers.)
 */
public final class ModelInitializer {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final SecureRandom TEMP_NAMES = new SecureRandom();

    /** The model parts with weights, their folder and file names in a diffusers folder. */
    public enum Part {
        TEXT_ENCODER("text_encoder", "model.safetensors"),
        UNET("unet", "diffusion_pytorch_model.safetensors"),
        VAE("vae", "diffusion_pytorch_model.safetensors");

        private final String folder, weightsFile;

        Part(String folder, String weightsFile) {
            this.folder = folder;
            this.weightsFile = weightsFile;
        }

        public String folder() { return folder; }

        public String weightsFile() { return weightsFile; }
    }

    private ModelInitializer() {}

    /**
     * Fresh float32 weights of one part, by diffusers' tensor name (sorted), off the Java heap.
     *
     * @param config the part's config.json
     */
    public static SortedMap<String, WeightTensor> initialize(Part part, JsonConfig config, long seed) {
        SortedMap<String, int[]> shapes = shapes(part, config);
        Rule rule = part == Part.TEXT_ENCODER ? new ClipRule(ClipTextConfig.from(config), config) : new TorchDefaultRule();
        SortedMap<String, WeightTensor> out = new TreeMap<>();
        for (Map.Entry<String, int[]> e : shapes.entrySet())
            out.put(e.getKey(), make(part, e.getKey(), e.getValue(), rule.init(e.getKey(), e.getValue(), shapes), seed));
        return out;
    }

    /** The tensors a part's config implies, by diffusers' name (sorted), with the shapes save_pretrained gives them. */
    public static SortedMap<String, int[]> shapes(Part part, JsonConfig config) {
        Recorder recorder = new Recorder(part, config);
        switch (part) {
            case TEXT_ENCODER -> new ClipTextModel(ClipTextConfig.from(config), recorder);
            case UNET -> new UNet2DConditionModel(UNet2DConditionConfig.from(config), recorder);
            case VAE -> new AutoencoderKL(AutoencoderKLConfig.from(config), recorder);
        }
        return recorder.shapes;
    }

    /**
     * Writes a complete diffusers folder at {@code output}: model_index.json, every part's config and the
     * tokenizer copied from {@code configDir} (a diffusers folder without weights), and freshly initialised
     * weights. The folder appears whole or not at all (written beside {@code output}, then renamed); an
     * existing {@code output} is refused. The tokenizer must fit the text encoder (vocab_size, bos and eos ids).
     */
    public static void writeFolder(Path configDir, Path output, long seed) throws IOException {
        for (String f : List.of("model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                "unet/config.json", "vae/config.json", "tokenizer/vocab.json", "tokenizer/merges.txt"))
            if (!Files.isRegularFile(configDir.resolve(f)))
                throw new ModelFormatException(configDir.resolve(f), null, "file not found (--config must be a diffusers "
                        + "folder with configs and a tokenizer)");
        Map<Part, JsonConfig> configs = new LinkedHashMap<>();
        for (Part p : Part.values()) configs.put(p, JsonConfig.read(configDir.resolve(p.folder()).resolve("config.json")));
        checkTokenizerFits(configDir.resolve("tokenizer"), configs.get(Part.TEXT_ENCODER));
        if (Files.exists(output)) throw new FileAlreadyExistsException(output + ": already exists (init-model writes a new folder)");

        Path abs = output.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        Path tmp = abs.resolveSibling("." + abs.getFileName() + "." + Long.toHexString(TEMP_NAMES.nextLong() >>> 16) + ".tmp");
        try {
            Files.createDirectory(tmp);
            copyConfigs(configDir, tmp);
            for (Part p : Part.values()) {
                SortedMap<String, WeightTensor> tensors = initialize(p, configs.get(p), seed);
                List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
                tensors.forEach((name, t) -> entries.add(SafeTensorsWriter.Entry.of(name, t)));
                SafeTensorsWriter.write(tmp.resolve(p.folder()).resolve(p.weightsFile()),
                        SafeTensorsWriter.inSaveFileOrder(entries), Map.of("format", "pt"));
            }
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            deleteTree(tmp);
        }
    }

    /** The tokenizer's ids must exist in the text encoder's embedding, and its bos/eos be the config's. */
    static void checkTokenizerFits(Path tokenizerDir, JsonConfig textConfig) {
        ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerDir);
        int highest = -1;
        for (JsonNode id : JsonConfig.read(tokenizerDir.resolve("vocab.json")).root()) highest = Math.max(highest, id.intValue());
        highest = Math.max(highest, Math.max(tokenizer.bosId(), Math.max(tokenizer.eosId(), tokenizer.padId())));
        int vocabSize = ClipTextConfig.from(textConfig).vocabSize();
        if (highest >= vocabSize)
            throw new ModelFormatException(textConfig.file(), "vocab_size", vocabSize + " is too small for the tokenizer in "
                    + tokenizerDir + ", whose ids reach " + highest);
        // SD's own configs carry transformers' legacy bos 0 / eos 2, which the text encoder reads as "highest id".
        boolean legacy = textConfig.getInt("eos_token_id", 2) == 2;
        if (!legacy && textConfig.getInt("eos_token_id") != tokenizer.eosId())
            throw new ModelFormatException(textConfig.file(), "eos_token_id", "is " + textConfig.getInt("eos_token_id")
                    + " but the tokenizer's end-of-text token has id " + tokenizer.eosId());
        if (!legacy && textConfig.has("bos_token_id") && textConfig.getInt("bos_token_id") != tokenizer.bosId())
            throw new ModelFormatException(textConfig.file(), "bos_token_id", "is " + textConfig.getInt("bos_token_id")
                    + " but the tokenizer's start-of-text token has id " + tokenizer.bosId());
    }

    /** How one tensor starts: uniform in ±bound, normal with a std, or a constant. */
    record Init(Kind kind, double scale) {
        enum Kind { UNIFORM, NORMAL, CONSTANT }

        static Init uniform(double bound) { return new Init(Kind.UNIFORM, bound); }

        static Init normal(double std) { return new Init(Kind.NORMAL, std); }

        static Init constant(double value) { return new Init(Kind.CONSTANT, value); }
    }

    interface Rule {
        Init init(String name, int[] shape, Map<String, int[]> all);
    }

    /**
     * torch's defaults, as diffusers' models keep them: a tensor of rank ≥ 2 is a Linear or Conv2d weight, U(±1/√fan_in)
     * (kaiming_uniform with a = √5); its module's bias the same bound; a rank-1 weight belongs to a norm: 1, bias 0.
     */
    static final class TorchDefaultRule implements Rule {
        @Override
        public Init init(String name, int[] shape, Map<String, int[]> all) {
            if (name.endsWith(".weight")) return shape.length >= 2 ? Init.uniform(1 / Math.sqrt(fanIn(shape))) : Init.constant(1);
            if (name.endsWith(".bias")) {
                int[] weight = all.get(name.substring(0, name.length() - ".bias".length()) + ".weight");
                if (weight == null) throw new IllegalStateException(name + ": a bias without a weight");
                return weight.length >= 2 ? Init.uniform(1 / Math.sqrt(fanIn(weight))) : Init.constant(0);
            }
            throw new IllegalStateException(name + ": neither a weight nor a bias");
        }

        private static long fanIn(int[] shape) {
            long n = 1;
            for (int i = 1; i < shape.length; i++) n *= shape[i];
            return n;
        }
    }

    /** transformers' CLIPPreTrainedModel._init_weights for a CLIPTextModel. */
    static final class ClipRule implements Rule {
        private final double factor, d, layers;

        ClipRule(ClipTextConfig c, JsonConfig json) {
            this.factor = json.getDouble("initializer_factor", 1.0);
            this.d = c.hiddenSize();
            this.layers = c.numHiddenLayers();
        }

        @Override
        public Init init(String name, int[] shape, Map<String, int[]> all) {
            if (name.endsWith("token_embedding.weight") || name.endsWith("position_embedding.weight"))
                return Init.normal(0.02 * factor);
            double inProj = Math.pow(d, -0.5) * Math.pow(2 * layers, -0.5) * factor;
            if (name.endsWith("_proj.weight"))
                return Init.normal(name.endsWith("out_proj.weight") ? Math.pow(d, -0.5) * factor : inProj);
            if (name.endsWith("mlp.fc1.weight")) return Init.normal(Math.pow(2 * d, -0.5) * factor);
            if (name.endsWith("mlp.fc2.weight")) return Init.normal(inProj);
            if (name.endsWith(".bias")) return Init.constant(0);  // Linear biases and LayerNorm biases
            if (name.endsWith(".weight") && shape.length == 1) return Init.constant(1);  // LayerNorm
            throw new IllegalStateException(name + ": no CLIP initialisation rule");
        }
    }

    private static WeightTensor make(Part part, String name, int[] shape, Init init, long seed) {
        long n = 1;
        for (int d : shape) n *= d;
        MemorySegment seg = Arena.ofAuto().allocate(n * 4, 8);
        if (init.kind() == Init.Kind.CONSTANT) {
            for (long i = 0; i < n; i++) seg.setAtIndex(F32, i, (float) init.scale());
        } else {
            TorchGenerator g = new TorchGenerator(tensorSeed(seed, part, name));
            int count = Math.toIntExact(n);
            if (init.kind() == Init.Kind.NORMAL) {
                float[] v = g.randn(count);
                float std = (float) init.scale();
                for (int i = 0; i < count; i++) seg.setAtIndex(F32, i, v[i] * std);
            } else {
                // torch's uniform_(-b, b): u·(to − from) + from with u in [0, 1), computed in double, stored as float.
                float[] u = g.rand(count);
                double b = init.scale();
                for (int i = 0; i < count; i++) seg.setAtIndex(F32, i, (float) (u[i] * (2 * b) - b));
            }
        }
        return new WeightTensor(name, DType.F32, shape, seg);
    }

    /** SplitMix64 of the seed mixed with the FNV-1a hash of "part/name": one independent stream per tensor. */
    static long tensorSeed(long seed, Part part, String name) {
        long h = 0xcbf29ce484222325L;
        for (byte b : (part.folder() + "/" + name).getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        long z = seed + 0x9E3779B97F4A7C15L * (h | 1);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (z ^ (z >>> 31)) & Long.MAX_VALUE;  // TorchGenerator takes the seeds torch.manual_seed takes
    }

    /**
     * Records the name and shape of every tensor the model classes ask for. Linear layers ask for the rank first:
     * it is 4 where diffusers uses a 1×1 Conv2d (ResnetBlock2D's conv_shortcut, the VAE's quant_conv and
     * post_quant_conv, Transformer2DModel's proj_in/proj_out unless use_linear_projection), else 2.
     */
    private static final class Recorder implements WeightSource {
        final SortedMap<String, int[]> shapes = new TreeMap<>();
        private final boolean convProjections;
        private final Part part;
        private MemorySegment zeros = MemorySegment.ofArray(new byte[0]);

        Recorder(Part part, JsonConfig config) {
            this.part = part;
            this.convProjections = part == Part.UNET && !config.getBoolean("use_linear_projection", false);
        }

        @Override
        public WeightTensor get(String name) { throw new IllegalStateException("shape needed for " + name); }

        @Override
        public WeightTensor get(String name, int... shape) {
            int[] previous = shapes.putIfAbsent(name, shape.clone());
            if (previous != null && !Arrays.equals(previous, shape))
                throw new IllegalStateException(name + " asked for as " + Arrays.toString(previous) + " and " + Arrays.toString(shape));
            // The model classes may read a few small vectors while they are built: all get views of one zero segment.
            long bytes = sizeOf(shape) * 4;
            if (zeros.byteSize() < bytes) zeros = Arena.ofAuto().allocate(bytes, 8);
            return new WeightTensor(name, DType.F32, shape, zeros.asSlice(0, bytes));
        }

        private static long sizeOf(int[] shape) {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        @Override
        public int rank(String name) {
            boolean conv = name.endsWith("conv_shortcut.weight") || name.equals("quant_conv.weight")
                    || name.equals("post_quant_conv.weight")
                    || (convProjections && (name.endsWith("proj_in.weight") || name.endsWith("proj_out.weight")));
            return conv ? 4 : 2;
        }

        @Override
        public boolean contains(String name) { return true; }

        @Override
        public String describe() { return "fresh " + part.folder() + " weights"; }
    }

    /** The configs and the tokenizer of a diffusers folder (never weights). */
    private static void copyConfigs(Path from, Path to) throws IOException {
        List<Path> files = new ArrayList<>(List.of(Path.of("model_index.json"), Path.of("scheduler", "scheduler_config.json")));
        for (Part p : Part.values()) files.add(Path.of(p.folder(), "config.json"));
        try (Stream<Path> tokenizer = Files.list(from.resolve("tokenizer"))) {
            tokenizer.filter(Files::isRegularFile).forEach(f -> files.add(Path.of("tokenizer", f.getFileName().toString())));
        }
        for (Path f : files) {
            Files.createDirectories(to.resolve(f).getParent());
            Files.copy(from.resolve(f), to.resolve(f));
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
