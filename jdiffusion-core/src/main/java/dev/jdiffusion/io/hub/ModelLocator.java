package dev.jdiffusion.io.hub;

import dev.jdiffusion.io.ModelFormatException;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * What {@code --model} names: an existing folder or file is used as it is; otherwise something shaped like
 * {@code org/name[@revision]} is looked up in the Hugging Face cache; anything else is a clear error.
 * A path wins over a repo id, so a local folder {@code models/sd15} is never mistaken for a repo.
 */
public final class ModelLocator {
    private ModelLocator() {}

    /** Resolves against the cache that the environment names (HF_HUB_CACHE, HF_HOME...). */
    public static Path resolve(String modelArg) { return resolve(modelArg, HubCache.fromEnvironment()); }

    public static Path resolve(String modelArg, HubCache cache) {
        if (modelArg == null || modelArg.isBlank())
            throw new ModelFormatException(null, null, "no model given (a folder, a checkpoint file, or org/name)");
        Path path = null;
        try {
            path = Path.of(modelArg);
            if (Files.exists(path)) return path;
        } catch (InvalidPathException e) {
            // not a path on this system; it may still be a repo id
        }
        if (RepoRef.looksLikeRepoId(modelArg)) return cache.resolve(RepoRef.parse(modelArg));
        throw new ModelFormatException(path, null,
                "model not found: no such file or folder (nor a Hugging Face repo id such as org/name)");
    }
}
