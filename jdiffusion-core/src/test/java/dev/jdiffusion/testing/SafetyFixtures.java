package dev.jdiffusion.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.SafeTensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * testdata/safety/: the safety checker and watermark references (copied from shared/fixtures/safety) and
 * the extra references that scripts/reference/ made for unseen cases.
 */
public final class SafetyFixtures {
    private SafetyFixtures() {}

    public static Path root() { return Fixtures.root().resolve("safety"); }

    /** tiny-sd15-safe: tiny-sd15 (its parts are links) plus a tiny random safety checker and SD 1.5's feature extractor. */
    public static Path model() { return root().resolve("tiny-sd15-safe"); }

    public static JsonNode manifest() { return json(root().resolve("manifest.json")); }

    public static SafeTensors expected() { return SafeTensors.open(root().resolve("expected/safety.safetensors")); }

    public static Path file(String relative) { return root().resolve(relative); }

    public static RgbImage image(String relative) {
        try {
            return PngFiles.read(file(relative)).image();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static JsonNode json(Path file) {
        try {
            return JsonMapper.builder().build().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(file.toString(), e);
        }
    }

    /**
     * A writable copy of the safe model at {@code target}: the checker and feature extractor copied, the other
     * parts linked to tiny-sd15 (tests damage the checker, never the shared parts).
     */
    public static Path copyModel(Path target) {
        try {
            Files.createDirectories(target);
            try (var parts = Files.list(model())) {
                for (Path p : (Iterable<Path>) parts::iterator) {
                    Path to = target.resolve(p.getFileName().toString());
                    if (Files.isSymbolicLink(p)) Files.createSymbolicLink(to, p.toRealPath());
                    else if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                        Files.createDirectories(to);
                        try (var files = Files.list(p)) {
                            for (Path f : (Iterable<Path>) files::iterator) Files.copy(f, to.resolve(f.getFileName().toString()));
                        }
                    } else Files.copy(p, to);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("copying " + model() + " to " + target, e);
        }
        return target;
    }
}
