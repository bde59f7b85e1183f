package dev.jdiffusion.pipelines.prompt;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A1111's extra-network tags ({@code extra_networks.parse_prompt}): every {@code <type:arg1:arg2...>} is cut out of
 * the prompt (replaced by nothing) before the prompt is parsed, and collected. Only {@code lora} (and its alias
 * {@code lyco}) means something to jdiffusion.
 */
public final class ExtraNetworks {
    private ExtraNetworks() {}

    /** A1111's {@code re_extra_net}; Python's {@code \w} is Unicode-aware. */
    private static final Pattern TAG = Pattern.compile("<(\\w+):([^>]+)>", Pattern.UNICODE_CHARACTER_CLASS);

    /**
     * One tag: {@code <lora:name:0.8:unet=0.5>} is type "lora" with items [name, 0.8, unet=0.5]; an item with one
     * '=' is named, the others positional (A1111's ExtraNetworkParams).
     */
    public record Tag(String type, String text, List<String> positional, Map<String, String> named) {}

    /** The prompt without its tags, and the tags in order. */
    public record Parsed(String prompt, List<Tag> tags) {}

    public static Parsed parse(String prompt) {
        List<Tag> tags = new ArrayList<>();
        Matcher m = TAG.matcher(prompt);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            List<String> positional = new ArrayList<>();
            Map<String, String> named = new LinkedHashMap<>();
            for (String item : m.group(2).split(":", -1)) {
                String[] kv = item.split("=", 3);  // Python's item.split('=', 2)
                if (kv.length == 2) named.put(kv[0], kv[1]);
                else positional.add(item);
            }
            tags.add(new Tag(m.group(1), m.group(), List.copyOf(positional), Map.copyOf(named)));
            m.appendReplacement(sb, "");
        }
        m.appendTail(sb);
        return new Parsed(sb.toString(), List.copyOf(tags));
    }

    /** The prompt with every tag cut out. */
    public static String strip(String prompt) { return parse(prompt).prompt(); }
}
