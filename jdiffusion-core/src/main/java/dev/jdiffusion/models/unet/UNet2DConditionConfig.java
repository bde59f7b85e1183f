package dev.jdiffusion.models.unet;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * diffusers' UNet2DConditionModel config, the fields SD 1.x and 2.x use. Per-block values (heads,
 * layers, transformer depth) are expanded to one entry per down block. Values that would change the
 * architecture in ways not implemented are refused by name rather than silently ignored.
 */
public record UNet2DConditionConfig(
        int inChannels,
        int outChannels,
        List<Integer> blockOutChannels,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        List<Integer> layersPerBlock,
        /** number of attention heads per down block (diffusers' attention_head_dim, which is a head count) */
        List<Integer> numAttentionHeads,
        List<Integer> transformerLayersPerBlock,
        int crossAttentionDim,
        int normNumGroups,
        double normEps,
        boolean flipSinToCos,
        float freqShift,
        int downsamplePadding,
        float midBlockScaleFactor,
        boolean useLinearProjection,
        boolean upcastAttention) {

    public static final String CROSS_ATTN_DOWN = "CrossAttnDownBlock2D", DOWN = "DownBlock2D";
    public static final String CROSS_ATTN_UP = "CrossAttnUpBlock2D", UP = "UpBlock2D";
    public static final String MID = "UNetMidBlock2DCrossAttn";

    public int timeEmbedDim() { return blockOutChannels.get(0) * 4; }

    public static UNet2DConditionConfig from(JsonConfig c) {
        List<Integer> boc = c.getIntList("block_out_channels");
        int n = boc.size();
        if (n == 0 || boc.stream().anyMatch(ch -> ch <= 0))
            throw new ModelFormatException(c.file(), "block_out_channels", "must list one positive channel count per block, got " + boc);
        List<String> down = c.getStringList("down_block_types"), up = c.getStringList("up_block_types");
        if (down.size() != n) throw new ModelFormatException(c.file(), "down_block_types", "has " + down.size()
                + " entries but block_out_channels has " + n);
        if (up.size() != n) throw new ModelFormatException(c.file(), "up_block_types", "has " + up.size()
                + " entries but block_out_channels has " + n);
        for (String t : down) if (!t.equals(CROSS_ATTN_DOWN) && !t.equals(DOWN))
            throw new ModelFormatException(c.file(), "down_block_types", "unsupported block type '" + t
                    + "' (supported: " + CROSS_ATTN_DOWN + ", " + DOWN + ")");
        for (String t : up) if (!t.equals(CROSS_ATTN_UP) && !t.equals(UP))
            throw new ModelFormatException(c.file(), "up_block_types", "unsupported block type '" + t
                    + "' (supported: " + CROSS_ATTN_UP + ", " + UP + ")");
        c.getEnum("mid_block_type", MID, MID);
        c.getEnum("act_fn", "silu", "silu");
        c.getEnum("time_embedding_type", "positional", "positional");
        c.getEnum("resnet_time_scale_shift", "default", "default");
        c.getEnum("attention_type", "default", "default");
        for (String key : List.of("class_embed_type", "addition_embed_type", "encoder_hid_dim", "time_cond_proj_dim",
                "num_class_embeds", "time_embedding_dim", "timestep_post_act", "time_embedding_act_fn"))
            if (c.has(key)) throw new ModelFormatException(c.file(), key, "unsupported value " + c.root().get(key)
                    + " (only null is supported for SD 1.x/2.x UNets)");
        for (String key : List.of("center_input_sample", "dual_cross_attention", "only_cross_attention", "resnet_skip_time_act"))
            if (c.getBoolean(key, false)) throw new ModelFormatException(c.file(), key, "unsupported value true");
        if (c.getInt("conv_in_kernel", 3) != 3) throw new ModelFormatException(c.file(), "conv_in_kernel", "only 3 is supported");
        if (c.getInt("conv_out_kernel", 3) != 3) throw new ModelFormatException(c.file(), "conv_out_kernel", "only 3 is supported");
        if (c.getDouble("resnet_out_scale_factor", 1.0) != 1.0)
            throw new ModelFormatException(c.file(), "resnet_out_scale_factor", "only 1.0 is supported");
        if (c.has("cross_attention_dim") && c.root().get("cross_attention_dim").isArray())
            throw new ModelFormatException(c.file(), "cross_attention_dim", "per-block values are not supported");

        // diffusers' naming quirk: attention_head_dim holds the number of heads unless num_attention_heads is set.
        String headsKey = c.has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim";
        List<Integer> heads = c.getIntOrList(headsKey, n, 8);
        for (int i = 0; i < n; i++)
            if (heads.get(i) <= 0)
                throw new ModelFormatException(c.file(), headsKey, "must be a positive number of heads, got " + heads.get(i)
                        + " for block " + i);
            else if (boc.get(i) % heads.get(i) != 0)
                throw new ModelFormatException(c.file(), headsKey, heads.get(i) + " heads do not divide "
                        + boc.get(i) + " channels of block " + i);
        // Every GroupNorm runs over a block's channels (or sums of them, in the up blocks' skip concats).
        int groups = c.getInt("norm_num_groups", 32);
        for (int i = 0; i < n; i++)
            if (groups <= 0 || boc.get(i) % groups != 0)
                throw new ModelFormatException(c.file(), "norm_num_groups", groups + " groups do not divide "
                        + boc.get(i) + " channels of block " + i);
        return new UNet2DConditionConfig(
                c.getInt("in_channels", 4), c.getInt("out_channels", 4), boc, down, up,
                c.getIntOrList("layers_per_block", n, 2), heads,
                c.getIntOrList("transformer_layers_per_block", n, 1),
                c.getInt("cross_attention_dim", 1280),
                groups, c.getDouble("norm_eps", 1e-5),
                c.getBoolean("flip_sin_to_cos", true), (float) c.getDouble("freq_shift", 0),
                c.getInt("downsample_padding", 1), (float) c.getDouble("mid_block_scale_factor", 1),
                c.getBoolean("use_linear_projection", false), c.getBoolean("upcast_attention", false));
    }

    static <T> List<T> reversed(List<T> list) {
        List<T> r = new ArrayList<>(list);
        Collections.reverse(r);
        return r;
    }
}
