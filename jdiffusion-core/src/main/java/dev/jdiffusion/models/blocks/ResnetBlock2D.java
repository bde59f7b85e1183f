package dev.jdiffusion.models.blocks;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.Conv2dLayer;
import dev.jdiffusion.models.nn.GroupNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Autograd;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

/**
 * diffusers' ResnetBlock2D: GroupNorm→SiLU→conv, plus the projected time embedding (UNet only),
 * GroupNorm→SiLU→conv, then the (1×1-projected when channels change) input added back.
 */
public final class ResnetBlock2D {
    private final GroupNorm norm1, norm2;
    private final Conv2dLayer conv1, conv2;
    private final Linear timeEmbProj;
    private final Linear convShortcut;
    private final float outputScaleFactor;

    /** @param tembChannels width of the time embedding, or 0 for none (the VAE's blocks) */
    public ResnetBlock2D(WeightSource w, int in, int out, int tembChannels, int groups, double eps, float outputScaleFactor) {
        norm1 = new GroupNorm(w, "norm1", groups, in, eps);
        conv1 = new Conv2dLayer(w, "conv1", in, out, 3, 1, 1);
        timeEmbProj = tembChannels > 0 ? new Linear(w, "time_emb_proj", tembChannels, out, true) : null;
        norm2 = new GroupNorm(w, "norm2", groups, out, eps);
        conv2 = new Conv2dLayer(w, "conv2", out, out, 3, 1, 1);
        convShortcut = in != out ? new Linear(w, "conv_shortcut", in, out, true) : null;
        this.outputScaleFactor = outputScaleFactor;
    }

    /**
     * @param x            (N, H, W, in)
     * @param tembActivated SiLU of the time embedding, (N, tembChannels); null for the VAE
     */
    public Tensor forward(Tensor x, Tensor tembActivated) {
        return Autograd.block(() -> compute(x, tembActivated), x, tembActivated);
    }

    private Tensor compute(Tensor x, Tensor tembActivated) {
        // Intermediates go back to the buffer pool as soon as they are consumed; x belongs to the caller.
        // The norms are applied by the convolutions as they read (never stored where the Winograd path runs).
        Tensor h = conv1.forward(norm1.lazySilu(x), null);
        if (timeEmbProj != null) {
            Tensor withTime = TensorOps.addPerChannel(h, timeEmbProj.forward(tembActivated));
            Buffers.recycle(h);
            h = withTime;
        }
        Tensor shortcut = convShortcut != null ? convShortcut.forward(x) : x;
        Tensor y = conv2.forward(norm2.lazySilu(h), shortcut);
        Buffers.recycle(h);
        if (shortcut != x) Buffers.recycle(shortcut);
        if (outputScaleFactor == 1f) return y;
        Tensor scaled = TensorOps.scale(y, 1f / outputScaleFactor);
        Buffers.recycle(y);
        return scaled;
    }
}
