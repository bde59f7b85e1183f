package dev.jdiffusion.models.nn;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.Gemm;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

/**
 * torch.nn.Linear over the last dimension. Also serves 1×1 convolutions on channels-last activations,
 * which are the same matrix multiply (weight [out, in, 1, 1]).
 */
public final class Linear {
    private final WeightTensor weight;
    private final WeightTensor bias;
    private final int in, out;

    public Linear(WeightSource w, String name, int in, int out, boolean hasBias) {
        this.in = in;
        this.out = out;
        // Validate against the shape the config implies (error names the tensor and both shapes).
        boolean asConv = w.rank(name + ".weight") == 4;
        this.weight = asConv ? flatten(w.get(name + ".weight", out, in, 1, 1)) : w.get(name + ".weight", out, in);
        this.bias = hasBias ? w.get(name + ".bias", out) : null;
    }

    private static WeightTensor flatten(WeightTensor t) {
        return new WeightTensor(t.name(), t.dtype(), new int[]{t.dim(0), t.dim(1)}, t.segment());
    }

    public Tensor forward(Tensor x) { return Gemm.linear(x, weight, bias); }

    /** forward(x) + residual in one pass (residual: the output's shape). */
    public Tensor forward(Tensor x, Tensor residual) { return Gemm.linear(x, weight, bias, residual); }

    public int in() { return in; }

    public int out() { return out; }
}
