package dev.jdiffusion.io.adapters;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.TensorFiles;
import dev.jdiffusion.tensor.WeightTensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A LoRA file, read into its adapted layers (each a pair of low-rank matrices and an optional alpha) in either
 * layout people share:
 * <ul>
 *   <li>kohya / A1111 ({@code sd-scripts}, most LoRAs on model sites): {@code lora_unet_<path>} and
 *       {@code lora_te_<path>} with {@code .lora_down.weight}, {@code .lora_up.weight}, {@code .alpha}; the path is
 *       the diffusers module path with '.' written as '_' (SD 2.x text-encoder paths in the OpenCLIP form
 *       {@code model_transformer_resblocks_N_...} too);</li>
 *   <li>diffusers / PEFT: {@code unet.<path>.lora_A.weight} / {@code .lora_B.weight} and {@code text_encoder.<path>...}
 *       (also the older {@code .lora.down/.lora.up}, {@code .lora_linear_layer.down/up} and
 *       {@code processor.to_q_lora} spellings), no alpha (factor 1) unless an {@code .alpha} is stored.</li>
 * </ul>
 * Tensors stay mapped. Keys this reader does not understand are an error naming them: a LoRA is applied whole or
 * not at all.
 */
public final class LoraFile {
    public enum Part { TEXT_ENCODER, UNET }

    /**
     * One adapted layer.
     *
     * @param path        the module it adapts: a diffusers path ("down_blocks.0.resnets.0.conv1") or, when
     *                    {@code underscored}, the same path with every '.' written as '_' (kohya)
     * @param key         the file's name for the layer (its tensors' common prefix), for messages
     * @param down        (r, in[, kh, kw]): kohya lora_down, PEFT lora_A
     * @param up          (out, r[, 1, 1]): kohya lora_up, PEFT lora_B
     * @param alpha       kohya's alpha (null: alpha = r, factor 1)
     */
    public record Layer(Part part, String path, boolean underscored, String key, WeightTensor down, WeightTensor up, Float alpha) {
        public int rank() { return down.dim(0); }

        /** alpha / r, as kohya and A1111 scale the product. */
        public double alphaOverRank() { return alpha == null ? 1.0 : alpha / rank(); }
    }

    private static final Pattern KOHYA = Pattern.compile("(lora_unet_|lora_te_|lora_te1_|lora_te2_)([^.]+)\\.(.+)");
    private static final Pattern PEFT = Pattern.compile(
            "(?:(unet|text_encoder|text_encoder_2)\\.)?(.+?)\\.(lora_A\\.weight|lora_B\\.weight|lora\\.down\\.weight|lora\\.up\\.weight"
                    + "|lora_linear_layer\\.down\\.weight|lora_linear_layer\\.up\\.weight|lora_A\\.default\\.weight|lora_B\\.default\\.weight|alpha)");
    private static final Pattern OLD_PROCESSOR = Pattern.compile("(.+)\\.processor\\.(to_q|to_k|to_v|to_out)_lora\\.(down\\.weight|up\\.weight)");

    private final Path file;
    private final String format;
    private final List<Layer> layers;
    private final Map<String, String> metadata;

    private LoraFile(Path file, String format, List<Layer> layers, Map<String, String> metadata) {
        this.file = file;
        this.format = format;
        this.layers = layers;
        this.metadata = metadata;
    }

    public Path file() { return file; }

    /** "kohya" or "diffusers". */
    public String format() { return format; }

    public List<Layer> layers() { return layers; }

    /** The safetensors metadata (kohya writes its training settings there; empty for other formats). */
    public Map<String, String> metadata() { return metadata; }

