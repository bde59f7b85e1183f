package dev.jdiffusion.models.clip;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.LayerNorm;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;

import java.util.ArrayList;
import java.util.List;

/**
 * transformers' CLIPTextModel: token + position embeddings, pre-norm transformer layers with causal
 * self-attention, final layer norm. Every layer's hidden state is kept, so that "CLIP skip" can take
 * an earlier one.
 */
public final class ClipTextModel {

    /**
     * What the encoder computes for one batch of token ids.
     *
     * @param hiddenStates    embeddings output, then each layer's output (numHiddenLayers + 1 entries), as
     *                        transformers' {@code hidden_states}
     * @param lastHiddenState final layer norm of the last layer's output
     * @param pooled          lastHiddenState at each sequence's end-of-text token, (N, D)
     */
    public record Output(List<Tensor> hiddenStates, Tensor lastHiddenState, Tensor pooled) {}

    private final ClipTextConfig config;
    private final WeightTensor tokenEmbedding, positionEmbedding;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final LayerNorm finalLayerNorm;
    /** Token ids [extraFirstId, extraFirstId + extraRows.length / hidden) read their embedding from extraRows. */
    private final int extraFirstId;
    private final float[] extraRows;

    public ClipTextModel(ClipTextConfig config, WeightSource weights) {
        this.config = config;
        this.extraFirstId = config.vocabSize();
        this.extraRows = new float[0];
        int d = config.hiddenSize();
        WeightSource w = weights.prefixed("text_model.");
        tokenEmbedding = w.get("embeddings.token_embedding.weight", config.vocabSize(), d);
        positionEmbedding = w.get("embeddings.position_embedding.weight", config.maxPositionEmbeddings(), d);
        for (int i = 0; i < config.numHiddenLayers(); i++)
            layers.add(new ClipEncoderLayer(w.prefixed("encoder.layers." + i + "."), d, config.intermediateSize(),
                    config.numAttentionHeads(), config.hiddenAct(), config.layerNormEps(), true));
        finalLayerNorm = new LayerNorm(w, "final_layer_norm", d, config.layerNormEps());
    }

    private ClipTextModel(ClipTextModel base, int extraFirstId, float[] extraRows) {
        this.config = base.config;
        this.tokenEmbedding = base.tokenEmbedding;
        this.positionEmbedding = base.positionEmbedding;
        this.layers.addAll(base.layers);
        this.finalLayerNorm = base.finalLayerNorm;
        this.extraFirstId = extraFirstId;
        this.extraRows = extraRows;
    }

    /**
     * This encoder with {@code rows.length / hidden_size} more token embeddings, for ids {@code firstId, firstId + 1, ...}
     * (textual inversion: diffusers' resize_token_embeddings + setting the new rows, without copying the table; ids
     * below vocab_size are shadowed, as diffusers overwrites those rows). Everything else is shared with this one.
     */
    public ClipTextModel withExtraTokens(int firstId, float[] rows) {
        int d = config.hiddenSize();
        if (rows.length % d != 0)
            throw new IllegalArgumentException(rows.length + " values are not whole rows of width " + d);
        if (firstId < 0) throw new IllegalArgumentException("token id " + firstId);
        return new ClipTextModel(this, firstId, rows.clone());
    }

    /** Token ids accepted by {@link #forward}: the vocabulary and the extra tokens. */
    public int tokenCount() { return Math.max(config.vocabSize(), extraFirstId + extraRows.length / config.hiddenSize()); }

    public ClipTextConfig config() { return config; }

    /** Encodes token ids: {@code ids[b]} is one sequence (all the same length, at most max_position_embeddings). */
    public Output forward(int[][] ids) {
        int len = ids[0].length;
        if (len > config.maxPositionEmbeddings())
            throw new IllegalArgumentException(len + " tokens exceed the text encoder's " + config.maxPositionEmbeddings());
        Tensor h = TensorOps.embed(ids, tokenEmbedding, positionEmbedding, extraFirstId, extraRows);
        List<Tensor> hidden = new ArrayList<>();
        hidden.add(h);
        for (ClipEncoderLayer layer : layers) {
            h = layer.forward(h);
            hidden.add(h);
        }
        Tensor last = finalLayerNorm.forward(h);
        return new Output(List.copyOf(hidden), last, pool(last, ids));
    }

    /** Applies the final layer norm to an earlier hidden state (what "CLIP skip" feeds the UNet). */
    public Tensor finalLayerNorm(Tensor hidden) { return finalLayerNorm.forward(hidden); }

    /**
     * The end-of-text position of each sequence, as transformers picks it: with the legacy
     * eos_token_id 2 of SD's configs, the first position of the highest id (end-of-text is CLIP's highest id,
     * 49407, or 8513 in a vocabulary cut to 8,000 merges); otherwise the first position of eos_token_id
     * (position 0 when there is none, as torch's argmax of all-false).
     */
    private Tensor pool(Tensor last, int[][] ids) {
        int n = ids.length, len = ids[0].length, d = config.hiddenSize();
        float[] out = new float[n * d];
        for (int b = 0; b < n; b++) {
            int pick = 0;
            for (int t = 1; t < len; t++) {
                if (config.eosTokenId() == 2 ? ids[b][t] > ids[b][pick] : ids[b][pick] != config.eosTokenId() && ids[b][t] == config.eosTokenId())
                    pick = t;
            }
            System.arraycopy(last.data(), (b * len + pick) * d, out, b * d, d);
        }
        return new Tensor(out, n, d);
    }
}
