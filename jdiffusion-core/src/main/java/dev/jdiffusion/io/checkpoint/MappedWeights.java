package dev.jdiffusion.io.checkpoint;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.WeightTensor;

import java.util.List;

/**
 * One model part of a single-file checkpoint, under diffusers' names. Lookups are renames; a slice of a
 * fused tensor is a view of its rows. The returned tensors are named "original key (diffusers name)",
 * so that a shape error tells the user both.
 */
final class MappedWeights implements WeightSource {
    private final TensorFile file;
    private final KeyMap map;
    private final String part;

    MappedWeights(TensorFile file, KeyMap map, String part) {
        this.file = file;
        this.map = map;
        this.part = part;
    }

    /** The original-layout key that holds the diffusers tensor {@code name} (null when none could). */
    String originalKey(String name) {
        KeyMap.Ref ref = map.resolve(name);
        return ref == null ? null : ref.key();
    }

    KeyMap.Ref resolve(String name) { return map.resolve(name); }

    /** The diffusers tensors that the file's tensor {@code key} holds (none when it is not one of this part's). */
    List<KeyMap.Held> invert(String key) { return map.invert(key); }

    @Override
    public WeightTensor get(String name) {
        KeyMap.Ref ref = map.resolve(name);
        if (ref == null)
            throw new ModelFormatException(file.file(), name, "the " + part
                    + " asks for a tensor that the original Stable Diffusion layout does not have");
        if (!file.contains(ref.key()))
            throw new ModelFormatException(file.file(), ref.key(), "tensor is missing from the checkpoint (the "
                    + part + "'s '" + name + "' in diffusers' names): is this a complete SD 1.x/2.x checkpoint?");
        WeightTensor t = file.tensor(ref.key());
        return ref.parts() == 1 ? rename(t, ref.key() + " (" + part + " " + name + ")") : slice(t, ref, name);
    }

    @Override
    public boolean contains(String name) {
        KeyMap.Ref ref = map.resolve(name);
        return ref != null && file.contains(ref.key());
    }

    @Override
    public String describe() { return file.file() + " (" + part + ", original Stable Diffusion layout)"; }

    private static WeightTensor rename(WeightTensor t, String name) {
        return new WeightTensor(name, t.dtype(), t.shape(), t.segment());
    }

    /** Rows [part·rows/parts, (part+1)·rows/parts) of a fused tensor, e.g. q of in_proj_weight [3D, D]. */
    private WeightTensor slice(WeightTensor t, KeyMap.Ref ref, String name) {
        int[] shape = t.shape();
        if (shape.length == 0 || shape[0] % ref.parts() != 0)
            throw new ModelFormatException(file.file(), ref.key(), "tensor of shape " + java.util.Arrays.toString(shape)
                    + " cannot hold " + ref.parts() + " fused projections (q, k, v) of equal size");
        shape[0] /= ref.parts();
        long bytes = t.segment().byteSize() / ref.parts();
        int from = ref.part() * shape[0];
        String label = ref.key() + "[" + from + ":" + (from + shape[0]) + "] (" + part + " " + name + ")";
        return new WeightTensor(label, t.dtype(), shape, t.segment().asSlice(ref.part() * bytes, bytes));
    }
}
