package dev.jdiffusion.io.hub;

import dev.jdiffusion.io.ModelFormatException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The local Hugging Face cache, laid out as huggingface_hub writes it, so models that Python tools
 * downloaded are reused as they are:
 * <pre>
 * &lt;cache&gt;/models--org--name/
 *     refs/main                      the commit hash the branch (or tag) pointed at when it was downloaded
 *     blobs/&lt;etag&gt;                   file contents, named by sha256 (LFS files) or git blob id
 *     snapshots/&lt;commit&gt;/&lt;path&gt;      relative symlinks into blobs/ (copies where symlinks are impossible)
 * </pre>
 */
public final class HubCache {
    private final Path cacheDir;

    public HubCache(Path cacheDir) { this.cacheDir = cacheDir.toAbsolutePath().normalize(); }

    /** The cache that HF_HUB_CACHE / HF_HOME (or their defaults) name. */
    public static HubCache fromEnvironment() { return new HubCache(HubSettings.fromEnvironment().cacheDir()); }

    public Path cacheDir() { return cacheDir; }

    /** The repo's folder: {@code <cache>/models--org--name}. */
    public Path repoFolder(RepoRef ref) { return cacheDir.resolve(ref.folderName()); }

    /** The commit the revision names: the revision itself when it is a commit hash, else {@code refs/<revision>}. */
    public Optional<String> commit(RepoRef ref) {
        if (ref.isCommitHash()) return Optional.of(ref.revision());
        Path refFile = repoFolder(ref).resolve("refs").resolve(ref.revision());
        try {
            if (!Files.isRegularFile(refFile)) return Optional.empty();
            String commit = Files.readString(refFile).strip();   // huggingface_hub writes no newline; be lenient
            return commit.isEmpty() ? Optional.empty() : Optional.of(commit);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + refFile + ": " + e.getMessage(), e);
        }
    }

    /** The snapshot folder of the revision, or empty when it is not in the cache. */
    public Optional<Path> find(RepoRef ref) {
        return commit(ref).map(c -> repoFolder(ref).resolve("snapshots").resolve(c)).filter(Files::isDirectory);
    }

    /** {@link #resolve(RepoRef)} of {@code org/name} or {@code org/name@revision}. */
    public Path resolve(String repoArg) { return resolve(RepoRef.parse(repoArg)); }

    /**
     * The snapshot folder of the revision: a diffusers folder, or a folder that holds a single-file checkpoint.
     * When it is missing, a {@link ModelFormatException} says where it was looked for and how to download it.
     */
    public Path resolve(RepoRef ref) {
        Path repo = repoFolder(ref);
        String hint = "; run `" + ref.downloadCommand() + "`";
        if (!Files.isDirectory(repo))
            throw notFound(ref + ": not in the Hugging Face cache at " + cacheDir + hint);
        Optional<Path> snapshot = find(ref);
        if (snapshot.isEmpty()) {
            String have = String.join(", ", list(repo.resolve("refs")));
            throw notFound(ref + ": revision '" + ref.revision() + "' is not in the Hugging Face cache at " + repo
                    + (have.isEmpty() ? "" : " (cached revisions: " + have + ")") + hint);
        }
        Path dir = snapshot.get();
        // A snapshot that Python filled with a few files only (hf_hub_download of one config) is no model.
        if (!Files.exists(dir.resolve("model_index.json")) && checkpointIn(dir).isEmpty())
            throw notFound(ref + ": the cached snapshot " + dir
                    + " holds neither model_index.json nor a checkpoint (an incomplete download?)" + hint);
        return dir;
    }

    /**
     * The single-file checkpoint that a folder without model_index.json holds (a snapshot of a single-file
     * repo), chosen among several (Python tools often fetched both an fp16 and an fp32 copy) as the downloader
     * chooses what to fetch: safetensors before .ckpt, not fp16, the largest. Empty for a diffusers folder,
     * a folder with no checkpoint, or anything that is not a folder.
     */
    public static Optional<Path> checkpointIn(Path dir) {
        if (!Files.isDirectory(dir) || Files.exists(dir.resolve("model_index.json"))) return Optional.empty();
        List<Path> files = list(dir).stream().map(dir::resolve).filter(Files::isRegularFile).toList();  // follows links
        return HubFiles.pickCheckpoint(files, p -> p.getFileName().toString(), HubCache::sizeOrZero, null);
    }

    private static long sizeOrZero(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0;
        }
    }

    private static ModelFormatException notFound(String message) { return new ModelFormatException(null, null, message); }

    /** Names in a folder, sorted; empty when it does not exist. */
    private static List<String> list(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
