package dev.jdiffusion.io.checkpoint;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

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

    /** Maps every name starting with {@code diffusersPrefix} to {@code ldmPrefix} + the rest (renamed). */
    KeyMap put(String diffusersPrefix, String ldmPrefix, List<Rename> renames) {
        rules.put(diffusersPrefix, new Rule(ldmPrefix, renames));
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
}
