package dev.jdiffusion.pipelines;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A LoRA to apply: a file and its multipliers for the text encoder and the UNet (A1111's {@code <lora:name:te:unet>};
 * usually both the same).
 *
 * @param name the name the infotext records ("Lora hashes"): the tag's name, or the file's stem
 */
public record Lora(Path file, double textEncoderScale, double unetScale, String name) {
    public Lora {
        Objects.requireNonNull(file, "file");
        if (!Double.isFinite(textEncoderScale) || !Double.isFinite(unetScale))
            throw new IllegalArgumentException("LoRA " + file + ": the scale must be a number");
        if (name == null) name = stem(file);
    }

    /** The file at one scale for both parts, named after its stem. */
    public static Lora of(Path file, double scale) { return new Lora(file, scale, scale, null); }

    static String stem(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }
}
