package dev.jdiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A pipeline saved in diffusers' folder layout: {@code model_index.json} names the parts, each part
 * is a sub-folder with its {@code config.json} (or {@code scheduler_config.json}) and weights.
 */
public final class DiffusersFolder {
    /** The classes each part may have; anything else is refused with a message naming it. */
    private static final Map<String, List<String>> KNOWN_CLASSES = Map.of(
            "unet", List.of("UNet2DConditionModel"),
            "vae", List.of("AutoencoderKL"),
            "text_encoder", List.of("CLIPTextModel"),
            "tokenizer", List.of("CLIPTokenizer", "CLIPTokenizerFast"));

    private final Path root;
    private final JsonConfig index;

    private DiffusersFolder(Path root, JsonConfig index) {
        this.root = root;
        this.index = index;
    }

    /** Opens a folder; a clear error when it is missing or is not a diffusers pipeline folder. */
    public static DiffusersFolder open(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir, null, "model folder not found");
        Path indexFile = dir.resolve("model_index.json");
        if (!Files.isRegularFile(indexFile))
            throw new ModelFormatException(dir, null, "not a diffusers model folder: model_index.json is missing");
        JsonConfig index = JsonConfig.read(indexFile);
        for (var e : KNOWN_CLASSES.entrySet()) {
            JsonNode entry = index.root().get(e.getKey());
            if (entry == null || !entry.isArray() || entry.size() != 2 || entry.get(1).isNull())
                throw new ModelFormatException(indexFile, e.getKey(), "the pipeline has no " + e.getKey()
                        + " (expected [\"library\", \"ClassName\"])");
            String cls = entry.get(1).asText();
            if (!e.getValue().contains(cls))
                throw new ModelFormatException(indexFile, e.getKey(), "unsupported class " + cls
                        + " (supported: " + String.join(", ", e.getValue()) + ")");
        }
        return new DiffusersFolder(dir, index);
    }

    public Path root() { return root; }

    public JsonConfig modelIndex() { return index; }

    public Path part(String name) { return root.resolve(name); }

    /** The part's config.json. */
    public JsonConfig config(String part) { return JsonConfig.read(part(part).resolve("config.json")); }

    /** The scheduler's scheduler_config.json. */
    public JsonConfig schedulerConfig() { return JsonConfig.read(part("scheduler").resolve("scheduler_config.json")); }

    /**
     * The part's weights: {@code diffusion_pytorch_model.safetensors} (diffusers parts) or
     * {@code model.safetensors} (transformers parts), preferring the fp16 variant only when asked.
     */
    public SafeTensors weights(String part, boolean preferFp16) {
        Path dir = part(part);
        List<String> names = preferFp16
                ? List.of("diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors",
                          "diffusion_pytorch_model.safetensors", "model.safetensors")
                : List.of("diffusion_pytorch_model.safetensors", "model.safetensors",
                          "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors");
        for (String n : names) if (Files.isRegularFile(dir.resolve(n))) return SafeTensors.open(dir.resolve(n));
        throw new ModelFormatException(dir, null, "no weights found (expected one of " + String.join(", ", names)
                + "; .bin/.ckpt weights are not read: convert them to safetensors)");
    }
}
