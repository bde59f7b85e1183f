package dev.jdiffusion.models.unet;

import dev.jdiffusion.tensor.Tensor;

import java.util.List;

/**
 * What a ControlNet adds to a UNet: one residual per skip connection of the down path, in the order the UNet
 * makes them (conv_in, then each resnet and downsampler output), and one for the mid block's output.
 * diffusers' {@code down_block_additional_residuals} and {@code mid_block_additional_residual}. Channels-last;
 * a residual may have 1×1 spatial size (global-pool ControlNets), which is added at every position.
 */
public record UNetResiduals(List<Tensor> down, Tensor mid) {
    public UNetResiduals {
        down = List.copyOf(down);
    }
}
