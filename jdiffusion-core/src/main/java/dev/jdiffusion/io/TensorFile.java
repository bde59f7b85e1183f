package dev.jdiffusion.io;

import dev.jdiffusion.tensor.WeightTensor;

import java.nio.file.Path;
import java.util.Set;

/**
 * A file of named tensors, whatever its format ({@link SafeTensors}, a PyTorch {@code .ckpt}
 * ({@link dev.jdiffusion.io.ckpt.CkptFile})): loaders above this interface need not care which.
 * Open one with {@link TensorFiles#open(Path)}.
 */
public interface TensorFile {
    /** The file the tensors come from, for error messages. */
    Path file();

    /** The tensor names, in the file's order. */
    Set<String> names();

    boolean contains(String name);

    /** The named tensor (a view of the file's mapping where possible); a ModelFormatException when missing. */
    WeightTensor tensor(String name);
}
