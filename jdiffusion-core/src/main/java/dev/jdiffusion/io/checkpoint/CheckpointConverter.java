package dev.jdiffusion.io.checkpoint;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.PythonJson;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.SafeTensorsWriter.Entry;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Converts a Stable Diffusion 1.x / 2.x pipeline between its two common forms:
 * <ul>
 *   <li>a diffusers folder → one {@code .safetensors} file in the original layout, with the key names,
 *       shapes and tensor order that diffusers' {@code scripts/convert_diffusers_to_original_stable_diffusion.py}
 *       (0.30) writes, so that the web UIs and diffusers' {@code from_single_file} read it;</li>
 *   <li>a single-file checkpoint ({@code .safetensors} or {@code .ckpt}) → a diffusers folder as
 *       {@code save_pretrained} writes it (configs, tokenizer files, weights under diffusers' names).</li>
 * </ul>
 * The key maps are the loader's ({@link LdmKeyMaps}), run forwards or backwards. Tensors stream from the
 * mapped input to the output one buffer at a time, converted to float16 on the way when asked. The output
 * appears at once, by renaming a finished temporary file or folder beside it; a failure leaves nothing.
 */
public final class CheckpointConverter {
    /** The diffusers release whose layout is written (model_index.json's _diffusers_version). */
    static final String DIFFUSERS_VERSION = "0.30.0";
    /** What torch's safetensors writers put in the header; transformers refuses a model.safetensors without it. */
    private static final Map<String, String> METADATA = Map.of("format", "pt");
    private static final List<String> PARTS = List.of("unet", "vae", "text_encoder");
    private static final List<String> TENSOR_FILE_SUFFIXES = List.of(".safetensors", ".ckpt", ".pt", ".pth", ".bin");
    /** The VAE's mid-block attention projections: 1×1 convolutions in the original layout, Linear in diffusers'. */
    private static final Pattern LDM_VAE_ATTENTION_WEIGHT = Pattern.compile(".*\\.mid\\.attn_1\\.(q|k|v|proj_out)\\.weight");
    private static final Pattern VAE_ATTENTION_WEIGHT = Pattern.compile(".*mid_block\\.attentions\\.0\\.(to_q|to_k|to_v|to_out\\.0)\\.weight");

    private CheckpointConverter() {}

    /**
     * How to convert.
     *
     * @param half           write float16: F32, BF16 (and F64) tensors rounded to nearest even, as torch's
     *                       {@code .half()}; integer tensors are kept. Without it every tensor keeps its dtype.
     * @param overwrite      replace OUT when it exists (refused otherwise)
     * @param configDir      single file → folder only: a diffusers folder whose configs describe the
     *                       checkpoint (non-standard sizes); null for the built-in SD 1.5 / SD 2.1 configs
     * @param predictionType single file → folder only: the scheduler's prediction type; null to keep the config's
     */
    public record Options(boolean half, boolean overwrite, Path configDir, PredictionType predictionType) {
        public static final Options DEFAULTS = new Options(false, false, null, null);
    }

    /**
     * What a conversion wrote: the output, the model family it found, the number and bytes of tensors written.
     *
     * @param skipped the input's tensors that the output does not keep (EMA copies, training buffers,
     *                OpenCLIP's unused last layer and projection, ...), in the input's order
     */
    public record Result(Path output, ModelFamily family, int tensors, long bytes, List<String> skipped) {}

    /** Converts {@code in} (a diffusers folder or a single-file checkpoint) into the other form at {@code out}. */
    public static Result convert(Path in, Path out, Options options) throws IOException {
        checkArguments(in, out, options);
        return Files.isDirectory(in) ? toSingleFile(in, out, options) : toDiffusers(in, out, options);
    }

    /**
     * What can be told before reading any tensor: IN is a diffusers folder or a file, OUT has the form
     * the conversion writes (a .safetensors file, or a folder), OUT is not there unless overwriting.
     */
    public static void checkArguments(Path in, Path out, Options options) {
        String outName = out.getFileName() == null ? "" : out.getFileName().toString().toLowerCase(Locale.ROOT);
        if (Files.isDirectory(in)) {
            if (!Files.isRegularFile(in.resolve("model_index.json")))
                throw new ModelFormatException(in, null, "neither a diffusers folder (it has no model_index.json)"
                        + " nor a checkpoint file (.safetensors, .ckpt)");
            if (options.configDir() != null || options.predictionType() != null)
                throw new IllegalArgumentException("--config and --prediction-type apply to single-file checkpoints; "
                        + in + " is a diffusers folder, which has its own configs");
            if (!outName.endsWith(".safetensors"))
                throw new ModelFormatException(out, null, "a diffusers folder is converted into one .safetensors file:"
                        + " the output's name must end in .safetensors" + (outName.endsWith(".ckpt")
                        ? " (pickled .ckpt files are not written: any program that reads them can run code)" : ""));
            checkTarget(out, options.overwrite(), false);
        } else {
            if (!Files.isRegularFile(in))
                throw new ModelFormatException(in, null, "not found: expected a diffusers folder or a checkpoint file (.safetensors, .ckpt)");
            for (String suffix : TENSOR_FILE_SUFFIXES)
                if (outName.endsWith(suffix))
                    throw new ModelFormatException(out, null, "a single-file checkpoint is converted into a diffusers"
                            + " folder: the output must be a folder name, not a " + suffix + " file");
            checkTarget(out, options.overwrite(), true);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // diffusers folder → single file

    /** A diffusers folder → one .safetensors file in the original layout. */
    public static Result toSingleFile(Path folder, Path out, Options options) throws IOException {
        checkArguments(folder, out, options);
        DiffusersFolder f = DiffusersFolder.open(folder);
        if (f.modelIndex().has("text_encoder_2"))
            throw new ModelFormatException(f.modelIndex().file(), "text_encoder_2", "a Stable Diffusion XL pipeline"
                    + " (two text encoders), which is not supported (yet): jdiffusion converts Stable Diffusion 1.x and 2.x");
        JsonConfig text = f.config("text_encoder");
        ModelFamily family = familyOf(text);
        Map<String, KeyMap> maps = Map.of(
                "unet", LdmKeyMaps.unet(f.config("unet")),
                "vae", LdmKeyMaps.vaeForExport(f.config("vae")),
                "text_encoder", family == ModelFamily.SD2 ? LdmKeyMaps.openClip(text) : LdmKeyMaps.clipForExport());
        List<Entry> entries = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        for (String part : PARTS)
            entries.addAll(toOriginalLayout(f.weights(part, false), maps.get(part), part, options.half(), skipped));
        Path tmp = tempSibling(out);
        try {
            SafeTensorsWriter.write(tmp, SafeTensorsWriter.inSaveFileOrder(entries), METADATA);
            commit(tmp, out, options.overwrite(), false);
        } finally {
            deleteTree(tmp);
        }
        return new Result(out, family, entries.size(), entries.stream().mapToLong(Entry::byteSize).sum(), skipped);
    }

    /**
     * The SD generation of a diffusers folder, from its text encoder: OpenCLIP ViT-H (SD 2.x) uses GELU,
     * OpenAI's CLIP ViT-L (SD 1.x) quick GELU. (The export script asks whether a 23rd layer exists, which
     * tells the same for the published models, but not for smaller ones.)
     */
    static ModelFamily familyOf(JsonConfig textEncoder) {
        String act = textEncoder.getString("hidden_act", "quick_gelu");
        return switch (act) {
            case "quick_gelu" -> ModelFamily.SD1;
            case "gelu" -> ModelFamily.SD2;
            default -> throw new ModelFormatException(textEncoder.file(), "hidden_act", "'" + act + "' is neither CLIP"
                    + " ViT-L's quick_gelu (Stable Diffusion 1.x) nor OpenCLIP ViT-H's gelu (2.x): cannot tell the"
                    + " original layout of this text encoder");
        };
    }

    /** One part's tensors under their original-layout keys; q, k and v of OpenCLIP are fused on the way. */
    static List<Entry> toOriginalLayout(SafeTensors file, KeyMap map, String part, boolean half, List<String> skipped) {
        Map<String, WeightTensor[]> byKey = new LinkedHashMap<>();
        Map<String, String[]> namesByKey = new LinkedHashMap<>();
        for (String name : file.names()) {
            KeyMap.Ref ref = map.resolve(name);
            if (ref == null && name.endsWith("position_ids")) {
                // A buffer (0, 1, ..., 76) that old transformers versions saved; OpenCLIP has no place for it.
                skipped.add(name);
                continue;
            }
            if (ref == null)
                throw new ModelFormatException(file.file(), name, "the original Stable Diffusion layout has no place for"
                        + " this tensor: is this the " + part + " of a Stable Diffusion 1.x or 2.x pipeline?");
            WeightTensor[] pieces = byKey.computeIfAbsent(ref.key(), k -> new WeightTensor[ref.parts()]);
            String[] names = namesByKey.computeIfAbsent(ref.key(), k -> new String[ref.parts()]);
            if (pieces[ref.part()] != null)
                throw new ModelFormatException(file.file(), name, "holds the same weights as '" + names[ref.part()]
                        + "' (both are " + ref.key() + " in the original layout): keep one of them");
            pieces[ref.part()] = file.tensor(name);
            names[ref.part()] = name;
        }
        List<Entry> entries = new ArrayList<>();
        for (var e : byKey.entrySet()) {
            String key = e.getKey();
            WeightTensor[] pieces = e.getValue();
            WeightTensor first = null;
            for (int i = 0; i < pieces.length; i++) {
                if (pieces[i] == null) {
                    int index = i;
                    String missing = map.invert(key).stream().filter(h -> h.part() == index).map(KeyMap.Held::name)
                            .findFirst().orElse("part " + i + " of " + key);
                    throw new ModelFormatException(file.file(), missing, "tensor is missing: " + key + " of the original"
                            + " layout fuses it with " + String.join(" and ", Stream.of(namesByKey.get(key))
                            .filter(n -> n != null).toList()));
                }
                if (first == null) first = pieces[i];
                else if (!Arrays.equals(first.shape(), pieces[i].shape()) || first.dtype() != pieces[i].dtype())
                    throw new ModelFormatException(file.file(), pieces[i].name(), "is " + pieces[i] + " but '"
                            + first.name() + "', fused with it into " + key + ", is " + first);
            }
            int[] shape = first.shape();
            shape[0] *= pieces.length;
            if (LDM_VAE_ATTENTION_WEIGHT.matcher(key).matches() && shape.length == 2)
                shape = new int[]{shape[0], shape[1], 1, 1};
            entries.add(new Entry(key, storedType(first.dtype(), half), shape, List.of(pieces)));
        }
        return entries;
    }

    // ---------------------------------------------------------------------------------------------
    // single file → diffusers folder

    /** A single-file checkpoint (.safetensors or .ckpt) → a diffusers folder. */
    public static Result toDiffusers(Path checkpoint, Path out, Options options) throws IOException {
        checkArguments(checkpoint, out, options);
        SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(checkpoint, options.configDir(), options.predictionType());
        List<String> skipped = new ArrayList<>();
        Map<String, List<Entry>> parts = toDiffusersLayout(ckpt, options.half(), skipped);
        Path tmp = tempSibling(out);
        try {
            Files.createDirectory(tmp);
            PythonJson.write(tmp.resolve("model_index.json"), modelIndex(ckpt.schedulerConfig()));
            for (String part : PARTS) {
                Path dir = Files.createDirectory(tmp.resolve(part));
                ObjectNode config = withoutComments(ckpt.config(part));
                if (part.equals("text_encoder") && options.half()) config.put("torch_dtype", "float16");
                PythonJson.write(dir.resolve("config.json"), config);
                String weightsFile = part.equals("text_encoder") ? "model.safetensors" : "diffusion_pytorch_model.safetensors";
                SafeTensorsWriter.write(dir.resolve(weightsFile), SafeTensorsWriter.inSaveFileOrder(parts.get(part)), METADATA);
            }
            Path scheduler = Files.createDirectory(tmp.resolve("scheduler"));
            PythonJson.write(scheduler.resolve("scheduler_config.json"), withoutComments(ckpt.schedulerConfig()));
            Path tokenizer = Files.createDirectory(tmp.resolve("tokenizer"));
            try (var files = Files.list(ckpt.tokenizerDir())) {
                for (Path p : files.filter(Files::isRegularFile).sorted().toList())
                    Files.copy(p, tokenizer.resolve(p.getFileName().toString()));
            }
            commit(tmp, out, options.overwrite(), true);
        } finally {
            deleteTree(tmp);
        }
        int count = parts.values().stream().mapToInt(List::size).sum();
        long bytes = parts.values().stream().flatMap(List::stream).mapToLong(Entry::byteSize).sum();
        return new Result(out, ckpt.family(), count, bytes, skipped);
    }

    /** Each part's tensors under diffusers' names, as views of the checkpoint (slices of fused q/k/v). */
    static Map<String, List<Entry>> toDiffusersLayout(SingleFileCheckpoint ckpt, boolean half, List<String> skipped) {
        TensorFile file = ckpt.file();
        Map<String, List<Entry>> parts = new LinkedHashMap<>();
        Set<String> used = new HashSet<>();
        for (String part : PARTS) {
            MappedWeights weights = ckpt.mappedWeights(part);
            List<Entry> entries = new ArrayList<>();
            for (String key : file.names()) {
                for (KeyMap.Held held : weights.invert(key)) {
                    if (held.name().endsWith("position_ids")) continue;  // a buffer that transformers no longer saves
                    used.add(key);
                    WeightTensor t = weights.get(held.name());
                    int[] shape = t.shape();
                    if (part.equals("vae") && VAE_ATTENTION_WEIGHT.matcher(held.name()).matches() && shape.length == 4)
                        shape = new int[]{shape[0], shape[1]};
                    entries.add(new Entry(held.name(), storedType(t.dtype(), half), shape, List.of(t)));
                }
            }
            if (entries.isEmpty())
                throw new ModelFormatException(file.file(), null, "holds no " + part + " (no tensor under "
                        + originalPrefix(ckpt, part) + "): a diffusers folder needs the UNet, the VAE and the text encoder");
            parts.put(part, entries);
        }
        for (String key : file.names()) if (!used.contains(key)) skipped.add(key);
        return parts;
    }

    private static String originalPrefix(SingleFileCheckpoint ckpt, String part) {
        return switch (part) {
            case "unet" -> LdmKeyMaps.UNET_PREFIX;
            case "vae" -> LdmKeyMaps.VAE_PREFIXES.getFirst();
            default -> ckpt.family() == ModelFamily.SD2 ? LdmKeyMaps.OPEN_CLIP_PREFIX : LdmKeyMaps.CLIP_PREFIX;
        };
    }

    /** model_index.json as save_pretrained writes it for a StableDiffusionPipeline without safety checker. */
    private static ObjectNode modelIndex(JsonConfig scheduler) {
        ObjectNode index = JsonNodeFactory.instance.objectNode();
        index.put("_class_name", "StableDiffusionPipeline");
        index.put("_diffusers_version", DIFFUSERS_VERSION);
        for (String absent : List.of("feature_extractor", "image_encoder", "safety_checker"))
            index.putArray(absent).addNull().addNull();
        index.put("requires_safety_checker", false);
        index.putArray("scheduler").add("diffusers").add(scheduler.getString("_class_name"));
        index.putArray("text_encoder").add("transformers").add("CLIPTextModel");
        index.putArray("tokenizer").add("transformers").add("CLIPTokenizer");
        index.putArray("unet").add("diffusers").add("UNet2DConditionModel");
        index.putArray("vae").add("diffusers").add("AutoencoderKL");
        return index;
    }

    /** The config's JSON without jdiffusion's own notes (the built-in configs say where they come from). */
    private static ObjectNode withoutComments(JsonConfig config) {
        ObjectNode copy = ((ObjectNode) config.root()).deepCopy();
        copy.remove("_comment");
        return copy;
    }

    // ---------------------------------------------------------------------------------------------

    private static DType storedType(DType source, boolean half) {
        return half && source.isFloatingPoint() ? DType.F16 : source;
    }

    private static void checkTarget(Path out, boolean overwrite, boolean folder) {
        if (!Files.exists(out)) return;
        if (!overwrite) throw new ModelFormatException(out, null, "already exists (give --overwrite to replace it)");
        if (folder && !Files.isDirectory(out))
            throw new ModelFormatException(out, null, "exists and is not a folder: the diffusers folder cannot replace it");
        if (!folder && Files.isDirectory(out))
            throw new ModelFormatException(out, null, "is a folder: the single file cannot replace it");
    }

    /** A name beside {@code out}, on the same file system, so that the finished output is renamed into place. */
    private static Path tempSibling(Path out) throws IOException {
        Files.createDirectories(out.toAbsolutePath().getParent());
        return SafeTensorsWriter.temporarySibling(out);
    }

    /**
     * Moves the finished {@code tmp} onto {@code out} in one rename. A folder being overwritten is moved
     * aside first (a rename cannot replace a folder that has files) and deleted once the new one is in place.
     */
    private static void commit(Path tmp, Path out, boolean overwrite, boolean folder) throws IOException {
        checkTarget(out, overwrite, folder);
        if (folder && Files.isDirectory(out)) {
            Path old = tempSibling(out);
            Files.move(out, old, StandardCopyOption.ATOMIC_MOVE);
            try {
                Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                Files.move(old, out, StandardCopyOption.ATOMIC_MOVE);
                throw e;
            }
            deleteTree(old);
        } else {
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteTree(Path path) throws IOException {
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> all = Files.walk(path)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
