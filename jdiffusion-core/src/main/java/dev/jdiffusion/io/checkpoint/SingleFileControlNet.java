package dev.jdiffusion.io.checkpoint;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.WeightSource;

import java.util.ArrayList;
import java.util.List;

/**
 * A ControlNet in one file, in the original layout that lllyasviel's ControlNet 1.0/1.1 releases and most
 * community ControlNets use ({@code control_model.input_hint_block.*}, {@code control_model.zero_convs.*}, ...;
 * some standalone files drop the {@code control_model.} prefix), seen under diffusers' ControlNetModel names.
 * What the file says about its architecture is read from its tensors: the conditioning embedding's widths, the
 * latent and control-image channels, the text width (which tells SD 1.x from SD 2.x); the rest of the
 * architecture is the UNet's it steers (as diffusers' {@code ControlNetModel.from_unet}). Nothing is copied.
 */
public final class SingleFileControlNet {
    /** Where ControlNet checkpoints keep the net (diffusers' LDM_CONTROLNET_KEY). */
    public static final String PREFIX = "control_model.";

    private final TensorFile file;
    private final String prefix;
    private final List<Integer> embeddingChannels;

    private SingleFileControlNet(TensorFile file, String prefix, List<Integer> embeddingChannels) {
        this.file = file;
        this.prefix = prefix;
        this.embeddingChannels = List.copyOf(embeddingChannels);
    }

    /** True when the file holds a ControlNet in the original layout. */
    public static boolean isOriginalLayout(TensorFile file) { return prefixOf(file) != null; }

    private static String prefixOf(TensorFile file) {
        for (String p : List.of(PREFIX, ""))
            if (file.contains(p + "input_hint_block.0.weight") && file.contains(p + "input_blocks.0.0.weight")) return p;
        return null;
    }

    public static SingleFileControlNet open(TensorFile file) {
        String p = prefixOf(file);
        if (p == null)
            throw new ModelFormatException(file.file(), PREFIX + "input_hint_block.0.weight", "not a ControlNet in the"
                    + " original layout (no input_hint_block): neither " + PREFIX + "* nor a standalone ControlNet");
        // The hint block: conv_in at 0, then 3×3 and stride-2 convolutions at 2, 4, ..., conv_out last.
        int last = 0;
        while (file.contains(p + "input_hint_block." + (last + 2) + ".weight")) last += 2;
        int blocks = last / 2 - 1;
        if (blocks < 0 || blocks % 2 != 0)
            throw new ModelFormatException(file.file(), p + "input_hint_block." + last + ".weight", "the hint block has "
                    + (last / 2 + 1) + " convolutions; a ControlNet's has conv_in, pairs of convolutions and conv_out");
        List<Integer> channels = new ArrayList<>();
        channels.add(file.tensor(p + "input_hint_block.0.weight").dim(0));
        for (int i = 0; i < blocks / 2; i++) channels.add(file.tensor(p + "input_hint_block." + (4 * i + 4) + ".weight").dim(0));
        return new SingleFileControlNet(file, p, channels);
    }

    public TensorFile file() { return file; }

    /** The conditioning embedding's widths (16, 32, 96, 256 for SD ControlNets). */
    public List<Integer> conditioningEmbeddingOutChannels() { return embeddingChannels; }

    /** Channels of the control image (3). */
    public int conditioningChannels() { return file.tensor(prefix + "input_hint_block.0.weight").dim(1); }

    /** Latent channels the net takes (4). */
    public int inChannels() { return file.tensor(prefix + "input_blocks.0.0.weight").dim(1); }

    /** The text embedding width its cross-attention expects (768 for SD 1.x, 1024 for SD 2.x), or -1 when none. */
    public int crossAttentionDim() {
        for (String name : file.names())
            if (name.startsWith(prefix) && name.endsWith(".attn2.to_k.weight")) return file.tensor(name).dim(-1);
        return -1;
    }

    /** The width of the first down block (conv_in's output: 320 for SD). */
    public int firstBlockChannels() { return file.tensor(prefix + "input_blocks.0.0.weight").dim(0); }

    /** The weights under diffusers' ControlNetModel names, for a net with these layers per down block. */
    public WeightSource weights(List<Integer> layersPerBlock) {
        return new MappedWeights(file, LdmKeyMaps.controlNet(prefix, layersPerBlock, embeddingChannels.size()), "ControlNet");
    }
}
