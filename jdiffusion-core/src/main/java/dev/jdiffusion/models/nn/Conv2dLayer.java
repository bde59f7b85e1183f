package dev.jdiffusion.models.nn;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.Conv2d;
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

    /** forward(x) + residual in one pass (residual: the output's shape). */
    public Tensor forward(Tensor x, Tensor residual) { return Conv2d.forward(x, weight, bias, stride, padding, residual); }
}
