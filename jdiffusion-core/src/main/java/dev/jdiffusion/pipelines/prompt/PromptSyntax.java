package dev.jdiffusion.pipelines.prompt;

import java.util.Locale;

/** How a prompt's text is read. */
public enum PromptSyntax {
    /**
     * AUTOMATIC1111's: {@code (x)}, {@code [x]}, {@code (x:w)} emphasis, {@code BREAK}, prompts of any length in chunks
     * of 75 tokens, {@code <lora:NAME:SCALE>} tags, textual-inversion triggers.
     */
    A1111,
    /** diffusers' own: the text as it is (brackets are text), truncated to the text encoder's 77 tokens. */
    PLAIN;

    /** "a1111" or "plain" (any case). */
    public static PromptSyntax parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "a1111" -> A1111;
            case "plain" -> PLAIN;
            default -> throw new IllegalArgumentException("unknown prompt syntax '" + s + "': expected a1111 or plain");
        };
    }

    /** The name users type: "a1111" or "plain". */
    public String label() { return name().toLowerCase(Locale.ROOT); }
}
