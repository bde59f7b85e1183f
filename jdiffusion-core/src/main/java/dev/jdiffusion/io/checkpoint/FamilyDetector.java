package dev.jdiffusion.io.checkpoint;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFile;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

import static dev.jdiffusion.io.checkpoint.LdmKeyMaps.CLIP_PREFIX;
import static dev.jdiffusion.io.checkpoint.LdmKeyMaps.OPEN_CLIP_PREFIX;
import static dev.jdiffusion.io.checkpoint.LdmKeyMaps.UNET_PREFIX;

/**
 * Tells which Stable Diffusion generation a single-file checkpoint holds, from tensor names first (as
 * diffusers' {@code infer_diffusers_model_type} does), shapes second; refuses, by name, what jdiffusion
 * cannot run yet (SDXL, depth-to-image, instruct-pix2pix, SD3, ...); inpainting checkpoints are recognised.
 */
public final class FamilyDetector {
    private FamilyDetector() {}

    /**
     * What was found.
     *
     * @param family            SD 1.x or SD 2.x
     * @param textEncoder       how the text encoder is stored, for messages ("CLIP under cond_stage_model.transformer.")
     * @param crossAttentionDim the UNet's cross-attention width (the text embedding width), or -1 when not found
     * @param nonStandard       where the shapes differ from the published model of the family (SD 1.5 / SD 2.1):
     *                          empty when the built-in configs fit
     */
    public record Detection(ModelFamily family, String textEncoder, int crossAttentionDim, List<String> nonStandard) {
        public boolean standardSize() { return nonStandard.isEmpty(); }

        public String describe() {
            return family.label() + " (text encoder: " + textEncoder + ", cross-attention width "
                    + (crossAttentionDim < 0 ? "unknown" : crossAttentionDim) + ")";
        }
    }

    /** Detects the family; a {@link ModelFormatException} naming what was found when it is not SD 1.x/2.x. */
    public static Detection detect(TensorFile file) {
        refuseUnsupported(file);
        int width = crossAttentionDim(file);
        boolean clip = file.contains(CLIP_PREFIX + "text_model.embeddings.token_embedding.weight")
                || file.contains(CLIP_PREFIX + "embeddings.token_embedding.weight");
        boolean openClip = file.contains(OPEN_CLIP_PREFIX + "token_embedding.weight");
        ModelFamily family;
        String textEncoder;
        if (clip && openClip) {
            throw new ModelFormatException(file.file(), null, "holds two text encoders (CLIP under " + CLIP_PREFIX
                    + " and OpenCLIP under " + OPEN_CLIP_PREFIX + "): not a Stable Diffusion 1.x or 2.x checkpoint");
        } else if (clip) {
            family = ModelFamily.SD1;
            textEncoder = "CLIP under " + CLIP_PREFIX;
        } else if (openClip) {
            family = ModelFamily.SD2;
            textEncoder = "OpenCLIP under " + OPEN_CLIP_PREFIX;
        } else if (width == ModelFamily.SD1.crossAttentionDim() || width == ModelFamily.SD2.crossAttentionDim()) {
            // No text encoder in the file: the UNet's text width still tells the generation.
            family = width == ModelFamily.SD1.crossAttentionDim() ? ModelFamily.SD1 : ModelFamily.SD2;
            textEncoder = "none found";
        } else {
            throw new ModelFormatException(file.file(), null, "has a Stable Diffusion UNet but no text encoder ("
                    + CLIP_PREFIX + "* or " + OPEN_CLIP_PREFIX + "*), and its cross-attention width " + width
                    + " is neither SD 1.x's 768 nor SD 2.x's 1024: cannot tell which generation it is");
        }
        return new Detection(family, textEncoder, width, nonStandard(file, family));
    }

    /** The text embedding width the UNet's cross-attention expects: the last dim of any attn2.to_k. */
    private static int crossAttentionDim(TensorFile file) {
        for (String name : file.names())
            if (name.startsWith(UNET_PREFIX) && name.endsWith(".attn2.to_k.weight"))
                return file.tensor(name).dim(-1);
        return -1;
    }

    /** UNet input channels of an inpainting model: latents ⧺ mask ⧺ masked-image latents. */
    public static final int INPAINTING_CHANNELS = 9;

    /**
     * True for an inpainting checkpoint (its UNet takes {@value #INPAINTING_CHANNELS} input channels), as diffusers'
     * {@code infer_diffusers_model_type} tells "inpainting" / "inpainting_v2" from the conv_in shape.
     */
    public static boolean isInpainting(TensorFile file) {
        String convIn = UNET_PREFIX + "input_blocks.0.0.weight";
        return file.contains(convIn) && file.tensor(convIn).rank() == 4 && file.tensor(convIn).dim(1) == INPAINTING_CHANNELS;
    }

