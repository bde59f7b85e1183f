package dev.jdiffusion.pipelines.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.testing.Fixtures;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * testdata/prompt-control (copied from the shared fixtures: A1111's own code and diffusers+PEFT made them) and
 * testdata/prompt-control-extra (unseen cases, made by scripts/refgen/prompt_control_refs.py).
 */
public final class PromptControlFixtures {
    private PromptControlFixtures() {}

    public static Path dir() { return Fixtures.root().resolve("prompt-control"); }

    public static Path extraDir() { return Fixtures.root().resolve("prompt-control-extra"); }

    public static JsonNode manifest() { return read(dir().resolve("manifest.json")); }

    public static JsonNode extraManifest() { return read(extraDir().resolve("manifest.json")); }

    public static SafeTensors file(String relative) { return SafeTensors.open(dir().resolve(relative)); }

    public static SafeTensors extraFile(String relative) { return SafeTensors.open(extraDir().resolve(relative)); }

    private static JsonNode read(Path p) {
        try {
            return new ObjectMapper().readTree(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(p.toString(), e);
        }
    }
}
