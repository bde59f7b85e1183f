package dev.jdiffusion.models.vae;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.blocks.Downsample2D;
import dev.jdiffusion.models.blocks.ResnetBlock2D;
import dev.jdiffusion.models.blocks.SpatialSelfAttention;
import dev.jdiffusion.models.blocks.Upsample2D;
import dev.jdiffusion.models.nn.Conv2dLayer;
import dev.jdiffusion.models.nn.GroupNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' AutoencoderKL: the encoder maps an image in [-1, 1] to a diagonal Gaussian over latents,
 * the decoder maps latents back to an image. Channels-last (N, H, W, C) throughout.
 */
public final class AutoencoderKL {
    private static final double EPS = 1e-6;

    /** The encoder's posterior: mean and standard deviation, each (N, H/f, W/f, latent_channels). */
    public record LatentDist(Tensor mean, Tensor std) {}

    private final AutoencoderKLConfig config;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Linear quantConv, postQuantConv;

    public AutoencoderKL(AutoencoderKLConfig c, WeightSource w) {
        this.config = c;
        int lc = c.latentChannels();
        encoder = new Encoder(w.prefixed("encoder."), c);
        decoder = new Decoder(w.prefixed("decoder."), c);
        quantConv = c.useQuantConv() ? new Linear(w, "quant_conv", 2 * lc, 2 * lc, true) : null;
        postQuantConv = c.usePostQuantConv() ? new Linear(w, "post_quant_conv", lc, lc, true) : null;
    }

    public AutoencoderKLConfig config() { return config; }

    public float scalingFactor() { return config.scalingFactor(); }

    /** Decodes latents (already divided by the scaling factor) to an image, roughly in [-1, 1]. */
    public Tensor decode(Tensor z) {
        return decoder.forward(postQuantConv == null ? z : postQuantConv.forward(z));
    }

    /**
     * The encoder's raw output for an image in [-1, 1]: (N, H/f, W/f, 2·latent_channels), the posterior's mean
     * then its log-variance (unclamped), as diffusers' {@code DiagonalGaussianDistribution} receives it.
     */
    public Tensor encodeMoments(Tensor image) {
        Tensor moments = encoder.forward(image);
        return quantConv == null ? moments : quantConv.forward(moments);
    }

    /** Encodes an image in [-1, 1] to the latent distribution (before scaling). */
    public LatentDist encode(Tensor image) {
        Tensor moments = encodeMoments(image);
        int lc = config.latentChannels(), pixels = moments.size() / (2 * lc);
        float[] m = moments.data(), mean = new float[pixels * lc], std = new float[pixels * lc];
        for (int p = 0; p < pixels; p++) {
            for (int j = 0; j < lc; j++) {
                mean[p * lc + j] = m[p * 2 * lc + j];
                float logvar = Math.clamp(m[p * 2 * lc + lc + j], -30f, 20f);
                std[p * lc + j] = (float) Math.exp(0.5f * logvar);
            }
        }
        int[] shape = moments.shape();
        shape[3] = lc;
        return new LatentDist(new Tensor(mean, shape), new Tensor(std, shape));
    }

    /** Returns {@code next}, handing {@code previous} (an intermediate nobody else holds) back to the pool. */
    private static Tensor replace(Tensor previous, Tensor next) {
        Buffers.recycle(previous);
        return next;
    }

    /** UNetMidBlock2D without time embedding: resnet, (attention), resnet. */
    private static final class MidBlock {
        private final ResnetBlock2D resnet0, resnet1;
        private final SpatialSelfAttention attention;

        MidBlock(WeightSource w, int ch, AutoencoderKLConfig c) {
            resnet0 = new ResnetBlock2D(w.prefixed("resnets.0."), ch, ch, 0, c.normNumGroups(), EPS, 1f);
            attention = c.midBlockAddAttention()
                    ? new SpatialSelfAttention(w.prefixed("attentions.0."), ch, c.normNumGroups(), EPS) : null;
            resnet1 = new ResnetBlock2D(w.prefixed("resnets.1."), ch, ch, 0, c.normNumGroups(), EPS, 1f);
        }

        /** The input stays the caller's; the intermediates go back to the pool. */
        Tensor forward(Tensor h) {
            h = resnet0.forward(h, null);
            if (attention != null) h = replace(h, attention.forward(h));
            return replace(h, resnet1.forward(h, null));
        }
    }

