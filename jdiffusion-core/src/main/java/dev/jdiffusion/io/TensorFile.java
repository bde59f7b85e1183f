package dev.jdiffusion.io;

import dev.jdiffusion.tensor.WeightTensor;

import java.nio.file.Path;
import java.util.Set;

/**
 * A file of named tensors, whatever its format (safetensors, a pickled PyTorch checkpoint, ...), under
 * the names the file itself uses. Readers of single-file checkpoints work on this.
 */
public interface TensorFile {

    /** Every tensor name in the file. */
    Set<String> names();

    /** The named tensor; a {@link ModelFormatException} naming the file and tensor when it is missing. */
    WeightTensor tensor(String name);

    boolean contains(String name);

    /** The file, for error messages. */
    Path file();
}