    private static void refuseUnsupported(TensorFile file) {
        if (has(file, "conditioner.embedders.")) {
            String which = file.contains("conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias") ? "SDXL base"
                    : file.contains("conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias") ? "SDXL refiner"
                    : "SDXL-style";
            throw unsupported(file, "a Stable Diffusion XL checkpoint (" + which + ": text encoders under conditioner.embedders.*)");
        }
        if (has(file, UNET_PREFIX + "joint_blocks.") || has(file, "joint_blocks."))
            throw unsupported(file, "a Stable Diffusion 3 checkpoint (MMDiT joint_blocks.*)");
        if (has(file, UNET_PREFIX + "double_blocks.") || has(file, "double_blocks."))
            throw unsupported(file, "a Flux checkpoint (double_blocks.*)");
        String convIn = UNET_PREFIX + "input_blocks.0.0.weight";
        if (!file.contains(convIn)) {
            if (has(file, "control_model."))
                throw unsupported(file, "a ControlNet (control_model.*), not a whole pipeline");
            if (file.contains("conv_in.weight") || file.contains("text_model.embeddings.token_embedding.weight"))
                throw new ModelFormatException(file.file(), null, "holds one model part in diffusers' names, not a"
                        + " single-file Stable Diffusion checkpoint: open the diffusers folder it belongs to instead");
            throw new ModelFormatException(file.file(), convIn, "not a Stable Diffusion 1.x/2.x checkpoint: it has no"
                    + " UNet (" + UNET_PREFIX + "input_blocks.*); it holds " + summary(file));
        }
        int inChannels = file.tensor(convIn).dim(1);
        if (inChannels != 4 && inChannels != INPAINTING_CHANNELS) {
            String what = switch (inChannels) {
                case 8 -> "an instruct-pix2pix model";
                case 7 -> "the x4 upscaler";
                case 5 -> "a depth-to-image model";
                default -> "a UNet with " + inChannels + " input channels";
            };
            throw unsupported(file, what + " (" + inChannels + " UNet input channels; text-to-image models have 4,"
                    + " inpainting models 9)");
        }
    }

    private static ModelFormatException unsupported(TensorFile file, String what) {
        return new ModelFormatException(file.file(), null, "this is " + what
                + ", which is not supported (yet): jdiffusion runs Stable Diffusion 1.x and 2.x text-to-image and inpainting checkpoints");
    }

    /**
     * Where the file differs from the family's published architecture, checked on one tensor per part
     * (first layer widths and the text width), against the built-in configs.
     */
    private static List<String> nonStandard(TensorFile file, ModelFamily family) {
        JsonConfig unet = BuiltinConfigs.read(family, "unet", "config.json");
        JsonConfig vae = BuiltinConfigs.read(family, "vae", "config.json");
        JsonConfig text = BuiltinConfigs.read(family, "text_encoder", "config.json");
        int ch0 = unet.getIntList("block_out_channels").getFirst(), d = text.getInt("hidden_size");
        List<String> out = new ArrayList<>();
        check(file, out, UNET_PREFIX + "input_blocks.0.0.weight", ch0, isInpainting(file) ? INPAINTING_CHANNELS : unet.getInt("in_channels"), 3, 3);
        check(file, out, UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", ch0, unet.getInt("cross_attention_dim"));
        check(file, out, LdmKeyMaps.vaePrefix(file) + "encoder.conv_in.weight", vae.getIntList("block_out_channels").getFirst(), 3, 3, 3);
        String token = family == ModelFamily.SD2 ? OPEN_CLIP_PREFIX + "token_embedding.weight"
                : file.contains(CLIP_PREFIX + "embeddings.token_embedding.weight") ? CLIP_PREFIX + "embeddings.token_embedding.weight"
                : CLIP_PREFIX + "text_model.embeddings.token_embedding.weight";
        check(file, out, token, text.getInt("vocab_size"), d);
        return List.copyOf(out);
    }

    private static void check(TensorFile file, List<String> out, String key, int... expected) {
        if (!file.contains(key)) {
            out.add(key + " is missing");
            return;
        }
        int[] shape = file.tensor(key).shape();
        if (!Arrays.equals(shape, expected))
            out.add(key + " " + Arrays.toString(shape) + " instead of " + Arrays.toString(expected));
    }

    private static boolean has(TensorFile file, String prefix) {
        for (String n : file.names()) if (n.startsWith(prefix)) return true;
        return false;
    }

    /** "N tensors: 120 under a.b., 40 under c.d., ..." — the largest name groups, to say what the file is. */
    private static String summary(TensorFile file) {
        Map<String, Integer> groups = new TreeMap<>();
        for (String n : file.names()) {
            String[] parts = n.split("\\.", 3);
            String g = parts.length >= 3 ? parts[0] + "." + parts[1] + "." : n;
            groups.merge(g, 1, Integer::sum);
        }
        String top = groups.entrySet().stream()
                .sorted((a, b) -> b.getValue() - a.getValue()).limit(6)
                .map(e -> e.getValue() + " under " + e.getKey()).collect(Collectors.joining(", "));
        return file.names().size() + " tensors" + (groups.isEmpty() ? "" : ": " + top + (groups.size() > 6 ? ", ..." : ""));
    }
}
