package dev.jdiffusion.schedulers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

import java.util.Map;

/**
 * How diffusers' {@code SchedulerClass.from_config(config, **overrides)} reads a scheduler_config.json: keys present
 * win, missing keys take the class's defaults (each scheduler passes its own to the {@link JsonConfig} getters),
 * unknown keys are ignored, and keys listed in {@code _use_default_values} count as missing, so a config written by
 * another scheduler class does not impose that class's defaults.
 */
final class SchedulerConfig {
    private SchedulerConfig() {}

    static JsonConfig effective(JsonConfig config) {
        return effective(config, Map.of());
    }

    /** The config with {@code _use_default_values} applied and {@code overrides} set (like from_config's kwargs). */
    static JsonConfig effective(JsonConfig config, Map<String, ?> overrides) {
        JsonNode usedDefaults = config.root().get("_use_default_values");
        if ((usedDefaults == null || !usedDefaults.isArray()) && overrides.isEmpty()) return config;
        ObjectNode root = config.root().deepCopy();
        if (usedDefaults != null && usedDefaults.isArray()) {
            for (JsonNode key : usedDefaults) root.remove(key.asText());
            root.remove("_use_default_values");
        }
        overrides.forEach((key, value) -> root.set(key, toNode(value)));
        return new JsonConfig(config.file(), root);
    }

    private static JsonNode toNode(Object value) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        return switch (value) {
            case Boolean b -> f.booleanNode(b);
            case Integer i -> f.numberNode(i);
            case Double d -> f.numberNode(d);
            case String s -> f.textNode(s);
            default -> throw new IllegalArgumentException("unsupported override " + value);
        };
    }

    /** Options diffusers has but jdiffusion does not implement must keep their default: a clear error otherwise. */
    static void requireFalse(JsonConfig config, String key) {
        if (config.getBoolean(key, false))
            throw new ModelFormatException(config.file(), key, "true is not supported by jdiffusion's schedulers");
    }

    static void requireNull(JsonConfig config, String key) {
        if (config.has(key))
            throw new ModelFormatException(config.file(), key, "is not supported by jdiffusion's schedulers (must be null)");
    }

    /** An int that must lie in [min, max]. */
    static int intInRange(JsonConfig config, String key, int fallback, int min, int max) {
        int v = config.getInt(key, fallback);
        if (v < min || v > max)
            throw new ModelFormatException(config.file(), key, "is " + v + "; supported: " + min + " to " + max);
        return v;
    }
}
