package dev.jdiffusion.io.checkpoint;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.checkpoint.KeyMap.Rename;

import java.util.List;

/**
 * The key maps of the original Stable Diffusion layout (CompVis/Stability "LDM" checkpoints), ported from
 * diffusers' {@code convert_ldm_unet_checkpoint}, {@code convert_ldm_vae_checkpoint},
 * {@code convert_ldm_clip_checkpoint} and {@code convert_open_clip_checkpoint} (single_file_utils.py), run
 * the other way: from the diffusers name the model code asks for to the key in the file.
 */
final class LdmKeyMaps {
    private LdmKeyMaps() {}

    static final String UNET_PREFIX = "model.diffusion_model.";
    static final String CLIP_PREFIX = "cond_stage_model.transformer.";
    static final String OPEN_CLIP_PREFIX = "cond_stage_model.model.";
    /** LDM checkpoints keep the VAE under first_stage_model.; a few merges use vae. (as diffusers' LDM_VAE_KEYS). */
    /** Where a VAE's tensors live: inside a whole checkpoint, or at the top of a standalone VAE file. */
    static final List<String> VAE_PREFIXES = List.of("first_stage_model.", "vae.", "");

    /** ResnetBlock2D in the UNet: openaimodel's ResBlock names its layers by position in nn.Sequentials. */
    private static final List<Rename> UNET_RESNET = List.of(
            Rename.of("norm1.", "in_layers.0."),
            Rename.of("conv1.", "in_layers.2."),
            Rename.of("time_emb_proj.", "emb_layers.1."),
            Rename.of("norm2.", "out_layers.0."),
            Rename.of("conv2.", "out_layers.3."),
            Rename.of("conv_shortcut.", "skip_connection."));

    /** ResnetBlock2D in the VAE: the same names, but the 1×1 shortcut is nin_shortcut. */
    private static final List<Rename> VAE_RESNET = List.of(Rename.of("conv_shortcut.", "nin_shortcut."));

    /**
     * The VAE mid-block attention: 1×1 convs q, k, v, proj_out (the shapes are fine as-is for Linear).
     * Folders saved by older diffusers (its AttentionBlock) name them query, key, value, proj_attn:
     * listed after the current names, which the loader asks for, so that only the export reads them.
     */
    private static final List<Rename> VAE_ATTENTION = List.of(
            Rename.of("group_norm.", "norm."),
            Rename.of("to_q.", "q."),
            Rename.of("to_k.", "k."),
            Rename.of("to_v.", "v."),
            Rename.of("to_out.0.", "proj_out."),
            Rename.of("query.", "q."),
            Rename.of("key.", "k."),
            Rename.of("value.", "v."),
            Rename.of("proj_attn.", "proj_out."));

    /**
     * UNet2DConditionModel ↔ openaimodel's UNetModel. input_blocks.0 is conv_in; then, per down block,
     * one input block per layer (resnet at .0, transformer at .1) and one for the downsampler (.0.op);
     * middle_block is resnet, transformer, resnet; output_blocks hold, per up block, layers + 1 entries
     * (resnet .0, transformer .1), the upsampler sitting after them in the block's last entry.
     */
    static KeyMap unet(JsonConfig config) {
        String p = UNET_PREFIX;
        int n = config.getIntList("block_out_channels").size();
        List<Integer> layers = config.getIntOrList("layers_per_block", n, 2);
        List<String> up = config.getStringList("up_block_types");
        if (up.size() != n)
            throw new ModelFormatException(config.file(), "up_block_types", "has " + up.size()
                    + " entries but block_out_channels has " + n);
        KeyMap m = new KeyMap()
                .put("conv_norm_out.", p + "out.0.")
                .put("conv_out.", p + "out.2.");
        downAndMid(m, p, layers);
        int k = 0;
        for (int i = 0; i < n; i++) {
            int count = layers.get(n - 1 - i) + 1;
            for (int j = 0; j < count; j++, k++) {
                m.put("up_blocks." + i + ".resnets." + j + ".", p + "output_blocks." + k + ".0.", UNET_RESNET);
                m.put("up_blocks." + i + ".attentions." + j + ".", p + "output_blocks." + k + ".1.");
            }
            // The upsampler follows the resnet (.1), or the resnet and the transformer (.2).
            int slot = up.get(i).startsWith("CrossAttn") ? 2 : 1;
            if (i < n - 1) m.put("up_blocks." + i + ".upsamplers.0.conv.", p + "output_blocks." + (k - 1) + "." + slot + ".conv.");
        }
        return m;
    }

