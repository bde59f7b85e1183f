package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * One generated image with the parameters that made it, in AUTOMATIC1111's infotext format: what
 * {@link GenerationResult#image(int)} returns. {@link #save(Path)} writes a PNG that carries the parameters (the
 * web UIs' "PNG Info" reads them back; {@code jdiffusion generate} writes the same file).
 *
 * @param image      the pixels
 * @param parameters the infotext, e.g. {@code "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1, ..."}
 */
public record GeneratedImage(RgbImage image, String parameters) {
    /** Checks that both parts are present. */
    public GeneratedImage {
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(parameters, "parameters");
    }

    /**
     * Writes the image as a PNG with its parameters in a {@code parameters} text chunk, atomically (a temporary
     * file beside {@code file}, then renamed: never a half-written file). Parent folders are created.
     *
     * @throws UncheckedIOException when the file cannot be written
     */
    public void save(Path file) {
        try {
            PngFiles.write(file, image, Map.of("parameters", parameters));
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write PNG: " + e.getMessage(), e);
        }
    }

    /** The pixels as a {@link BufferedImage} of type {@link BufferedImage#TYPE_INT_RGB}. */
    public BufferedImage toBufferedImage() { return image.toBufferedImage(); }

    /** Width in pixels. */
    public int width() { return image.width(); }

    /** Height in pixels. */
    public int height() { return image.height(); }
}
