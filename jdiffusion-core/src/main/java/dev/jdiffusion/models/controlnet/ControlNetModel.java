package dev.jdiffusion.models.controlnet;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.Conv2dLayer;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNetBlocks;
import dev.jdiffusion.models.unet.UNetResiduals;
import dev.jdiffusion.tensor.Activations;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' ControlNetModel: a trainable copy of a UNet's down half (time embedding, conv_in, down blocks, mid
 * block — the same {@link UNetBlocks}), whose input is the latents plus an embedding of the control image, and
 * whose every skip connection and mid-block output passes through a 1×1 "zero convolution" to become a
 * residual for the UNet ({@link UNetResiduals}). Activations are channels-last (N, H, W, C).
 */
public final class ControlNetModel {
    private final ControlNetConfig config;
    private final String name;
    private final Linear timeLinear1, timeLinear2;
    private final Conv2dLayer convIn;
    private final ConditioningEmbedding condEmbedding;
    private final List<UNetBlocks.DownBlock> downBlocks = new ArrayList<>();
    private final UNetBlocks.MidBlock midBlock;
    private final List<Linear> controlnetDownBlocks = new ArrayList<>();
    private final Linear controlnetMidBlock;

    /** @param name what to call it in messages and parameters (the folder's or file's name) */
    public ControlNetModel(String name, ControlNetConfig config, WeightSource w) {
        this.name = name;
        this.config = config;
        UNet2DConditionConfig c = config.unet();
        List<Integer> boc = c.blockOutChannels();
        int n = boc.size(), ch0 = boc.get(0), temb = c.timeEmbedDim();
        timeLinear1 = new Linear(w, "time_embedding.linear_1", ch0, temb, true);
        timeLinear2 = new Linear(w, "time_embedding.linear_2", temb, temb, true);
        convIn = new Conv2dLayer(w, "conv_in", c.inChannels(), ch0, 3, 1, 1);
        condEmbedding = new ConditioningEmbedding(w.prefixed("controlnet_cond_embedding."), config.conditioningChannels(),
                config.conditioningEmbeddingOutChannels(), ch0);
        int out = ch0, zero = 0;
        controlnetDownBlocks.add(new Linear(w, "controlnet_down_blocks." + zero++, ch0, ch0, true));
        for (int i = 0; i < n; i++) {
            int in = out;
            out = boc.get(i);
            boolean last = i == n - 1;
            downBlocks.add(new UNetBlocks.DownBlock(w.prefixed("down_blocks." + i + "."), c, i, in, out,
                    c.downBlockTypes().get(i).equals(UNet2DConditionConfig.CROSS_ATTN_DOWN), !last));
            for (int j = 0; j < c.layersPerBlock().get(i) + (last ? 0 : 1); j++)
                controlnetDownBlocks.add(new Linear(w, "controlnet_down_blocks." + zero++, out, out, true));
        }
        midBlock = new UNetBlocks.MidBlock(w.prefixed("mid_block."), c);
        int top = boc.get(n - 1);
        controlnetMidBlock = new Linear(w, "controlnet_mid_block", top, top, true);
    }

    public ControlNetConfig config() { return config; }

    public String name() { return name; }

    /**
     * The conditioning embedding of control images (N, H, W, conditioning_channels) with values in [0, 1]: conv_in,
     * SiLU, per level a 3×3 and a stride-2 3×3 convolution each followed by SiLU, conv_out. It depends on the image
     * only, so a pipeline computes it once per generation rather than at every step.
     */
    public Tensor embedCondition(Tensor controlImage) {
        if (controlImage.dim(3) != config.conditioningChannels())
            throw new IllegalArgumentException("ControlNet " + name + " expects control images with "
                    + config.conditioningChannels() + " channels, got " + controlImage.dim(3));
        Tensor x = controlImage;
        if (config.bgr()) {
            int c = x.dim(3);
            float[] src = x.data(), flipped = new float[src.length];
            for (int p = 0; p < src.length; p += c)
                for (int ch = 0; ch < c; ch++) flipped[p + ch] = src[p + c - 1 - ch];
            x = new Tensor(flipped, x.shape());
        }
        return condEmbedding.forward(x);
    }

    /** diffusers' {@code controlnet(sample, t, encoder_hidden_states, controlnet_cond=image, conditioning_scale, guess_mode)}. */
    public UNetResiduals forward(Tensor sample, float[] timesteps, Tensor context, Tensor controlImage, float scale,
                                 boolean guessMode) {
        Tensor embedding = embedCondition(controlImage);
        UNetResiduals r = forwardEmbedded(sample, timesteps, context, embedding, scale, guessMode);
        Buffers.recycle(embedding);
        return r;
    }

