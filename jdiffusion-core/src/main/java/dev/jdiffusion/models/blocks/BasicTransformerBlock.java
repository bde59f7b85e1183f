package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.LayerNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Activations;
import dev.jdiffusion.tensor.Tensor;

/**
 * diffusers' BasicTransformerBlock: pre-norm self-attention, cross-attention on the text context, and a
 * GEGLU feed-forward (4× width), each added back to the residual stream.
 */
public final class BasicTransformerBlock {
    private final LayerNorm norm1, norm2, norm3;
    private final CrossAttention attn1, attn2;
    private final Linear ffProj, ffOut;

    public BasicTransformerBlock(WeightSource w, int dim, int heads, int dimHead, int crossAttentionDim) {
        norm1 = new LayerNorm(w, "norm1", dim, 1e-5);
        attn1 = new CrossAttention(w.prefixed("attn1."), dim, dim, heads, dimHead);
        norm2 = new LayerNorm(w, "norm2", dim, 1e-5);
        attn2 = new CrossAttention(w.prefixed("attn2."), dim, crossAttentionDim, heads, dimHead);
        norm3 = new LayerNorm(w, "norm3", dim, 1e-5);
        int inner = dim * 4;
        ffProj = new Linear(w, "ff.net.0.proj", dim, inner * 2, true);
        ffOut = new Linear(w, "ff.net.2", inner, dim, true);
    }

    public Tensor forward(Tensor x, Tensor context) {
        x = attn1.forward(norm1.forward(x), null, x);
        x = attn2.forward(norm2.forward(x), context, x);
        return ffOut.forward(Activations.geglu(ffProj.forward(norm3.forward(x))), x);
    }
}
