package dev.jdiffusion.models.clip;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.tensor.Activations;

/**
 * transformers' CLIPVisionConfig: the vision tower's fields, with transformers' defaults for those a
 * config.json leaves out (save_pretrained writes only the non-default ones of a nested vision_config).
 */
public record ClipVisionConfig(
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numChannels,
        int imageSize,
        int patchSize,
        Activations.Kind hiddenAct,
        double layerNormEps) {

    /** Patches per side: image_size // patch_size. */
    public int gridSize() { return imageSize / patchSize; }

    /** Tokens the encoder sees: one per patch plus the class token. */
    public int numPositions() { return gridSize() * gridSize() + 1; }

    /** A CLIPVisionConfig's own config.json (model_type clip_vision_model). */
    public static ClipVisionConfig from(JsonConfig c) { return read(c, c.root(), ""); }

    /** The {@code vision_config} of a CLIPConfig (a safety checker's or a CLIPModel's config.json). */
    public static ClipVisionConfig fromClipConfig(JsonConfig c) {
        JsonNode v = c.root().get("vision_config");
        if (v == null || v.isNull()) v = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();   // all defaults, as transformers does
        if (!v.isObject()) throw new ModelFormatException(c.file(), "vision_config", "expected an object but found " + v);
        return read(c, v, "vision_config.");
    }

    private static ClipVisionConfig read(JsonConfig c, JsonNode node, String prefix) {
        Fields f = new Fields(c, node, prefix);
        String act = f.string("hidden_act", "quick_gelu");
        Activations.Kind kind = switch (act) {
            case "quick_gelu" -> Activations.Kind.QUICK_GELU;
            case "gelu" -> Activations.Kind.GELU;
            default -> throw new ModelFormatException(c.file(), prefix + "hidden_act",
                    "unsupported value '" + act + "' (supported: quick_gelu, gelu)");
        };
        ClipVisionConfig cfg = new ClipVisionConfig(
                f.positive("hidden_size", 768), f.positive("intermediate_size", 3072),
                f.positive("num_hidden_layers", 12), f.positive("num_attention_heads", 12),
                f.positive("num_channels", 3), f.positive("image_size", 224), f.positive("patch_size", 32),
                kind, f.number("layer_norm_eps", 1e-5));
        if (cfg.hiddenSize % cfg.numAttentionHeads != 0)
            throw new ModelFormatException(c.file(), prefix + "num_attention_heads",
                    cfg.numAttentionHeads + " heads do not divide hidden_size " + cfg.hiddenSize);
        if (cfg.patchSize > cfg.imageSize)
            throw new ModelFormatException(c.file(), prefix + "patch_size",
                    "patch_size " + cfg.patchSize + " exceeds image_size " + cfg.imageSize);
        return cfg;
    }

    /** Typed reads of one JSON object, errors naming the file and the key under its prefix. */
    private record Fields(JsonConfig c, JsonNode node, String prefix) {
        private JsonNode get(String key) {
            JsonNode v = node.get(key);
            return v == null || v.isNull() ? null : v;
        }

        int positive(String key, int fallback) {
            JsonNode v = get(key);
            if (v == null) return fallback;
            if (!v.isIntegralNumber() || v.asInt() <= 0)
                throw new ModelFormatException(c.file(), prefix + key, "expected a positive integer but found " + v);
            return v.asInt();
        }

        double number(String key, double fallback) {
            JsonNode v = get(key);
            if (v == null) return fallback;
            if (!v.isNumber()) throw new ModelFormatException(c.file(), prefix + key, "expected a number but found " + v);
            return v.asDouble();
        }

        String string(String key, String fallback) {
            JsonNode v = get(key);
            if (v == null) return fallback;
            if (!v.isTextual()) throw new ModelFormatException(c.file(), prefix + key, "expected a string but found " + v);
            return v.asText();
        }
    }
}
