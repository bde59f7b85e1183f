package dev.jdiffusion.schedulers;

/**
 * Where the Gaussian noise of a generation comes from: {@link TorchGenerator} in real runs, recorded tensors in
 * tests. Successive calls continue one stream, as successive {@code torch.randn(..., generator=g)} calls do.
 */
@FunctionalInterface
public interface NoiseSource {

    /** Standard normal float32 values for a tensor of {@code shape}, flat in row-major (NCHW) order. */
    float[] randn(int... shape);
}
