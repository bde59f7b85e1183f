package dev.jdiffusion.io;

import dev.jdiffusion.tensor.WeightTensor;

import java.util.Arrays;

/**
 * Named weights of one model part, wherever they come from (a diffusers folder's safetensors file, a
 * single-file checkpoint with its keys renamed, ...). Model code asks for diffusers' names.
 */
public interface WeightSource {

    /** The tensor, or a {@link ModelFormatException} naming the file and tensor when it is missing. */
    WeightTensor get(String name);

    boolean contains(String name);

    /** Where the weights come from, for error messages. */
    String describe();

    /** The tensor's number of dimensions (a 1×1 convolution's weight is 4-D, a linear layer's 2-D). */
    default int rank(String name) { return get(name).rank(); }

    /** The tensor, checked against the shape the architecture (from config.json) expects. */
    default WeightTensor get(String name, int... expectedShape) {
        WeightTensor t = get(name);
        if (!Arrays.equals(t.shape(), expectedShape))
            throw new ModelFormatException(null, t.name(), "in " + describe() + ": tensor has shape "
                    + Arrays.toString(t.shape()) + " but the config implies " + Arrays.toString(expectedShape)
                    + " (does config.json match these weights?)");
        return t;
    }

    /** A view in which every name is looked up under {@code prefix}. */
    default WeightSource prefixed(String prefix) {
        WeightSource outer = this;
        return new WeightSource() {
            @Override public WeightTensor get(String name) { return outer.get(prefix + name); }
            @Override public boolean contains(String name) { return outer.contains(prefix + name); }
            @Override public int rank(String name) { return outer.rank(prefix + name); }
            @Override public WeightTensor get(String name, int... shape) { return outer.get(prefix + name, shape); }
            @Override public String describe() { return outer.describe(); }
            @Override public WeightSource prefixed(String more) { return outer.prefixed(prefix + more); }
        };
    }

    /** Weights straight from one file (safetensors or .ckpt), under the names the file uses. */
    static WeightSource of(TensorFile file) {
        return new WeightSource() {
            @Override public WeightTensor get(String name) { return file.tensor(name); }
            @Override public boolean contains(String name) { return file.contains(name); }
            @Override public String describe() { return file.file().toString(); }
        };
    }
}
