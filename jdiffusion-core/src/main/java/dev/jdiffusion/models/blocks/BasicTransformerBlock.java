package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.LayerNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Activations;
import dev.jdiffusion.tensor.Buffers;
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
        // x belongs to the caller; everything made here goes back to the buffer pool once consumed.
        Tensor n1 = norm1.forward(x);
        Tensor x1 = attn1.forward(n1, null, x);
        Buffers.recycle(n1);
        Tensor n2 = norm2.forward(x1);
        Tensor x2 = attn2.forward(n2, context, x1);
        Buffers.recycle(n2, x1);
        Tensor n3 = norm3.forward(x2);
        Tensor projected = ffProj.forward(n3);
        Buffers.recycle(n3);
        Tensor gated = Activations.geglu(projected);
        Buffers.recycle(projected);
        Tensor y = ffOut.forward(gated, x2);
        Buffers.recycle(gated, x2);
        return y;
    }
}
