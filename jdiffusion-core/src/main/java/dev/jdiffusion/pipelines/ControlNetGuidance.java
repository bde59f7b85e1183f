package dev.jdiffusion.pipelines;

import dev.jdiffusion.models.controlnet.ControlNetConfig;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNetResiduals;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The ControlNet part of diffusers' StableDiffusionControlNet(Img2Img|Inpaint)Pipeline loops, for any task: each
 * unit's control image prepared once (preprocessor, resize, conditioning embedding), and at every step the
 * residuals of every unit inside its guidance window, scaled and summed in order (MultiControlNetModel).
 *
 * <p>Window: at loop index i of T evaluations, a unit is kept unless i/T &lt; start or (i+1)/T &gt; end; diffusers
 * still runs a net that is not kept, with scale 0, whose residuals are then zeros: adding nothing is the same, so
 * such a net is skipped. CFG: the nets see the [uncond, cond] batch and the image twice; in guess mode they see
 * the cond half only and the uncond half gets zero residuals.
 */
final class ControlNetGuidance implements DenoisingLoop.Residuals {
    private final List<ControlNetUnit> units;
    private final List<Tensor> embeddings = new ArrayList<>();
    private final boolean guessMode, cfg;
    private final int n;
    private final Tensor context, condContext;

    /**
     * @param context the UNet's text context (uncond ⧺ cond with CFG)
     * @param crop    the inpainting crop box (control images are cropped like the init image), or null
     */
    ControlNetGuidance(List<ControlNetUnit> units, boolean guessMode, UNet2DConditionConfig unet, String modelName,
                       int width, int height, VaeImageProcessor.CropBox crop, int n, boolean cfg, Tensor context) {
        this.units = List.copyOf(units);
        // diffusers: guess_mode or the (first) net's global_pool_conditions.
        this.guessMode = guessMode || units.getFirst().model().config().globalPoolConditions();
        this.cfg = cfg;
        this.n = n;
        this.context = context;
        this.condContext = cfg ? condHalf(context) : context;
        for (ControlNetUnit u : units) {
            checkFits(u.model().name(), u.model().config(), unet, modelName);
            float[] chw = VaeImageProcessor.preprocessControlImage(u.preprocessedImage(), width, height, crop);
            Tensor image = TensorOps.nchwToNhwc(chw, 1, 3, height, width);
            Tensor one = u.model().embedCondition(image);
            int copies = cfg && !this.guessMode ? 2 * n : n;
            embeddings.add(repeat(one, copies));
        }
    }

    /** A ControlNet steers the UNet's down path: both must have the same blocks and text width. */
    static void checkFits(String net, ControlNetConfig config, UNet2DConditionConfig unet, String modelName) {
        UNet2DConditionConfig c = config.unet();
        if (c.crossAttentionDim() != unet.crossAttentionDim())
            throw new IllegalArgumentException("ControlNet " + net + " is for " + ControlNets.family(c.crossAttentionDim())
                    + " but the model " + modelName + " is " + ControlNets.family(unet.crossAttentionDim()));
        if (!c.blockOutChannels().equals(unet.blockOutChannels()) || !c.layersPerBlock().equals(unet.layersPerBlock())
                || !c.downBlockTypes().equals(unet.downBlockTypes()))
            throw new IllegalArgumentException("ControlNet " + net + " has blocks " + c.blockOutChannels() + " × "
                    + c.layersPerBlock() + " layers but the model " + modelName + "'s UNet has " + unet.blockOutChannels()
                    + " × " + unet.layersPerBlock() + ": it was made for another architecture");
        if (c.inChannels() != 4)
            throw new IllegalArgumentException("ControlNet " + net + " takes " + c.inChannels()
                    + " latent channels; only ControlNets over 4-channel latents are supported");
    }

    @Override
    public UNetResiduals at(int i, int total, float[] x, Tensor unetInput, float t) {
        boolean guessCfg = guessMode && cfg;
        Tensor sample = guessCfg ? TensorOps.nchwToNhwc(x, n, unetInput.dim(3), unetInput.dim(1), unetInput.dim(2)) : unetInput;
        Tensor ctx = guessCfg ? condContext : context;
        float[] ts = new float[sample.dim(0)];
        Arrays.fill(ts, t);
        UNetResiduals sum = null;
        for (int k = 0; k < units.size(); k++) {
            ControlNetUnit u = units.get(k);
            boolean keep = !((double) i / total < u.guidanceStart() || (double) (i + 1) / total > u.guidanceEnd());
            if (!keep) continue;
            UNetResiduals r = u.model().forwardEmbedded(sample, ts, ctx, embeddings.get(k), (float) u.scale(), guessMode);
            sum = sum == null ? r : add(sum, r);
        }
        if (sum == null || !guessCfg) return sum;
        List<Tensor> down = new ArrayList<>();
        for (Tensor d : sum.down()) down.add(zeroUncond(d));
        return new UNetResiduals(down, zeroUncond(sum.mid()));
    }

    /** a += b (in place, in order) for every residual; b's arrays go back to the pool. */
    private static UNetResiduals add(UNetResiduals a, UNetResiduals b) {
        for (int j = 0; j < a.down().size(); j++) addInto(a.down().get(j), b.down().get(j));
        addInto(a.mid(), b.mid());
        return a;
    }

    private static void addInto(Tensor a, Tensor b) {
        if (a.size() != b.size())
            throw new IllegalArgumentException("ControlNets of one request give residuals of different shapes: "
                    + a + " vs " + b + " (one of them pools globally?)");
        float[] x = a.data(), y = b.data();
        for (int i = 0; i < x.length; i++) x[i] += y[i];
        Buffers.recycle(b);
    }

    /** [zeros, r]: the unconditional half gets nothing (guess mode with CFG). */
    private static Tensor zeroUncond(Tensor r) {
        int[] shape = r.shape();
        shape[0] *= 2;
        float[] out = new float[2 * r.size()];
        System.arraycopy(r.data(), 0, out, r.size(), r.size());
        Buffers.recycle(r);
        return new Tensor(out, shape);
    }

    private static Tensor condHalf(Tensor context) {
        int half = context.size() / 2;
        int[] shape = context.shape();
        shape[0] /= 2;
        return new Tensor(Arrays.copyOfRange(context.data(), half, context.size()), shape);
    }

    private static Tensor repeat(Tensor one, int copies) {
        if (copies == 1) return one;
        float[] out = new float[one.size() * copies];
        for (int b = 0; b < copies; b++) System.arraycopy(one.data(), 0, out, b * one.size(), one.size());
        int[] shape = one.shape();
        shape[0] = copies;
        Buffers.recycle(one);
        return new Tensor(out, shape);
    }
}
