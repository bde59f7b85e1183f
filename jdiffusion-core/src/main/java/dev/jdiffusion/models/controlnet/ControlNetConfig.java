package dev.jdiffusion.models.controlnet;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' ControlNetModel config: the down half of a UNet2DConditionModel (its config fields mean the same
 * and are checked the same way, {@link #unet()}) plus the conditioning embedding.
 *
 * @param unet                             the UNet fields (block_out_channels, down_block_types, heads, ...)
 * @param conditioningChannels             channels of the control image (3)
 * @param conditioningEmbeddingOutChannels the conditioning embedding's widths, each level after the first
 *                                         halving the image (SD: 16, 32, 96, 256 take 512² to 64²)
 * @param bgr                              {@code controlnet_conditioning_channel_order} "bgr": the image's
 *                                         channels are reversed before the embedding
 * @param globalPoolConditions             residuals averaged over the image (shuffle ControlNets); implies guess mode
 */
public record ControlNetConfig(UNet2DConditionConfig unet, int conditioningChannels,
                               List<Integer> conditioningEmbeddingOutChannels, boolean bgr,
                               boolean globalPoolConditions) {

    public ControlNetConfig {
        conditioningEmbeddingOutChannels = List.copyOf(conditioningEmbeddingOutChannels);
    }

    public static ControlNetConfig from(JsonConfig c) {
        // A ControlNet has no up blocks; the UNet config reader wants their types, so give it the mirror image.
        List<String> down = c.getStringList("down_block_types");
        List<String> up = new ArrayList<>();
        for (int i = down.size() - 1; i >= 0; i--)
            up.add(down.get(i).equals(UNet2DConditionConfig.CROSS_ATTN_DOWN) ? UNet2DConditionConfig.CROSS_ATTN_UP : UNet2DConditionConfig.UP);
        JsonConfig asUnet = c.edited(o -> {
            var arr = o.putArray("up_block_types");
            up.forEach(arr::add);
        });
        UNet2DConditionConfig unet = UNet2DConditionConfig.from(asUnet);
        List<Integer> emb = c.has("conditioning_embedding_out_channels")
                ? c.getIntList("conditioning_embedding_out_channels") : List.of(16, 32, 96, 256);
        if (emb.isEmpty() || emb.stream().anyMatch(v -> v <= 0))
            throw new ModelFormatException(c.file(), "conditioning_embedding_out_channels", "must list positive channel counts, got " + emb);
        int cond = c.getInt("conditioning_channels", 3);
        if (cond <= 0) throw new ModelFormatException(c.file(), "conditioning_channels", "must be positive, got " + cond);
        String order = c.getEnum("controlnet_conditioning_channel_order", "rgb", "rgb", "bgr");
        return new ControlNetConfig(unet, cond, emb, order.equals("bgr"), c.getBoolean("global_pool_conditions", false));
    }

    /**
     * The config of a ControlNet made from a UNet (diffusers' {@code ControlNetModel.from_unet}): the UNet's blocks,
     * heads and widths, over {@code inChannels} latent channels, with the given conditioning embedding.
     */
    public static ControlNetConfig fromUnet(UNet2DConditionConfig u, int inChannels, int conditioningChannels,
                                            List<Integer> conditioningEmbeddingOutChannels) {
        UNet2DConditionConfig c = new UNet2DConditionConfig(inChannels, u.outChannels(), u.blockOutChannels(),
                u.downBlockTypes(), u.upBlockTypes(), u.layersPerBlock(), u.numAttentionHeads(),
                u.transformerLayersPerBlock(), u.crossAttentionDim(), u.normNumGroups(), u.normEps(), u.flipSinToCos(),
                u.freqShift(), u.downsamplePadding(), u.midBlockScaleFactor(), u.useLinearProjection(), u.upcastAttention());
        return new ControlNetConfig(c, conditioningChannels, conditioningEmbeddingOutChannels, false, false);
    }

    /** How much the conditioning embedding shrinks the control image: 2^(levels − 1) (8 for SD). */
    public int conditioningDownscale() { return 1 << (conditioningEmbeddingOutChannels.size() - 1); }
}
