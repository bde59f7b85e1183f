package dev.jdiffusion.models.clip;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.LayerNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

import java.util.ArrayList;
import java.util.List;

/**
 * transformers' CLIPVisionModel (the vision transformer of CLIP): the image cut into patch_size² patches,
 * each projected by {@code embeddings.patch_embedding} (a stride-patch convolution without bias), a class
 * token in front, position embeddings added, {@code pre_layrnorm} (transformers' spelling), the encoder
 * layers shared with the text tower ({@link ClipEncoderLayer}, not causal here), and {@code post_layernorm} of
 * the class token as the pooled output.
 */
public final class ClipVisionModel {

    /**
     * @param lastHiddenState the last encoder layer's output, (N, positions, hidden), without a final norm
     * @param pooled          post_layernorm of the class token, (N, hidden)
     */
    public record Output(Tensor lastHiddenState, Tensor pooled) {}

    private final ClipVisionConfig config;
    private final WeightTensor classEmbedding, positionEmbedding;
    private final Linear patchEmbedding;
    private final LayerNorm preLayerNorm, postLayerNorm;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();

    /** {@code weights}: names as CLIPVisionModel saves them, {@code vision_model.embeddings...}. */
    public ClipVisionModel(ClipVisionConfig config, WeightSource weights) {
        this.config = config;
        int d = config.hiddenSize(), p = config.patchSize(), c = config.numChannels();
        WeightSource w = weights.prefixed("vision_model.");
        classEmbedding = w.get("embeddings.class_embedding", d);
        positionEmbedding = w.get("embeddings.position_embedding.weight", config.numPositions(), d);
        // The convolution's weight [D, C, p, p] is the matrix [D, C·p·p] of a linear layer over patch rows (c, y, x).
        WeightTensor conv = w.get("embeddings.patch_embedding.weight", d, c, p, p);
        WeightTensor flat = new WeightTensor(conv.name(), conv.dtype(), new int[]{d, c * p * p}, conv.segment());
        patchEmbedding = new Linear(new WeightSource() {
            @Override public WeightTensor get(String name) { return flat; }
            @Override public boolean contains(String name) { return true; }
            @Override public String describe() { return w.describe(); }
        }, "patch_embedding", c * p * p, d, false);
        preLayerNorm = new LayerNorm(w, "pre_layrnorm", d, config.layerNormEps());
        for (int i = 0; i < config.numHiddenLayers(); i++)
            layers.add(new ClipEncoderLayer(w.prefixed("encoder.layers." + i + "."), d, config.intermediateSize(),
                    config.numAttentionHeads(), config.hiddenAct(), config.layerNormEps(), false));
        postLayerNorm = new LayerNorm(w, "post_layernorm", d, config.layerNormEps());
    }

    public ClipVisionConfig config() { return config; }

    /**
     * Encodes images: {@code pixels} holds {@code n} images of (num_channels, image_size, image_size) float32,
     * channels first, as CLIPImageProcessor's pixel_values.
     */
    public Output forward(float[] pixels, int n) {
        int c = config.numChannels(), s = config.imageSize(), p = config.patchSize(), g = config.gridSize();
        int d = config.hiddenSize(), positions = config.numPositions(), k = c * p * p;
        if (pixels.length != (long) n * c * s * s)
            throw new IllegalArgumentException(n + " images of " + c + "x" + s + "x" + s + " need " + (long) n * c * s * s
                    + " values, got " + pixels.length + " (the vision model takes image_size " + s + ")");
        // Patch rows in the convolution weight's order: channel, then row, then column within the patch.
        float[] patches = new float[n * g * g * k];
        for (int b = 0; b < n; b++)
            for (int gy = 0; gy < g; gy++)
                for (int gx = 0; gx < g; gx++) {
                    int row = ((b * g + gy) * g + gx) * k;
                    for (int ch = 0; ch < c; ch++)
                        for (int y = 0; y < p; y++)
                            System.arraycopy(pixels, ((b * c + ch) * s + gy * p + y) * s + gx * p,
                                    patches, row + (ch * p + y) * p, p);
                }
        Tensor embedded = patchEmbedding.forward(new Tensor(patches, n, g * g, k));
        float[] x = new float[n * positions * d];
        float[] cls = classEmbedding.toFloatArray(), pos = positionEmbedding.toFloatArray();
        for (int b = 0; b < n; b++) {
            int base = b * positions * d;
            for (int j = 0; j < d; j++) x[base + j] = cls[j] + pos[j];
            float[] e = embedded.data();
            for (int t = 1; t < positions; t++)
                for (int j = 0; j < d; j++)
                    x[base + t * d + j] = e[(b * g * g + t - 1) * d + j] + pos[t * d + j];
        }
        Buffers.recycle(embedded);
        Tensor h = preLayerNorm.forward(new Tensor(x, n, positions, d));
        for (ClipEncoderLayer layer : layers) {
            Tensor next = layer.forward(h);
            Buffers.recycle(h);
            h = next;
        }
        float[] first = new float[n * d];
        for (int b = 0; b < n; b++) System.arraycopy(h.data(), b * positions * d, first, b * d, d);
        return new Output(h, postLayerNorm.forward(new Tensor(first, n, d)));
    }
}
