package dev.jdiffusion.models.unet;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.Conv2dLayer;
import dev.jdiffusion.models.nn.GroupNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Activations;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' UNet2DConditionModel for SD 1.x / 2.x: predicts the noise (or v) in a latent, given the
 * timestep and the text encoder's hidden states. Activations are channels-last (N, H, W, C).
 */
public final class UNet2DConditionModel {
    private final UNet2DConditionConfig config;
    private final Linear timeLinear1, timeLinear2;
    private final Conv2dLayer convIn, convOut;
    private final GroupNorm convNormOut;
    private final List<UNetBlocks.DownBlock> downBlocks = new ArrayList<>();
    private final UNetBlocks.MidBlock midBlock;
    private final List<UNetBlocks.UpBlock> upBlocks = new ArrayList<>();

    public UNet2DConditionModel(UNet2DConditionConfig c, WeightSource w) {
        this.config = c;
        List<Integer> boc = c.blockOutChannels();
        int n = boc.size(), ch0 = boc.get(0), temb = c.timeEmbedDim();
        timeLinear1 = new Linear(w, "time_embedding.linear_1", ch0, temb, true);
        timeLinear2 = new Linear(w, "time_embedding.linear_2", temb, temb, true);
        convIn = new Conv2dLayer(w, "conv_in", c.inChannels(), ch0, 3, 1, 1);
        int out = ch0;
        for (int i = 0; i < n; i++) {
            int in = out;
            out = boc.get(i);
            downBlocks.add(new UNetBlocks.DownBlock(w.prefixed("down_blocks." + i + "."), c, i, in, out,
                    c.downBlockTypes().get(i).equals(UNet2DConditionConfig.CROSS_ATTN_DOWN), i < n - 1));
        }
        midBlock = new UNetBlocks.MidBlock(w.prefixed("mid_block."), c);
        List<Integer> rev = UNet2DConditionConfig.reversed(boc);
        out = rev.get(0);
        for (int i = 0; i < n; i++) {
            int prevOut = out;
            out = rev.get(i);
            int skipIn = rev.get(Math.min(i + 1, n - 1));
            upBlocks.add(new UNetBlocks.UpBlock(w.prefixed("up_blocks." + i + "."), c, i, prevOut, out, skipIn,
                    c.upBlockTypes().get(i).equals(UNet2DConditionConfig.CROSS_ATTN_UP), i < n - 1));
        }
        convNormOut = new GroupNorm(w, "conv_norm_out", c.normNumGroups(), ch0, c.normEps());
        convOut = new Conv2dLayer(w, "conv_out", ch0, c.outChannels(), 3, 1, 1);
    }

    public UNet2DConditionConfig config() { return config; }

    /**
     * @param sample    latents (N, H, W, in_channels)
     * @param timesteps one timestep per batch entry
     * @param context   text encoder hidden states (N, L, cross_attention_dim)
     * @return the model output (N, H, W, out_channels)
     */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor context) { return forward(sample, timesteps, context, null); }

    /**
     * The forward pass with ControlNet residuals (diffusers' {@code down_block_additional_residuals} and
     * {@code mid_block_additional_residual}): added to the skip connections once the down path is done (the
     * down and mid blocks see the plain values), and to the mid block's output.
     *
     * @param residuals null for none; its tensors are read, not modified
     */
    public Tensor forward(Tensor sample, float[] timesteps, Tensor context, UNetResiduals residuals) {
        if (sample.dim(3) != config.inChannels())
            throw new IllegalArgumentException("UNet expects " + config.inChannels() + " latent channels, got " + sample.dim(3));
        if (context.dim(2) != config.crossAttentionDim())
            throw new IllegalArgumentException("UNet expects text embeddings of width " + config.crossAttentionDim()
                    + ", got " + context.dim(2) + " (text encoder and UNet do not belong together?)");
        Tensor tEmb = TensorOps.timestepEmbedding(timesteps, config.blockOutChannels().get(0), config.flipSinToCos(), config.freqShift());
        Tensor emb = timeLinear2.forward(Activations.map(timeLinear1.forward(tEmb), Activations.Kind.SILU));
        // Every ResnetBlock2D applies SiLU to the embedding before its projection: do it once here.
        Tensor temb = Activations.map(emb, Activations.Kind.SILU);

        Tensor h = convIn.forward(sample);
        List<Tensor> skips = new ArrayList<>();
        skips.add(h);
        for (UNetBlocks.DownBlock b : downBlocks) h = b.forward(h, temb, context, skips);
        h = midBlock.forward(h, temb, context);
        if (residuals != null) {
            if (residuals.down().size() != skips.size())
                throw new IllegalArgumentException("the UNet has " + skips.size() + " skip connections but got "
                        + residuals.down().size() + " ControlNet residuals (a ControlNet for another architecture?)");
            // The skips belong to this pass (the up blocks consume them): add in place.
            for (int i = 0; i < skips.size(); i++) addInPlace(skips.get(i), residuals.down().get(i), "down residual " + i);
            addInPlace(h, residuals.mid(), "mid residual");
        }
        for (UNetBlocks.UpBlock b : upBlocks) {
            // The upsampled size must match the skip the next block concatenates (odd sizes round down going down).
            int remaining = skips.size() - b.skipCount();
            Tensor next = remaining > 0 ? skips.get(remaining - 1) : null;
            h = b.forward(h, skips, temb, context, next == null ? 0 : next.dim(1), next == null ? 0 : next.dim(2));
        }
        Tensor normed = convNormOut.forwardSilu(h);
        Buffers.recycle(h);
        Tensor out = convOut.forward(normed);
        Buffers.recycle(normed);
        return out;
    }

    /** x += r, r of x's shape or (N, 1, 1, C) broadcast over every position. */
    static void addInPlace(Tensor x, Tensor r, String what) {
        int n = x.dim(0), c = x.dim(3), pixels = x.dim(1) * x.dim(2);
        float[] xs = x.data(), rs = r.data();
        if (r.size() == x.size() && r.dim(1) == x.dim(1) && r.dim(3) == c) {
            for (int i = 0; i < xs.length; i++) xs[i] += rs[i];
        } else if (r.dim(0) == n && r.dim(1) == 1 && r.dim(2) == 1 && r.dim(3) == c) {
            for (int b = 0; b < n; b++)
                for (int p = 0; p < pixels; p++)
                    for (int ch = 0; ch < c; ch++) xs[(b * pixels + p) * c + ch] += rs[b * c + ch];
        } else {
            throw new IllegalArgumentException(what + " has shape " + java.util.Arrays.toString(r.shape())
                    + " but the UNet's tensor there has " + java.util.Arrays.toString(x.shape()));
        }
    }
}
