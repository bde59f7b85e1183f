package dev.jdiffusion.io;

import java.nio.file.Path;

/**
 * A model file or config is not what jdiffusion expected: the message names the file, the tensor or key,
 * and what was expected. The CLI prints the message alone; it is meant for the user, not for a developer.
 */
public class ModelFormatException extends RuntimeException {
    private final Path file;
    private final String key;

    public ModelFormatException(Path file, String key, String problem) {
        super(compose(file, key, problem));
        this.file = file;
        this.key = key;
    }

    public ModelFormatException(Path file, String key, String problem, Throwable cause) {
        super(compose(file, key, problem), cause);
        this.file = file;
        this.key = key;
    }

    private static String compose(Path file, String key, String problem) {
        StringBuilder sb = new StringBuilder();
        if (file != null) sb.append(file);
        if (key != null) sb.append(sb.isEmpty() ? "" : ": ").append('\'').append(key).append('\'');
        if (!sb.isEmpty()) sb.append(": ");
        return sb.append(problem).toString();
    }

    /** The file at fault, or null when the problem is not tied to one file. */
    public Path file() { return file; }

    /** The tensor name or config key at fault, or null. */
    public String key() { return key; }
}
