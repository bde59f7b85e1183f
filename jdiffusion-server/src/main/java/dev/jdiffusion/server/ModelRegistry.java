package dev.jdiffusion.server;

import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The checkpoints a client may choose by name: the model the server started with and those found in
 * {@code --models-dir} (diffusers folders and single .safetensors/.ckpt files, as A1111 lists models/Stable-diffusion).
 * Clients only ever name a listed checkpoint; no path they send is opened. Loaded pipelines are kept for the two
 * most recently used checkpoints (weights are mapped, so a switch back costs little).
 */
final class ModelRegistry {
    /** A1111's CheckpointInfo as /sdapi/v1/sd-models lists it (hashes are not computed: A1111 does that lazily too). */
    record Checkpoint(String title, String modelName, Path path) {}

    private static final int MAX_DEPTH = 4;
    private static final int CACHED = 2;

    private final Path initial;
    private final Path modelsDir;
    private final LoadOptions loadOptions;
    private volatile List<Checkpoint> checkpoints;
    private final Map<String, StableDiffusionPipeline> loaded = new LinkedHashMap<>(4, 0.75f, true);

    ModelRegistry(Path initial, Path modelsDir, LoadOptions loadOptions) {
        this.initial = initial.toAbsolutePath().normalize();
        this.modelsDir = modelsDir == null ? null : modelsDir.toAbsolutePath().normalize();
        this.loadOptions = loadOptions;
        refresh();
    }

    /** Rescans the models folder (POST /sdapi/v1/refresh-checkpoints). */
    synchronized void refresh() {
        List<Checkpoint> list = new ArrayList<>();
        list.add(checkpoint(initial));
        if (modelsDir != null) {
            if (!Files.isDirectory(modelsDir))
                throw new IllegalArgumentException("--models-dir " + modelsDir + ": not a folder");
            for (Path p : scan(modelsDir)) {
                Checkpoint c = checkpoint(p);
                if (list.stream().noneMatch(o -> o.path().equals(c.path()))) list.add(c);
            }
        }
        checkpoints = List.copyOf(list);
    }

    List<Checkpoint> checkpoints() { return checkpoints; }

    Checkpoint initialCheckpoint() { return checkpoints.getFirst(); }

    /**
     * The listed checkpoint a client named: by title, model name, file name, or "title [hash]" as A1111 writes it.
     *
     * @throws ApiException 404 naming {@code field} when no listed checkpoint has that name
     */
    Checkpoint find(String name, String field) {
        String n = name.strip();
        int bracket = n.lastIndexOf(" [");
        if (bracket > 0 && n.endsWith("]")) n = n.substring(0, bracket);
        for (Checkpoint c : checkpoints) {
            if (c.title().equals(n) || c.modelName().equals(n) || c.path().getFileName().toString().equals(n)) return c;
        }
        throw new ApiException(404, field, "model '" + name + "' not found; available: "
                + String.join(", ", checkpoints.stream().map(Checkpoint::title).toList()));
    }

    /** The pipeline of a listed checkpoint, loaded on first use (mapping the weights, not reading them). */
    synchronized StableDiffusionPipeline pipeline(Checkpoint c) {
        StableDiffusionPipeline p = loaded.get(c.title());
        if (p == null) {
            p = StableDiffusionPipeline.load(c.path(), loadOptionsFor(c));
            loaded.put(c.title(), p);
            while (loaded.size() > CACHED) loaded.remove(loaded.keySet().iterator().next());
        }
        return p;
    }

    /** --config/--prediction-type describe the starting model; others in the folder load with their own configs. */
    private LoadOptions loadOptionsFor(Checkpoint c) {
        return c.path().equals(initial) ? loadOptions : new LoadOptions(null, null, loadOptions.vae());
    }

    private Checkpoint checkpoint(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        String title = modelsDir != null && abs.startsWith(modelsDir) && !abs.equals(modelsDir)
                ? modelsDir.relativize(abs).toString().replace('\\', '/')
                : abs.getFileName().toString();
        String stem = Files.isDirectory(abs) ? title : stripExtension(title);
        return new Checkpoint(title, stem.replace('/', '_'), abs);
    }

    private static String stripExtension(String name) {
        int dot = name.lastIndexOf('.');
        return dot > name.lastIndexOf('/') + 1 ? name.substring(0, dot) : name;
    }

    /** Diffusers folders (model_index.json) and .safetensors/.ckpt files under {@code dir}, sorted by path. */
    private static List<Path> scan(Path dir) {
        List<Path> found = new ArrayList<>();
        try {
            Files.walkFileTree(dir, EnumSet.noneOf(java.nio.file.FileVisitOption.class), MAX_DEPTH, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
                    if (!d.equals(dir) && d.getFileName().toString().startsWith(".")) return FileVisitResult.SKIP_SUBTREE;
                    if (!d.equals(dir) && Files.isRegularFile(d.resolve("model_index.json"))) {
                        found.add(d);
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) {
                    String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
                    if (!n.startsWith(".") && (n.endsWith(".safetensors") || n.endsWith(".ckpt"))) found.add(f);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path f, IOException e) { return FileVisitResult.CONTINUE; }
            });
        } catch (IOException e) {
            throw new UncheckedIOException("scanning " + dir, e);
        }
        found.sort(null);
        return found;
    }
}
