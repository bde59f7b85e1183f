package dev.jdiffusion.models.nn;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.Conv2d;
import dev.jdiffusion.tensor.Norms;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

/** torch.nn.Conv2d (square kernel, bias) on channels-last activations. */
public final class Conv2dLayer {
    private final WeightTensor weight;
    private final WeightTensor bias;
    private final int stride, padding;

    public Conv2dLayer(WeightSource w, String name, int in, int out, int kernel, int stride, int padding) {
        this.weight = w.get(name + ".weight", out, in, kernel, kernel);
        this.bias = w.get(name + ".bias", out);
        this.stride = stride;
        this.padding = padding;
    }

    public Tensor forward(Tensor x) { return Conv2d.forward(x, weight, bias, stride, padding); }

    /** forward(nearest 2× upsampling of x), without making the upsampled tensor where possible (3×3, stride 1, padding 1). */
    public Tensor forwardUpsampled2x(Tensor x) {
        if (stride != 1 || padding != 1 || weight.dim(2) != 3)
            throw new IllegalStateException(weight.name() + ": the fused upsampling needs a 3×3 stride-1 padding-1 convolution");
        return Conv2d.forwardUpsampled2x(x, weight, bias);
    }

    /** The convolution of a normalized input (+ residual, may be null), without making the normalized tensor where possible. */
    public Tensor forward(Norms.Normalized x, Tensor residual) { return Conv2d.forward(x, weight, bias, stride, padding, residual); }

    /** forward(x) + residual in one pass (residual: the output's shape). */
    public Tensor forward(Tensor x, Tensor residual) { return Conv2d.forward(x, weight, bias, stride, padding, residual); }
}
