package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.GroupNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Autograd;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' Transformer2DModel on continuous input: GroupNorm, projection in (a 1×1 conv, or a linear
 * layer with use_linear_projection — the same matrix multiply on channels-last data), transformer
 * blocks over the H·W positions, projection out, residual.
 */
public final class Transformer2DModel {
    private final GroupNorm norm;
    private final Linear projIn, projOut;
    private final List<BasicTransformerBlock> blocks = new ArrayList<>();

    public Transformer2DModel(WeightSource w, int inChannels, int heads, int dimHead, int numLayers,
                              int crossAttentionDim, int groups) {
        int inner = heads * dimHead;
        norm = new GroupNorm(w, "norm", groups, inChannels, 1e-6);
        projIn = new Linear(w, "proj_in", inChannels, inner, true);
        for (int i = 0; i < numLayers; i++)
            blocks.add(new BasicTransformerBlock(w.prefixed("transformer_blocks." + i + "."), inner, heads, dimHead, crossAttentionDim));
        projOut = new Linear(w, "proj_out", inner, inChannels, true);
    }

    /** @param x (N, H, W, C); @param context (N, L, crossAttentionDim) */
    public Tensor forward(Tensor x, Tensor context) { return Autograd.block(() -> compute(x, context), x, context); }

    private Tensor compute(Tensor x, Tensor context) {
        int n = x.dim(0), h = x.dim(1), wd = x.dim(2), c = x.dim(3);
        Tensor normed = norm.forward(x);
        Tensor t = projIn.forward(normed);
        Buffers.recycle(normed);
        t = t.reshape(n, h * wd, t.dim(-1));
        for (BasicTransformerBlock b : blocks) {
            Tensor next = b.forward(t, context);
            Buffers.recycle(t);
            t = next;
        }
        Tensor out = projOut.forward(t, x.reshape(n, h * wd, c)).reshape(n, h, wd, c);
        Buffers.recycle(t);
        return out;
    }
}
