package dev.jdiffusion.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.jdiffusion.io.SafeTensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** testdata/image-control/ (copied from shared/fixtures/image-control): inpainting and ControlNet references. */
public final class ImageControlFixtures {
    private ImageControlFixtures() {}

    public static Path root() { return Fixtures.root().resolve("image-control"); }

    /** A path relative to the fixture folder, as the manifest's command lines give them. */
    public static Path path(String relative) { return root().resolve(relative).normalize(); }

    public static JsonNode manifest() {
        try {
            return JsonMapper.builder().build().readTree(root().resolve("manifest.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The manifest's cases of one kind ("inpaint" or "controlnet"). */
    public static List<JsonNode> cases(String kind) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode c : manifest().get("cases")) if (c.get("kind").asText().equals(kind)) out.add(c);
        return out;
    }

    public static JsonNode caseNamed(String name) {
        for (JsonNode c : manifest().get("cases")) if (c.get("name").asText().equals(name)) return c;
        throw new IllegalArgumentException("no case " + name);
    }

    /** expected/&lt;name&gt;.safetensors */
    public static SafeTensors expected(String name) { return SafeTensors.open(root().resolve("expected").resolve(name + ".safetensors")); }
}
