package dev.jdiffusion.models.clip;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.tensor.Activations;

/** transformers' CLIPTextConfig: the fields a CLIP text encoder's config.json gives. */
public record ClipTextConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int maxPositionEmbeddings,
        Activations.Kind hiddenAct,
        double layerNormEps,
        int eosTokenId) {

    public static ClipTextConfig from(JsonConfig c) {
        String act = c.getEnum("hidden_act", "quick_gelu", "quick_gelu", "gelu");
        ClipTextConfig cfg = new ClipTextConfig(
                c.getInt("vocab_size", 49408),
                c.getInt("hidden_size"),
                c.getInt("intermediate_size"),
                c.getInt("num_hidden_layers"),
                c.getInt("num_attention_heads"),
                c.getInt("max_position_embeddings", 77),
                act.equals("gelu") ? Activations.Kind.GELU : Activations.Kind.QUICK_GELU,
                c.getDouble("layer_norm_eps", 1e-5),
                c.getInt("eos_token_id", 49407));  // transformers' CLIPTextConfig default
        if (cfg.hiddenSize <= 0)
            throw new dev.jdiffusion.io.ModelFormatException(c.file(), "hidden_size", "must be positive, got " + cfg.hiddenSize);
        if (cfg.numAttentionHeads <= 0)
            throw new dev.jdiffusion.io.ModelFormatException(c.file(), "num_attention_heads",
                    "must be a positive number of heads, got " + cfg.numAttentionHeads);
        if (cfg.hiddenSize % cfg.numAttentionHeads != 0)
            throw new dev.jdiffusion.io.ModelFormatException(c.file(), "num_attention_heads",
                    cfg.numAttentionHeads + " heads do not divide hidden_size " + cfg.hiddenSize);
        return cfg;
    }
}
