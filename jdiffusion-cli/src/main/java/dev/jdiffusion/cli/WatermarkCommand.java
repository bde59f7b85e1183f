package dev.jdiffusion.cli;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.watermark.InvisibleWatermark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code jdiffusion watermark encode|decode}: the invisible watermark of Stability's scripts (imwatermark's
 * dwtDct), bit-compatible with imwatermark in both directions.
 */
@Command(name = "watermark", mixinStandardHelpOptions = true,
        description = "The invisible watermark of the Stable Diffusion scripts (imwatermark's dwtDct, bit-compatible).",
        subcommands = {WatermarkCommand.Encode.class, WatermarkCommand.Decode.class})
public final class WatermarkCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "say 'encode' or 'decode'");
    }

    @Command(name = "encode", mixinStandardHelpOptions = true,
            description = "Mark an image with TEXT's UTF-8 bytes, as WatermarkEncoder('bytes').encode(bgr, 'dwtDct') does;"
                    + " the PNG's text chunks (the generation parameters) are kept.")
    static final class Encode implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Parameters(index = "0", paramLabel = "IN", description = "The image to mark (at least 256x256 pixels).")
        Path in;

        @Parameters(index = "1", paramLabel = "OUT", description = "The marked image, a .png (JPEG would weaken the mark).")
        Path out;

        @Option(names = "--text", required = true, paramLabel = "TEXT", description = "What to embed; its length in bits"
                + " (8 per UTF-8 byte) is what decode needs.")
        String text;

        @Override
        public Integer call() throws IOException {
            if (text.isEmpty()) throw new ParameterException(spec.commandLine(), "--text is empty");
            if (!out.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png"))
                throw new ParameterException(spec.commandLine(), "OUT " + out + ": the marked image is written as PNG; name it .png");
            if (!Files.isRegularFile(in)) throw new IOException(in + ": image not found");
            PngFiles.Read read = PngFiles.read(in);
            try {
                PngFiles.write(out, InvisibleWatermark.encode(read.image(), text), read.text());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(in + ": " + e.getMessage());
            }
            spec.commandLine().getOut().println(out + " (" + text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length * 8
                    + " bits)");
            return 0;
        }
    }

    @Command(name = "decode", mixinStandardHelpOptions = true,
            description = "Read the text an image is marked with, as WatermarkDecoder('bytes', BITS).decode(bgr, 'dwtDct'):"
                    + " prints the bytes as UTF-8 (control characters as U+FFFD), one line per image.")
    static final class Decode implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Parameters(paramLabel = "IMG", arity = "1..*", description = "The marked images.")
        java.util.List<Path> images;

        @Option(names = "--length", required = true, paramLabel = "BITS",
                description = "The mark's length in bits: 8 per UTF-8 byte (StableDiffusionV1: 136).")
        int bits;

        @Override
        public Integer call() throws IOException {
            if (bits <= 0) throw new ParameterException(spec.commandLine(), "--length must be a positive number of bits");
            for (Path image : images) {
                if (!Files.isRegularFile(image)) throw new IOException(image + ": image not found");
                try {
                    String text = InvisibleWatermark.decode(PngFiles.read(image).image(), bits).text();
                    // One line per image, whatever bytes a damaged mark gives: control characters print as U+FFFD.
                    spec.commandLine().getOut().println(text.replaceAll("\\p{Cntrl}", "\uFFFD"));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(image + ": " + e.getMessage());
                }
            }
            return 0;
        }
    }
}
