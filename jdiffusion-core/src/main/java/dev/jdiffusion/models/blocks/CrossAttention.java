package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Attention;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;

/**
 * diffusers' Attention as the UNet's transformer blocks use it: to_q/to_k/to_v without bias, to_out.0
 * with bias; keys and values come from the context (cross-attention) or from the input itself.
 */
public final class CrossAttention {
    private final Linear toQ, toK, toV, toOut;
    private final int heads;

    public CrossAttention(WeightSource w, int queryDim, int contextDim, int heads, int dimHead) {
        int inner = heads * dimHead;
        toQ = new Linear(w, "to_q", queryDim, inner, false);
        toK = new Linear(w, "to_k", contextDim, inner, false);
        toV = new Linear(w, "to_v", contextDim, inner, false);
        toOut = new Linear(w, "to_out.0", inner, queryDim, true);
        this.heads = heads;
    }

    /** @param x (N, L, queryDim); @param context (N, Lc, contextDim), or null for self-attention */
    public Tensor forward(Tensor x, Tensor context) { return forward(x, context, null); }

    /** The attention output plus {@code residual} (null for none), added as the output projection runs. */
    public Tensor forward(Tensor x, Tensor context, Tensor residual) {
        Tensor kv = context == null ? x : context;
        Tensor q = toQ.forward(x), k = toK.forward(kv), v = toV.forward(kv);
        Tensor a = Attention.attend(q, k, v, heads);
        Buffers.recycle(q, k, v);
        Tensor out = toOut.forward(a, residual);
        Buffers.recycle(a);
        return out;
    }
}