    private static final class Encoder {
        private final Conv2dLayer convIn, convOut;
        private final List<List<ResnetBlock2D>> blocks = new ArrayList<>();
        private final List<Downsample2D> downsamplers = new ArrayList<>();
        private final MidBlock mid;
        private final GroupNorm normOut;

        Encoder(WeightSource w, AutoencoderKLConfig c) {
            List<Integer> boc = c.blockOutChannels();
            int n = boc.size();
            convIn = new Conv2dLayer(w, "conv_in", c.inChannels(), boc.get(0), 3, 1, 1);
            int out = boc.get(0);
            for (int i = 0; i < n; i++) {
                int in = out;
                out = boc.get(i);
                List<ResnetBlock2D> resnets = new ArrayList<>();
                for (int j = 0; j < c.layersPerBlock(); j++)
                    resnets.add(new ResnetBlock2D(w.prefixed("down_blocks." + i + ".resnets." + j + "."),
                            j == 0 ? in : out, out, 0, c.normNumGroups(), EPS, 1f));
                blocks.add(resnets);
                downsamplers.add(i < n - 1 ? new Downsample2D(w.prefixed("down_blocks." + i + ".downsamplers.0."), out, 0) : null);
            }
            int top = boc.get(n - 1);
            mid = new MidBlock(w.prefixed("mid_block."), top, c);
            normOut = new GroupNorm(w, "conv_norm_out", c.normNumGroups(), top, EPS);
            convOut = new Conv2dLayer(w, "conv_out", top, 2 * c.latentChannels(), 3, 1, 1);
        }

        Tensor forward(Tensor x) {
            Tensor h = convIn.forward(x);
            for (int i = 0; i < blocks.size(); i++) {
                for (ResnetBlock2D r : blocks.get(i)) h = replace(h, r.forward(h, null));
                if (downsamplers.get(i) != null) h = replace(h, downsamplers.get(i).forward(h));
            }
            h = replace(h, mid.forward(h));
            h = replace(h, normOut.forwardSilu(h));
            return replace(h, convOut.forward(h));
        }
    }

    private static final class Decoder {
        private final Conv2dLayer convIn, convOut;
        private final MidBlock mid;
        private final List<List<ResnetBlock2D>> blocks = new ArrayList<>();
        private final List<Upsample2D> upsamplers = new ArrayList<>();
        private final GroupNorm normOut;

        Decoder(WeightSource w, AutoencoderKLConfig c) {
            List<Integer> boc = c.blockOutChannels();
            int n = boc.size(), top = boc.get(n - 1);
            convIn = new Conv2dLayer(w, "conv_in", c.latentChannels(), top, 3, 1, 1);
            mid = new MidBlock(w.prefixed("mid_block."), top, c);
            int out = top;
            for (int i = 0; i < n; i++) {
                int in = out;
                out = boc.get(n - 1 - i);
                List<ResnetBlock2D> resnets = new ArrayList<>();
                for (int j = 0; j < c.layersPerBlock() + 1; j++)
                    resnets.add(new ResnetBlock2D(w.prefixed("up_blocks." + i + ".resnets." + j + "."),
                            j == 0 ? in : out, out, 0, c.normNumGroups(), EPS, 1f));
                blocks.add(resnets);
                upsamplers.add(i < n - 1 ? new Upsample2D(w.prefixed("up_blocks." + i + ".upsamplers.0."), out) : null);
            }
            normOut = new GroupNorm(w, "conv_norm_out", c.normNumGroups(), boc.get(0), EPS);
            convOut = new Conv2dLayer(w, "conv_out", boc.get(0), c.outChannels(), 3, 1, 1);
        }

        Tensor forward(Tensor z) {
            Tensor h = convIn.forward(z);
            h = replace(h, mid.forward(h));
            for (int i = 0; i < blocks.size(); i++) {
                for (ResnetBlock2D r : blocks.get(i)) h = replace(h, r.forward(h, null));
                if (upsamplers.get(i) != null) h = replace(h, upsamplers.get(i).forward(h));
            }
            h = replace(h, normOut.forwardSilu(h));
            return replace(h, convOut.forward(h));
        }
    }
}
