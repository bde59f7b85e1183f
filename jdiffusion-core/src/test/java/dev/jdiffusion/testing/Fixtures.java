package dev.jdiffusion.testing;

import dev.jdiffusion.io.SafeTensors;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

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

    /** The model's expected/manifest.json (it holds -Infinity, hence the lenient reader). */
    public static com.fasterxml.jackson.databind.JsonNode manifest(String model) {
        try {
            return com.fasterxml.jackson.databind.json.JsonMapper.builder()
                    .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build()
                    .readTree(model(model).resolve("expected/manifest.json").toFile());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A reference file under {@code <model>/expected/}. */
    public static SafeTensors expected(String model, String file) {
        return SafeTensors.open(model(model).resolve("expected").resolve(file));
    }
}
