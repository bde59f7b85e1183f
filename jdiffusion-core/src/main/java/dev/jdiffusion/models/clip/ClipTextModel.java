package dev.jdiffusion.models.clip;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.LayerNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Activations;
import dev.jdiffusion.tensor.Attention;
import dev.jdiffusion.tensor.Tensor;
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
    private final List<EncoderLayer> layers = new ArrayList<>();
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
            layers.add(new EncoderLayer(w.prefixed("encoder.layers." + i + "."), config));
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
        int n = ids.length, len = ids[0].length, d = config.hiddenSize();
        if (len > config.maxPositionEmbeddings())
            throw new IllegalArgumentException(len + " tokens exceed the text encoder's " + config.maxPositionEmbeddings());
        float[] x = new float[n * len * d];
        float[] pos = new float[d];
        for (int b = 0; b < n; b++) {
            for (int t = 0; t < len; t++) {
                int id = ids[b][t];
                int off = (b * len + t) * d;
                long extra = (long) id - extraFirstId;
                if (extra >= 0 && extra * d < extraRows.length) {
                    System.arraycopy(extraRows, (int) extra * d, x, off, d);
                } else {
                    if (id < 0 || id >= config.vocabSize())
                        throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + config.vocabSize());
                    tokenEmbedding.copyTo((long) id * d, x, off, d);
                }
                positionEmbedding.copyTo((long) t * d, pos, 0, d);
                for (int j = 0; j < d; j++) x[off + j] += pos[j];
            }
        }
        Tensor h = new Tensor(x, n, len, d);
        List<Tensor> hidden = new ArrayList<>();
        hidden.add(h);
        for (EncoderLayer layer : layers) {
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
     * eos_token_id 2 of SD's configs, the first position of the highest id (49407 is the highest);
     * otherwise the first position of eos_token_id.
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

    private static final class EncoderLayer {
        private final LayerNorm layerNorm1, layerNorm2;
        private final Linear q, k, v, out, fc1, fc2;
        private final int heads;
        private final Activations.Kind act;

        EncoderLayer(WeightSource w, ClipTextConfig c) {
            int d = c.hiddenSize();
            layerNorm1 = new LayerNorm(w, "layer_norm1", d, c.layerNormEps());
            layerNorm2 = new LayerNorm(w, "layer_norm2", d, c.layerNormEps());
            q = new Linear(w, "self_attn.q_proj", d, d, true);
            k = new Linear(w, "self_attn.k_proj", d, d, true);
            v = new Linear(w, "self_attn.v_proj", d, d, true);
            out = new Linear(w, "self_attn.out_proj", d, d, true);
            fc1 = new Linear(w, "mlp.fc1", d, c.intermediateSize(), true);
            fc2 = new Linear(w, "mlp.fc2", c.intermediateSize(), d, true);
            heads = c.numAttentionHeads();
            act = c.hiddenAct();
        }

        Tensor forward(Tensor x) {
            Tensor h = layerNorm1.forward(x);
            Tensor a = Attention.attend(q.forward(h), k.forward(h), v.forward(h), heads, true);
            x = out.forward(a, x);
            return fc2.forward(Activations.map(fc1.forward(layerNorm2.forward(x)), act), x);
        }
    }
}
