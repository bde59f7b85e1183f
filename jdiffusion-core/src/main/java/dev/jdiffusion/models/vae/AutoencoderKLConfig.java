package dev.jdiffusion.models.vae;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

import java.util.List;

/** diffusers' AutoencoderKL config. */
public record AutoencoderKLConfig(
        int inChannels,
        int outChannels,
        int latentChannels,
        List<Integer> blockOutChannels,
        int layersPerBlock,
        int normNumGroups,
        float scalingFactor,
        boolean useQuantConv,
        boolean usePostQuantConv,
        boolean midBlockAddAttention) {

    /** Pixels per latent along each side: 2^(number of downsamplers). */
    public int downscaleFactor() { return 1 << (blockOutChannels.size() - 1); }

    public static AutoencoderKLConfig from(JsonConfig c) {
        List<Integer> boc = c.getIntList("block_out_channels");
        if (boc.isEmpty() || boc.stream().anyMatch(ch -> ch <= 0))
            throw new ModelFormatException(c.file(), "block_out_channels", "must list one positive channel count per block, got " + boc);
        int groups = c.getInt("norm_num_groups", 32);
        for (int i = 0; i < boc.size(); i++)
            if (groups <= 0 || boc.get(i) % groups != 0)
                throw new ModelFormatException(c.file(), "norm_num_groups", groups + " groups do not divide "
                        + boc.get(i) + " channels of block " + i);
        List<String> down = c.getStringList("down_block_types"), up = c.getStringList("up_block_types");
        checkTypes(c, "down_block_types", down, "DownEncoderBlock2D", boc.size());
        checkTypes(c, "up_block_types", up, "UpDecoderBlock2D", boc.size());
        c.getEnum("act_fn", "silu", "silu");
        for (String key : List.of("shift_factor", "latents_mean", "latents_std"))
            if (c.has(key)) throw new ModelFormatException(c.file(), key, "unsupported value " + c.root().get(key)
                    + " (only null is supported for SD 1.x/2.x VAEs)");
        return new AutoencoderKLConfig(c.getInt("in_channels", 3), c.getInt("out_channels", 3),
                c.getInt("latent_channels", 4), boc, c.getInt("layers_per_block", 1), groups,
                (float) c.getDouble("scaling_factor", 0.18215), c.getBoolean("use_quant_conv", true),
                c.getBoolean("use_post_quant_conv", true), c.getBoolean("mid_block_add_attention", true));
    }

    private static void checkTypes(JsonConfig c, String key, List<String> types, String supported, int n) {
        if (types.size() != n) throw new ModelFormatException(c.file(), key, "has " + types.size()
                + " entries but block_out_channels has " + n);
        for (String t : types) if (!t.equals(supported))
            throw new ModelFormatException(c.file(), key, "unsupported block type '" + t + "' (supported: " + supported + ")");
    }
}
