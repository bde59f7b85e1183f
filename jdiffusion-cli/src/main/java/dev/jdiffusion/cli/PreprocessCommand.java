package dev.jdiffusion.cli;

import dev.jdiffusion.image.Canny;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/** `jdiffusion preprocess`: the ControlNet annotators, writing the control image they make. */
@Command(name = "preprocess", mixinStandardHelpOptions = true,
        description = "Turn a picture into a ControlNet control image.",
        subcommands = PreprocessCommand.CannyCommand.class)
final class PreprocessCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "name a preprocessor: canny");
    }

    /** `jdiffusion preprocess canny --low L --high H IN OUT`. */
    @Command(name = "canny", mixinStandardHelpOptions = true,
            description = "Canny edges as the ControlNet annotators make them (OpenCV's Canny on the RGB picture): a PNG whose three channels are the edge map (255 edge, 0 not).")
    static final class CannyCommand implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Option(names = "--low", defaultValue = "100", description = "Low hysteresis threshold (default: ${DEFAULT-VALUE}).")
        double low;

        @Option(names = "--high", defaultValue = "200", description = "High hysteresis threshold (default: ${DEFAULT-VALUE}).")
        double high;

        @Parameters(index = "0", description = "The picture.")
        Path input;

        @Parameters(index = "1", description = "The edge map to write (PNG).")
        Path output;

        @Override
        public Integer call() throws IOException {
            if (!Double.isFinite(low) || !Double.isFinite(high) || low < 0 || high < 0)
                throw new ParameterException(spec.commandLine(), "--low and --high must be non-negative numbers");
            if (!Files.isRegularFile(input)) throw new ParameterException(spec.commandLine(), input + ": file not found");
            RgbImage image;
            try {
                image = PngFiles.read(input).image();
            } catch (IOException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage());
            }
            PngFiles.write(output, Canny.edges(image, low, high), Map.of());
            spec.commandLine().getOut().println(output);
            return 0;
        }
    }
}