    /** Reads and checks a LoRA file (.safetensors, or a torch .pt/.ckpt/.bin); problems are one ModelFormatException naming the file. */
    public static LoraFile open(Path file) {
        if (!Files.isRegularFile(file)) throw new ModelFormatException(file, null, "LoRA file not found");
        TensorFile f = TensorFiles.open(file);
        Map<String, String> metadata = f instanceof SafeTensors st ? st.metadata() : Map.of();
        boolean kohya = f.names().stream().anyMatch(n -> n.startsWith("lora_unet_") || n.startsWith("lora_te"));
        return kohya ? kohya(f, metadata) : diffusers(f, metadata);
    }

    private static final class Group {
        WeightTensor down, up;
        Float alpha;
    }

    private static LoraFile kohya(TensorFile f, Map<String, String> metadata) {
        Map<String, Group> groups = new LinkedHashMap<>();
        Map<String, Part> parts = new LinkedHashMap<>();
        List<String> unknown = new ArrayList<>();
        String unsupported = null;
        for (String name : f.names()) {
            Matcher m = KOHYA.matcher(name);
            if (!m.matches()) {
                unknown.add(name);
                continue;
            }
            String prefix = m.group(1), path = m.group(2), kind = m.group(3);
            if (prefix.equals("lora_te1_") || prefix.equals("lora_te2_"))
                throw new ModelFormatException(f.file(), name, "this is an SDXL LoRA (two text encoders, lora_te1_/lora_te2_):"
                        + " it does not fit SD 1.x/2.x models");
            String kindProblem = unsupportedKind(kind);
            if (kindProblem != null) {
                unsupported = unsupported == null ? name + ": " + kindProblem : unsupported;
                continue;
            }
            String key = prefix + path;
            Group g = groups.computeIfAbsent(key, k -> new Group());
            parts.put(key, prefix.equals("lora_unet_") ? Part.UNET : Part.TEXT_ENCODER);
            switch (kind) {
                case "lora_down.weight" -> g.down = f.tensor(name);
                case "lora_up.weight" -> g.up = f.tensor(name);
                case "alpha" -> g.alpha = alpha(f, name);
                default -> unknown.add(name);
            }
        }
        if (unsupported != null) throw new ModelFormatException(f.file(), null, unsupported);
        refuseUnknown(f, unknown);
        List<Layer> layers = new ArrayList<>();
        for (var e : groups.entrySet()) {
            String key = e.getKey();
            Part part = parts.get(key);
            String path = key.substring(part == Part.UNET ? "lora_unet_".length() : "lora_te_".length());
            layers.add(layer(f, part, path, true, key, e.getValue()));
        }
        return new LoraFile(f.file(), "kohya", List.copyOf(layers), metadata);
    }

    /** LyCORIS' other algorithms and DoRA: named, so the user knows what the file is. */
    private static String unsupportedKind(String kind) {
        if (kind.startsWith("hada_")) return "LoHa (LyCORIS) adapters are not supported, only LoRA/LoCon";
        if (kind.startsWith("lokr_")) return "LoKr (LyCORIS) adapters are not supported, only LoRA/LoCon";
        if (kind.equals("lora_mid.weight")) return "LoCon with CP decomposition (lora_mid) is not supported";
        if (kind.equals("dora_scale")) return "DoRA adapters (dora_scale) are not supported, only LoRA/LoCon";
        if (kind.equals("diff") || kind.equals("diff_b")) return "full-difference (LyCORIS 'full') adapters are not supported";
        if (kind.startsWith("oft_") || kind.equals("oft_blocks") || kind.startsWith("ia3")) return "OFT/IA3 adapters are not supported";
        return null;
    }

