package dev.jdiffusion.models.unet;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.blocks.Downsample2D;
import dev.jdiffusion.models.blocks.ResnetBlock2D;
import dev.jdiffusion.models.blocks.Transformer2DModel;
import dev.jdiffusion.models.blocks.Upsample2D;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

import java.util.ArrayList;
import java.util.List;

/**
 * The UNet's down, mid and up blocks (diffusers' unet_2d_blocks), with and without cross-attention. Public so
 * that ControlNetModel, a copy of the UNet's down half, is built from the same blocks.
 */
public final class UNetBlocks {
    private UNetBlocks() {}

    /** The transformer's output; its input h (a resnet output nobody else holds) goes back to the pool. */
    private static Tensor attendAndRecycle(Transformer2DModel attention, Tensor h, Tensor context) {
        Tensor out = attention.forward(h, context);
        Buffers.recycle(h);
        return out;
    }

    /** CrossAttnDownBlock2D (with attentions) or DownBlock2D (without). */
    public static final class DownBlock {
        private final List<ResnetBlock2D> resnets = new ArrayList<>();
        private final List<Transformer2DModel> attentions = new ArrayList<>();
        private final Downsample2D downsampler;

        public DownBlock(WeightSource w, UNet2DConditionConfig c, int index, int in, int out, boolean crossAttention, boolean addDownsample) {
            int heads = c.numAttentionHeads().get(index);
            for (int j = 0; j < c.layersPerBlock().get(index); j++) {
                resnets.add(new ResnetBlock2D(w.prefixed("resnets." + j + "."), j == 0 ? in : out, out,
                        c.timeEmbedDim(), c.normNumGroups(), c.normEps(), 1f));
                if (crossAttention)
                    attentions.add(new Transformer2DModel(w.prefixed("attentions." + j + "."), out, heads, out / heads,
                            c.transformerLayersPerBlock().get(index), c.crossAttentionDim(), c.normNumGroups()));
            }
            downsampler = addDownsample ? new Downsample2D(w.prefixed("downsamplers.0."), out, c.downsamplePadding()) : null;
        }

        /** Runs the block; appends every output the up path will concatenate back to {@code skips}. */
        public Tensor forward(Tensor h, Tensor temb, Tensor context, List<Tensor> skips) {
            for (int j = 0; j < resnets.size(); j++) {
                // h itself is kept: it is a skip (or the caller's input).
                h = resnets.get(j).forward(h, temb);
                if (!attentions.isEmpty()) h = attendAndRecycle(attentions.get(j), h, context);
                skips.add(h);
            }
            if (downsampler != null) {
                h = downsampler.forward(h);
                skips.add(h);
            }
            return h;
        }
    }

    /** UNetMidBlock2DCrossAttn: resnet, then (transformer, resnet) pairs. */
    public static final class MidBlock {
        private final List<ResnetBlock2D> resnets = new ArrayList<>();
        private final List<Transformer2DModel> attentions = new ArrayList<>();

        public MidBlock(WeightSource w, UNet2DConditionConfig c) {
            int last = c.blockOutChannels().size() - 1, ch = c.blockOutChannels().get(last);
            int heads = c.numAttentionHeads().get(last);
            for (int j = 0; j < 2; j++)
                resnets.add(new ResnetBlock2D(w.prefixed("resnets." + j + "."), ch, ch, c.timeEmbedDim(),
                        c.normNumGroups(), c.normEps(), c.midBlockScaleFactor()));
            attentions.add(new Transformer2DModel(w.prefixed("attentions.0."), ch, heads, ch / heads,
                    c.transformerLayersPerBlock().get(last), c.crossAttentionDim(), c.normNumGroups()));
        }

        public Tensor forward(Tensor h, Tensor temb, Tensor context) {
            h = resnets.get(0).forward(h, temb); // the input is the last skip: kept
            for (int j = 0; j < attentions.size(); j++) {
                h = attendAndRecycle(attentions.get(j), h, context);
                Tensor next = resnets.get(j + 1).forward(h, temb);
                Buffers.recycle(h);
                h = next;
            }
            return h;
        }
    }

    /** CrossAttnUpBlock2D or UpBlock2D: each resnet takes the hidden state concatenated with a skip. */
    static final class UpBlock {
        private final List<ResnetBlock2D> resnets = new ArrayList<>();
        private final List<Transformer2DModel> attentions = new ArrayList<>();
        private final Upsample2D upsampler;

        /**
         * @param reversedIndex   index into the reversed per-block lists (0 = deepest)
         * @param prevOut         channels coming from the block below
         * @param skipIn          channels of the last skip this block consumes
         */
        UpBlock(WeightSource w, UNet2DConditionConfig c, int reversedIndex, int prevOut, int out, int skipIn,
                boolean crossAttention, boolean addUpsample) {
            int down = c.blockOutChannels().size() - 1 - reversedIndex;
            int heads = c.numAttentionHeads().get(down);
            int layers = c.layersPerBlock().get(down) + 1;
            for (int j = 0; j < layers; j++) {
                int skip = j == layers - 1 ? skipIn : out;
                int resIn = j == 0 ? prevOut : out;
                resnets.add(new ResnetBlock2D(w.prefixed("resnets." + j + "."), resIn + skip, out,
                        c.timeEmbedDim(), c.normNumGroups(), c.normEps(), 1f));
                if (crossAttention)
                    attentions.add(new Transformer2DModel(w.prefixed("attentions." + j + "."), out, heads, out / heads,
                            c.transformerLayersPerBlock().get(down), c.crossAttentionDim(), c.normNumGroups()));
            }
            upsampler = addUpsample ? new Upsample2D(w.prefixed("upsamplers.0."), out) : null;
        }

        int skipCount() { return resnets.size(); }

        /** Consumes skips from the end of {@code skips}; {@code upH/upW} is the size to upsample to. */
        Tensor forward(Tensor h, List<Tensor> skips, Tensor temb, Tensor context, int upH, int upW) {
            // The incoming h and each consumed skip are dead once concatenated: back to the pool.
            for (int j = 0; j < resnets.size(); j++) {
                Tensor skip = skips.removeLast();
                Tensor joined = TensorOps.concatLast(h, skip);
                Buffers.recycle(h, skip);
                h = resnets.get(j).forward(joined, temb);
                Buffers.recycle(joined);
                if (!attentions.isEmpty()) h = attendAndRecycle(attentions.get(j), h, context);
            }
            if (upsampler == null) return h;
            Tensor up = upsampler.forward(h, upH, upW);
            Buffers.recycle(h);
            return up;
        }
    }
}
