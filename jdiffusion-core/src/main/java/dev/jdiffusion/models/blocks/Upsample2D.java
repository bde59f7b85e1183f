package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.Conv2dLayer;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

/** diffusers' Upsample2D with a convolution: nearest-neighbour upsampling, then 3×3 conv. */
public final class Upsample2D {
    private final Conv2dLayer conv;

    public Upsample2D(WeightSource w, int channels) {
        this.conv = new Conv2dLayer(w, "conv", channels, channels, 3, 1, 1);
    }

    /** Upsamples 2×. */
    public Tensor forward(Tensor x) { return conv.forwardUpsampled2x(x); }

    /** Upsamples to exactly (outH, outW): the UNet's skip connections dictate it for odd sizes. */
    public Tensor forward(Tensor x, int outH, int outW) {
        if (outH == 2 * x.dim(1) && outW == 2 * x.dim(2)) return conv.forwardUpsampled2x(x);
        Tensor up = TensorOps.upsampleNearest(x, outH, outW);
        Tensor y = conv.forward(up);
        Buffers.recycle(up);
        return y;
    }
}
