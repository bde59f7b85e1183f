package dev.jdiffusion.testing;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.jdiffusion.io.SafeTensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/** Locates the reference fixtures in the repository's testdata/ folder (copied from shared/fixtures). */
public final class Fixtures {
    private Fixtures() {}

    public static Path root() {
        String prop = System.getProperty("jdiffusion.testdata");
        if (prop != null && Files.isDirectory(Paths.get(prop))) return Paths.get(prop);
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path cand = p.resolve("testdata");
            if (Files.isDirectory(cand.resolve("tiny-sd15"))) return cand;
        }
        throw new IllegalStateException("testdata/ not found (set -Djdiffusion.testdata)");
    }

    /** A model folder: "tiny-sd15" or "tiny-sd2". */
    public static Path model(String name) { return root().resolve(name); }

    /** A writable copy of a model folder (without its expected/ references) at {@code target}, for tests that damage it. */
    public static Path copyModel(String name, Path target) {
        Path source = model(name);
        try (var files = Files.walk(source)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path rel = source.relativize(p);
                if (rel.startsWith("expected")) continue;
                Path to = target.resolve(rel.toString());
                if (Files.isDirectory(p)) Files.createDirectories(to);
                else Files.copy(p, to);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("copying " + source + " to " + target, e);
        }
        return target;
    }

    /** A reference file under {@code <model>/expected/}. */
    public static SafeTensors expected(String model, String file) {
        return SafeTensors.open(model(model).resolve("expected").resolve(file));
    }

    /** {@code <model>/expected/manifest.json}: what made each reference file (Python's JSON, with -Infinity). */
    public static JsonNode manifest(String model) {
        Path file = model(model).resolve("expected").resolve("manifest.json");
        try {
            return JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(file.toString(), e);
        }
    }

    /** The prompts of {@code <model>/expected/tokenizer.safetensors}, in the order of its ids_NN tensors. */
    public static List<String> tokenizerPrompts(String model) {
        List<String> prompts = new ArrayList<>();
        manifest(model).at("/files/tokenizer.safetensors/prompts").forEach(p -> prompts.add(p.asText()));
        if (prompts.isEmpty()) throw new IllegalStateException(model + ": manifest.json lists no tokenizer prompts");
        return prompts;
    }
}
