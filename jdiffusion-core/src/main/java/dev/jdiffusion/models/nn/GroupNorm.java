package dev.jdiffusion.models.nn;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.Norms;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

/** torch.nn.GroupNorm (affine) on channels-last activations. */
public final class GroupNorm {
    private final WeightTensor gamma, beta;
    private final int groups;
    private final double eps;

    public GroupNorm(WeightSource w, String name, int groups, int channels, double eps) {
        this.gamma = w.get(name + ".weight", channels);
        this.beta = w.get(name + ".bias", channels);
        this.groups = groups;
        this.eps = eps;
    }

    public Tensor forward(Tensor x) { return Norms.groupNorm(x, groups, gamma, beta, eps, false); }

    /** Group norm followed by SiLU, in one pass. */
    public Tensor forwardSilu(Tensor x) { return Norms.groupNorm(x, groups, gamma, beta, eps, true); }

    /** Group norm + SiLU of x not yet applied, for a convolution to apply as it reads x. */
    public Norms.Normalized lazySilu(Tensor x) { return Norms.groupNormLazy(x, groups, gamma, beta, eps, true); }
}
