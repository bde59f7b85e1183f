package dev.jdiffusion.models.nn;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.Norms;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

/** torch.nn.LayerNorm over the last dimension. */
public final class LayerNorm {
    private final WeightTensor gamma, beta;
    private final double eps;

    public LayerNorm(WeightSource w, String name, int dim, double eps) {
        this.gamma = w.get(name + ".weight", dim);
        this.beta = w.get(name + ".bias", dim);
        this.eps = eps;
    }

    public Tensor forward(Tensor x) { return Norms.layerNorm(x, gamma, beta, eps); }
}