    /**
     * The residuals for latents {@code sample} (N, h, w, 4), given the conditioning embedding from
     * {@link #embedCondition} (N, h, w, block_out_channels[0]; not modified). Each residual is the zero convolution
     * of a skip connection times {@code scale}; in guess mode the i-th of the D down residuals is scaled by
     * 10^(−1 + i/D)·scale instead (torch.logspace(−1, 0, D + 1)), the mid one by scale. Global-pool ControlNets
     * average every residual over the image.
     */
    public UNetResiduals forwardEmbedded(Tensor sample, float[] timesteps, Tensor context, Tensor embedding, float scale,
                                         boolean guessMode) {
        UNet2DConditionConfig c = config.unet();
        if (sample.dim(3) != c.inChannels())
            throw new IllegalArgumentException("ControlNet " + name + " expects " + c.inChannels() + " latent channels, got " + sample.dim(3));
        if (context.dim(2) != c.crossAttentionDim())
            throw new IllegalArgumentException("ControlNet " + name + " expects text embeddings of width " + c.crossAttentionDim()
                    + ", got " + context.dim(2) + " (a ControlNet for another Stable Diffusion generation?)");
        if (embedding.dim(0) != sample.dim(0) || embedding.dim(1) != sample.dim(1) || embedding.dim(2) != sample.dim(2))
            throw new IllegalArgumentException("ControlNet " + name + ": the control image embeds to "
                    + embedding.dim(2) + "x" + embedding.dim(1) + " but the latents are " + sample.dim(2) + "x" + sample.dim(1)
                    + " (the control image must have the generated image's size)");
        Tensor tEmb = TensorOps.timestepEmbedding(timesteps, c.blockOutChannels().get(0), c.flipSinToCos(), c.freqShift());
        Tensor emb = timeLinear2.forward(Activations.map(timeLinear1.forward(tEmb), Activations.Kind.SILU));
        Tensor temb = Activations.map(emb, Activations.Kind.SILU);

        Tensor h = convIn.forward(sample, embedding);
        List<Tensor> skips = new ArrayList<>();
        skips.add(h);
        for (UNetBlocks.DownBlock b : downBlocks) h = b.forward(h, temb, context, skips);
        Tensor mid = midBlock.forward(h, temb, context);

        int d = skips.size();
        float[] scales = new float[d + 1];
        if (guessMode && !config.globalPoolConditions()) {
            float[] log = logspace(-1f, 0f, d + 1);
            for (int i = 0; i <= d; i++) scales[i] = log[i] * scale;
        } else {
            java.util.Arrays.fill(scales, scale);
        }
        List<Tensor> down = new ArrayList<>(d);
        for (int i = 0; i < d; i++) {
            Tensor skip = skips.get(i);
            Tensor r = controlnetDownBlocks.get(i).forward(skip);
            Buffers.recycle(skip);
            down.add(finish(r, scales[i]));
        }
        Tensor midOut = controlnetMidBlock.forward(mid);
        Buffers.recycle(mid);
        return new UNetResiduals(down, finish(midOut, scales[d]));
    }

    /** r × s in place, then the spatial mean for global-pool ControlNets. */
    private Tensor finish(Tensor r, float s) {
        float[] a = r.data();
        for (int i = 0; i < a.length; i++) a[i] *= s;
        if (!config.globalPoolConditions()) return r;
        int n = r.dim(0), pixels = r.dim(1) * r.dim(2), ch = r.dim(3);
        float[] mean = new float[n * ch];
        for (int b = 0; b < n; b++)
            for (int k = 0; k < ch; k++) {
                double sum = 0;
                for (int p = 0; p < pixels; p++) sum += a[(b * pixels + p) * ch + k];
                mean[b * ch + k] = (float) (sum / pixels);
            }
        Buffers.recycle(r);
        return new Tensor(mean, n, 1, 1, ch);
    }

    /** torch.logspace(start, end, steps) in float32: the exponent stepped from whichever end is nearer. */
    static float[] logspace(float start, float end, int steps) {
        float[] out = new float[steps];
        float step = steps > 1 ? (end - start) / (steps - 1) : 0f;
        int half = steps / 2;
        for (int i = 0; i < steps; i++) {
            float e = i < half ? start + step * i : end - step * (steps - i - 1);
            out[i] = (float) Math.pow(10.0, e);
        }
        return out;
    }

    /** diffusers' ControlNetConditioningEmbedding. */
    static final class ConditioningEmbedding {
        private final Conv2dLayer convIn, convOut;
        private final List<Conv2dLayer> blocks = new ArrayList<>();

        ConditioningEmbedding(WeightSource w, int in, List<Integer> channels, int out) {
            convIn = new Conv2dLayer(w, "conv_in", in, channels.get(0), 3, 1, 1);
            for (int i = 0; i < channels.size() - 1; i++) {
                int a = channels.get(i), b = channels.get(i + 1);
                blocks.add(new Conv2dLayer(w, "blocks." + (2 * i), a, a, 3, 1, 1));
                blocks.add(new Conv2dLayer(w, "blocks." + (2 * i + 1), a, b, 3, 2, 1));
            }
            convOut = new Conv2dLayer(w, "conv_out", channels.getLast(), out, 3, 1, 1);
        }

        Tensor forward(Tensor image) {
            Tensor x = siluInPlace(convIn.forward(image));
            for (Conv2dLayer b : blocks) {
                Tensor next = siluInPlace(b.forward(x));
                Buffers.recycle(x);
                x = next;
            }
            Tensor out = convOut.forward(x);
            Buffers.recycle(x);
            return out;
        }

        private static Tensor siluInPlace(Tensor t) {
            Tensor s = Activations.map(t, Activations.Kind.SILU);
            Buffers.recycle(t);
            return s;
        }
    }
}
