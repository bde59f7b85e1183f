package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.Conv2dLayer;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

/**
 * diffusers' Downsample2D with a convolution: 3×3, stride 2. The UNet pads by 1 on every side; the
 * VAE encoder (padding 0) pads only right and bottom by 1, as the original SD code did.
 */
public final class Downsample2D {
    private final Conv2dLayer conv;
    private final boolean padRightBottom;

    public Downsample2D(WeightSource w, int channels, int padding) {
        this.conv = new Conv2dLayer(w, "conv", channels, channels, 3, 2, padding);
        this.padRightBottom = padding == 0;
    }

    public Tensor forward(Tensor x) {
        return conv.forward(padRightBottom ? TensorOps.padRightBottom(x, 1) : x);
    }
}
