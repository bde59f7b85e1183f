package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.GroupNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Attention;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;

/**
 * The VAE mid-block attention (diffusers' Attention with group_norm and a residual connection): one
 * head as wide as the channels, over all H·W positions.
 */
public final class SpatialSelfAttention {
    private final GroupNorm groupNorm;
    private final Linear toQ, toK, toV, toOut;

    public SpatialSelfAttention(WeightSource w, int channels, int groups, double eps) {
        groupNorm = new GroupNorm(w, "group_norm", groups, channels, eps);
        toQ = new Linear(w, "to_q", channels, channels, true);
        toK = new Linear(w, "to_k", channels, channels, true);
        toV = new Linear(w, "to_v", channels, channels, true);
        toOut = new Linear(w, "to_out.0", channels, channels, true);
    }

    public Tensor forward(Tensor x) {
        int n = x.dim(0), h = x.dim(1), wd = x.dim(2), c = x.dim(3);
        Tensor t = groupNorm.forward(x).reshape(n, h * wd, c);
        Tensor q = toQ.forward(t), k = toK.forward(t), v = toV.forward(t);
        Buffers.recycle(t);
        Tensor a = Attention.attend(q, k, v, 1);
        Buffers.recycle(q, k, v);
        Tensor out = toOut.forward(a, x.reshape(n, h * wd, c)).reshape(n, h, wd, c);
        Buffers.recycle(a);
        return out;
    }
}
