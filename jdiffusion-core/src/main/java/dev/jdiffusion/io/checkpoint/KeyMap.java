package dev.jdiffusion.io.checkpoint;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Diffusers' names → keys of the original (LDM) layout of one model part, as prefix rules: the longest
 * rule whose diffusers prefix starts the name gives the original prefix, and optional renames of what
 * follows (a ResnetBlock2D's {@code norm1} is LDM's {@code in_layers.0}, ...). Nothing is copied: a name is
 * resolved to the key of the tensor that holds it, or to a slice of a fused tensor (OpenCLIP's q/k/v).
 */
final class KeyMap {

    /** Rows {@code part/parts} of the tensor {@code key}: {@code parts == 1} means the whole tensor. */
    record Ref(String key, int part, int parts) {}

    /** Within a rule: a name rest that starts with {@code from} continues as {@code to}, possibly a slice. */
    record Rename(String from, String to, int part, int parts) {
        static Rename of(String from, String to) { return new Rename(from, to, 0, 1); }
    }

    private record Rule(String target, List<Rename> renames) {}

    private final Map<String, Rule> rules = new HashMap<>();
    private Map<String, String> inverse;

    /** Maps every name starting with {@code diffusersPrefix} to {@code ldmPrefix} + the rest (renamed). */
    KeyMap put(String diffusersPrefix, String ldmPrefix, List<Rename> renames) {
        rules.put(diffusersPrefix, new Rule(ldmPrefix, renames));
        inverse = null;
        return this;
    }

    KeyMap put(String diffusersPrefix, String ldmPrefix) { return put(diffusersPrefix, ldmPrefix, List.of()); }

    /** Where the diffusers tensor {@code name} lies in the original layout, or null when no rule covers it. */
    Ref resolve(String name) {
        // Candidates: the whole name, then each prefix ending in '.', longest first.
        for (int cut = name.length(); cut > 0; cut = name.lastIndexOf('.', cut - 2) + 1) {
            Rule rule = rules.get(name.substring(0, cut));
            if (rule == null) continue;
            String rest = name.substring(cut);
            for (Rename r : rule.renames())
                if (rest.startsWith(r.from()))
                    return new Ref(rule.target() + r.to() + rest.substring(r.from().length()), r.part(), r.parts());
            return new Ref(rule.target() + rest, 0, 1);
        }
        return null;
    }

    /** Diffusers' tensor {@code name} is rows {@code part/parts} of an original-layout tensor. */
    record Held(String name, int part, int parts) {}

    /**
     * The other way round: the diffusers tensors that the original-layout tensor {@code key} holds (one,
     * or one per part of a fused tensor, in part order), or none when no rule covers the key. Only names
     * that {@link #resolve} maps back onto this very key and part are returned.
     */
    List<Held> invert(String key) {
        if (inverse == null) {
            Map<String, String> byTarget = new HashMap<>();
            rules.forEach((prefix, rule) -> byTarget.put(rule.target(), prefix));
            inverse = byTarget;
        }
        // As in resolve: the longest rule prefix (here: original-layout prefix) that starts the key.
        for (int cut = key.length(); cut > 0; cut = key.lastIndexOf('.', cut - 2) + 1) {
            String prefix = inverse.get(key.substring(0, cut));
            if (prefix == null) continue;
            String rest = key.substring(cut);
            Map<Integer, Held> byPart = new TreeMap<>();
            for (Rename r : rules.get(prefix).renames())
                if (rest.startsWith(r.to()))  // the first rename listed wins (the current name over a deprecated one)
                    byPart.putIfAbsent(r.part(), new Held(prefix + r.from() + rest.substring(r.to().length()), r.part(), r.parts()));
            if (byPart.isEmpty()) byPart.put(0, new Held(prefix + rest, 0, 1));
            return byPart.values().stream()
                    .filter(h -> new Ref(key, h.part(), h.parts()).equals(resolve(h.name()))).toList();
        }
        return List.of();
    }
}