    /**
     * The time embedding, conv_in, down path and mid block, which a UNet and a ControlNet share: per down block one
     * input block per layer (resnet at .0, transformer at .1) and one for the downsampler (.0.op) but the last.
     */
    private static KeyMap downAndMid(KeyMap m, String p, List<Integer> layers) {
        m.put("time_embedding.linear_1.", p + "time_embed.0.")
                .put("time_embedding.linear_2.", p + "time_embed.2.")
                .put("conv_in.", p + "input_blocks.0.0.");
        int n = layers.size(), k = 1;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < layers.get(i); j++, k++) {
                m.put("down_blocks." + i + ".resnets." + j + ".", p + "input_blocks." + k + ".0.", UNET_RESNET);
                m.put("down_blocks." + i + ".attentions." + j + ".", p + "input_blocks." + k + ".1.");
            }
            if (i < n - 1) m.put("down_blocks." + i + ".downsamplers.0.conv.", p + "input_blocks." + k++ + ".0.op.");
        }
        return m.put("mid_block.resnets.0.", p + "middle_block.0.", UNET_RESNET)
                .put("mid_block.attentions.0.", p + "middle_block.1.")
                .put("mid_block.resnets.1.", p + "middle_block.2.", UNET_RESNET);
    }

    /**
     * ControlNetModel ↔ the original ControlNet layout (cldm's ControlNet, {@code control_model.*} inside a
     * checkpoint or at the top of a standalone file), as diffusers' {@code convert_controlnet_checkpoint} reads
     * it: the UNet's down half under the same names, the hint block (input_hint_block.0 is conv_in, the convolutions
     * at 2, 4, ... the embedding's blocks, the last one conv_out; SiLUs between them hold no weights), the zero
     * convolutions (zero_convs.i.0) and middle_block_out.0.
     *
     * @param prefix           "control_model." or ""
     * @param layers           layers per down block
     * @param embeddingLevels  the conditioning embedding's widths (levels); its blocks are 2·(levels − 1)
     */
    static KeyMap controlNet(String prefix, List<Integer> layers, int embeddingLevels) {
        KeyMap m = downAndMid(new KeyMap(), prefix, layers);
        int blocks = 2 * (embeddingLevels - 1);
        m.put("controlnet_cond_embedding.conv_in.", prefix + "input_hint_block.0.");
        for (int b = 0; b < blocks; b++) m.put("controlnet_cond_embedding.blocks." + b + ".", prefix + "input_hint_block." + 2 * (b + 1) + ".");
        m.put("controlnet_cond_embedding.conv_out.", prefix + "input_hint_block." + 2 * (blocks + 1) + ".");
        int zero = 1;
        for (int i = 0; i < layers.size(); i++) zero += layers.get(i) + (i < layers.size() - 1 ? 1 : 0);
        for (int z = 0; z < zero; z++) m.put("controlnet_down_blocks." + z + ".", prefix + "zero_convs." + z + ".0.");
        return m.put("controlnet_mid_block.", prefix + "middle_block_out.0.");
    }

    /**
     * AutoencoderKL ↔ LDM's Encoder/Decoder. The encoder's down.i is down_blocks.i; the decoder's up list
     * runs the other way (up_blocks.0 is the deepest, LDM's highest up.N). LDM numbers decoder levels from
     * 0, so the deepest is up.(n-1); diffusers' own export script always numbers from a 4-level VAE
     * (up.(3-i)), so the highest index present in the file is taken as the deepest level.
     */
    static KeyMap vae(JsonConfig config, TensorFile file) {
        String p = vaePrefix(file);
        int top = config.getIntList("block_out_channels").size() - 1;
        String upPrefix = p + "decoder.up.";
        for (String name : file.names()) {
            if (!name.startsWith(upPrefix)) continue;
            String rest = name.substring(upPrefix.length());
            int dot = rest.indexOf('.');
            if (dot > 0 && rest.substring(0, dot).chars().allMatch(Character::isDigit))
                top = Math.max(top, Integer.parseInt(rest.substring(0, dot)));
        }
        return vae(config, p, top);
    }

    /**
     * The VAE as diffusers' export script writes it, under first_stage_model.: its decoder levels are
     * numbered from a 4-level VAE (up.3 is the deepest) whatever the depth, which the loader above reads.
     */
    static KeyMap vaeForExport(JsonConfig config) {
        return vae(config, VAE_PREFIXES.getFirst(), Math.max(3, config.getIntList("block_out_channels").size() - 1));
    }

    /** @param top the decoder's deepest level in the original numbering (up.top is diffusers' up_blocks.0) */
    private static KeyMap vae(JsonConfig config, String p, int top) {
        int n = config.getIntList("block_out_channels").size();
        KeyMap m = new KeyMap().put("quant_conv.", p + "quant_conv.").put("post_quant_conv.", p + "post_quant_conv.");
        for (String part : List.of("encoder.", "decoder.")) {
            m.put(part + "conv_in.", p + part + "conv_in.")
                    .put(part + "conv_out.", p + part + "conv_out.")
                    .put(part + "conv_norm_out.", p + part + "norm_out.")
                    .put(part + "mid_block.resnets.0.", p + part + "mid.block_1.", VAE_RESNET)
                    .put(part + "mid_block.resnets.1.", p + part + "mid.block_2.", VAE_RESNET)
                    .put(part + "mid_block.attentions.0.", p + part + "mid.attn_1.", VAE_ATTENTION);
        }
        int layers = config.getInt("layers_per_block", 1);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < layers; j++)
                m.put("encoder.down_blocks." + i + ".resnets." + j + ".", p + "encoder.down." + i + ".block." + j + ".", VAE_RESNET);
            for (int j = 0; j < layers + 1; j++)
                m.put("decoder.up_blocks." + i + ".resnets." + j + ".", p + "decoder.up." + (top - i) + ".block." + j + ".", VAE_RESNET);
            m.put("encoder.down_blocks." + i + ".downsamplers.0.", p + "encoder.down." + i + ".downsample.");
            m.put("decoder.up_blocks." + i + ".upsamplers.0.", p + "decoder.up." + (top - i) + ".upsample.");
        }
        return m;
    }

    static String vaePrefix(TensorFile file) {
        for (String p : VAE_PREFIXES)
            if (file.contains(p + "decoder.conv_in.weight") || file.contains(p + "encoder.conv_in.weight")) return p;
        return VAE_PREFIXES.getFirst();
    }

    /**
     * transformers' CLIPTextModel, as SD 1.x saves it under cond_stage_model.transformer.: the same
     * names. Checkpoints made with old transformers versions lack the text_model. level.
     */
    static KeyMap clip(TensorFile file) {
        boolean flat = !file.contains(CLIP_PREFIX + "text_model.embeddings.token_embedding.weight")
                && file.contains(CLIP_PREFIX + "embeddings.token_embedding.weight");
        return new KeyMap().put("text_model.", flat ? CLIP_PREFIX : CLIP_PREFIX + "text_model.");
    }

    /** CLIPTextModel as the export writes it: with the text_model. level, as transformers saves it today. */
    static KeyMap clipForExport() { return new KeyMap().put("text_model.", CLIP_PREFIX + "text_model."); }

    /**
     * OpenCLIP's text tower (SD 2.x) as transformers' CLIPTextModel: resblocks are encoder layers, and
     * the fused attention input projection in_proj_weight [3D, D] holds q, k and v one after the other.
     * Extra keys (text_projection, logit_scale, the 24th resblock that diffusers drops) are never asked for.
     */
    static KeyMap openClip(JsonConfig textConfig) {
        String p = OPEN_CLIP_PREFIX;
        KeyMap m = new KeyMap()
                .put("text_model.embeddings.token_embedding.weight", p + "token_embedding.weight")
                .put("text_model.embeddings.position_embedding.weight", p + "positional_embedding")
                .put("text_model.final_layer_norm.", p + "ln_final.");
        List<Rename> layer = List.of(
                Rename.of("layer_norm1.", "ln_1."),
                Rename.of("layer_norm2.", "ln_2."),
                Rename.of("self_attn.out_proj.", "attn.out_proj."),
                new Rename("self_attn.q_proj.weight", "attn.in_proj_weight", 0, 3),
                new Rename("self_attn.k_proj.weight", "attn.in_proj_weight", 1, 3),
                new Rename("self_attn.v_proj.weight", "attn.in_proj_weight", 2, 3),
                new Rename("self_attn.q_proj.bias", "attn.in_proj_bias", 0, 3),
                new Rename("self_attn.k_proj.bias", "attn.in_proj_bias", 1, 3),
                new Rename("self_attn.v_proj.bias", "attn.in_proj_bias", 2, 3),
                Rename.of("mlp.fc1.", "mlp.c_fc."),
                Rename.of("mlp.fc2.", "mlp.c_proj."));
        int layers = textConfig.getInt("num_hidden_layers");
        for (int i = 0; i < layers; i++)
            m.put("text_model.encoder.layers." + i + ".", p + "transformer.resblocks." + i + ".", layer);
        return m;
    }
}