    private static LoraFile diffusers(TensorFile f, Map<String, String> metadata) {
        Map<String, Group> groups = new LinkedHashMap<>();
        Map<String, Part> parts = new LinkedHashMap<>();
        Map<String, String> paths = new LinkedHashMap<>();
        List<String> unknown = new ArrayList<>();
        for (String name : f.names()) {
            // The attention-processor spelling: <path>.processor.to_q_lora.down.weight is <path>.to_q.lora.down.weight.
            Matcher proc = OLD_PROCESSOR.matcher(name);
            String key0 = proc.matches() ? proc.group(1) + "." + (proc.group(2).equals("to_out") ? "to_out.0" : proc.group(2))
                    + ".lora." + proc.group(3) : name;
            Matcher m = PEFT.matcher(key0);
            if (!m.matches()) {
                unknown.add(name);
                continue;
            }
            String prefix = m.group(1), path = m.group(2), kind = m.group(3);
            if ("text_encoder_2".equals(prefix))
                throw new ModelFormatException(f.file(), name, "this is an SDXL LoRA (text_encoder_2): it does not fit SD 1.x/2.x models");
            Part part = "text_encoder".equals(prefix) || (prefix == null && path.startsWith("text_model.")) ? Part.TEXT_ENCODER : Part.UNET;
            String key = key0.substring(0, m.start(3) - 1);
            Group g = groups.computeIfAbsent(key, k -> new Group());
            parts.put(key, part);
            paths.put(key, path);
            if (kind.equals("alpha")) g.alpha = alpha(f, name);
            else if (kind.startsWith("lora_A") || kind.contains("down")) g.down = f.tensor(name);
            else g.up = f.tensor(name);
        }
        refuseUnknown(f, unknown);
        if (groups.isEmpty())
            throw new ModelFormatException(f.file(), null, "no LoRA tensors in this file");
        List<Layer> layers = new ArrayList<>();
        for (var e : groups.entrySet())
            layers.add(layer(f, parts.get(e.getKey()), paths.get(e.getKey()), false, e.getKey(), e.getValue()));
        return new LoraFile(f.file(), "diffusers", List.copyOf(layers), metadata);
    }

    private static void refuseUnknown(TensorFile f, List<String> unknown) {
        if (unknown.isEmpty()) return;
        throw new ModelFormatException(f.file(), null, unknown.size() + " tensor" + (unknown.size() == 1 ? " is" : "s are")
                + " not LoRA weights jdiffusion knows (" + String.join(", ", unknown.stream().limit(3).toList())
                + (unknown.size() > 3 ? ", ..." : "") + "): expected kohya names (lora_unet_*/lora_te_* with .lora_down.weight,"
                + " .lora_up.weight, .alpha) or diffusers/PEFT names (unet.*/text_encoder.* with .lora_A.weight, .lora_B.weight)");
    }

    private static Float alpha(TensorFile f, String name) {
        WeightTensor t = f.tensor(name);
        if (t.size() != 1) throw new ModelFormatException(f.file(), name, "alpha must be one number, found shape "
                + java.util.Arrays.toString(t.shape()));
        float a = t.getFloat(0);
        if (!Float.isFinite(a)) throw new ModelFormatException(f.file(), name, "alpha is not a finite number");
        return a;
    }

    private static Layer layer(TensorFile f, Part part, String path, boolean underscored, String key, Group g) {
        if (g.down == null || g.up == null)
            throw new ModelFormatException(f.file(), key, "the layer has " + (g.down == null ? "an up" : "a down")
                    + " matrix but no " + (g.down == null ? "down (lora_down / lora_A)" : "up (lora_up / lora_B)") + " matrix");
        int r = g.down.rank() == 0 ? 0 : g.down.dim(0);
        if (r < 1 || g.down.rank() < 2)
            throw new ModelFormatException(f.file(), g.down.name(), "the down matrix must be (rank, in...), found shape "
                    + java.util.Arrays.toString(g.down.shape()));
        if (g.up.rank() < 2 || g.up.dim(1) != r || g.up.size() != (long) g.up.dim(0) * r)
            throw new ModelFormatException(f.file(), g.up.name(), "the up matrix must be (out, " + r + "[, 1, 1]) to match"
                    + " the down matrix's rank " + r + ", found shape " + java.util.Arrays.toString(g.up.shape()));
        return new Layer(part, path, underscored, key, g.down, g.up, g.alpha);
    }

    @Override public String toString() { return "LoRA " + file + " (" + format + ", " + layers.size() + " layers)"; }
}
