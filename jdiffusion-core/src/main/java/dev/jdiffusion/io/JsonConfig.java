package dev.jdiffusion.io;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A config.json read with errors that name the file and key. Unknown keys are ignored (real configs
 * carry many); a missing required key or a value of the wrong type is a {@link ModelFormatException}.
 */
public final class JsonConfig {
    // Python's json writes -Infinity, Infinity and NaN (e.g. DPMSolverMultistepScheduler's lambda_min_clipped).
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();
    private final Path file;
    private final JsonNode root;

    public JsonConfig(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    public static JsonConfig read(Path file) {
        try {
            JsonNode root = JSON.readTree(Files.readString(file));
            if (root == null || !root.isObject()) throw new ModelFormatException(file, null, "must hold a JSON object");
            return new JsonConfig(file, root);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file, null, "file not found");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            // Jackson's own message spans lines and quotes the source; the user needs where and what, on one line.
            var at = e.getLocation();
            String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
            throw new ModelFormatException(file, null, "not valid JSON" + where + ": "
                    + e.getOriginalMessage().lines().findFirst().orElse(""), e);
        } catch (IOException e) {
            throw new ModelFormatException(file, null, "not valid JSON: " + e.getMessage(), e);
        }
    }

    public Path file() { return file; }

    /** A copy with {@code change} applied to its JSON (for overrides such as a prediction type); same file for errors. */
    public JsonConfig edited(java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> change) {
        var copy = ((com.fasterxml.jackson.databind.node.ObjectNode) root).deepCopy();
        change.accept(copy);
        return new JsonConfig(file, copy);
    }

    public JsonNode root() { return root; }

    public boolean has(String key) { return root.hasNonNull(key); }

    private JsonNode require(String key) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) throw new ModelFormatException(file, key, "required config key is missing");
        return v;
    }

    private ModelFormatException wrongType(String key, JsonNode v, String expected) {
        return new ModelFormatException(file, key, "expected " + expected + " but found " + v);
    }

    public int getInt(String key) {
        JsonNode v = require(key);
        if (!v.isIntegralNumber()) throw wrongType(key, v, "an integer");
        return v.asInt();
    }

    public int getInt(String key, int fallback) { return has(key) ? getInt(key) : fallback; }

    public double getDouble(String key) {
        JsonNode v = require(key);
        if (!v.isNumber()) throw wrongType(key, v, "a number");
        return v.asDouble();
    }

    public double getDouble(String key, double fallback) { return has(key) ? getDouble(key) : fallback; }

    public boolean getBoolean(String key, boolean fallback) {
        if (!has(key)) return fallback;
        JsonNode v = root.get(key);
        if (!v.isBoolean()) throw wrongType(key, v, "true or false");
        return v.asBoolean();
    }

    public String getString(String key) {
        JsonNode v = require(key);
        if (!v.isTextual()) throw wrongType(key, v, "a string");
        return v.asText();
    }

    public String getString(String key, String fallback) { return has(key) ? getString(key) : fallback; }

    /** A string that must be one of {@code allowed}. */
    public String getEnum(String key, String fallback, String... allowed) {
        String v = getString(key, fallback);
        for (String a : allowed) if (a.equals(v)) return v;
        throw new ModelFormatException(file, key, "unsupported value '" + v + "' (supported: "
                + String.join(", ", allowed) + ")");
    }

    public List<Integer> getIntList(String key) {
        JsonNode v = require(key);
        if (!v.isArray()) throw wrongType(key, v, "a list of integers");
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isIntegralNumber()) throw wrongType(key, v, "a list of integers");
            out.add(e.asInt());
        }
        return List.copyOf(out);
    }

    /** An int or a list of ints, as diffusers allows for per-block values: expanded to {@code n} entries. */
    public List<Integer> getIntOrList(String key, int n, Integer fallback) {
        if (!has(key)) {
            if (fallback == null) require(key);
            return java.util.Collections.nCopies(n, fallback);
        }
        JsonNode v = root.get(key);
        if (v.isIntegralNumber()) return java.util.Collections.nCopies(n, v.asInt());
        List<Integer> list = getIntList(key);
        if (list.size() != n)
            throw new ModelFormatException(file, key, "has " + list.size() + " entries but the model has " + n + " blocks");
        return list;
    }

    public List<String> getStringList(String key) {
        JsonNode v = require(key);
        if (!v.isArray()) throw wrongType(key, v, "a list of strings");
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) throw wrongType(key, v, "a list of strings");
            out.add(e.asText());
        }
        return List.copyOf(out);
    }
}
