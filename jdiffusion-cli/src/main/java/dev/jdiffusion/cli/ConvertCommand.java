package dev.jdiffusion.cli;

import dev.jdiffusion.io.checkpoint.CheckpointConverter;
import dev.jdiffusion.io.checkpoint.PredictionType;
import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.pipelines.StableDiffusionModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code jdiffusion convert IN OUT}: a diffusers folder into one .safetensors file in the original layout,
 * or a single-file checkpoint into a diffusers folder. Prints what it wrote.
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Converts a Stable Diffusion 1.x / 2.x model between a diffusers folder and a single file.",
                "A folder becomes one .safetensors file in the original layout (model.diffusion_model.*,"
                        + " first_stage_model.*, cond_stage_model.*), as diffusers' export script writes it, for the web UIs.",
                "A .safetensors or .ckpt checkpoint becomes a diffusers folder, as save_pretrained writes it."})
public final class ConvertCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "IN", description = "a diffusers folder, or a .safetensors / .ckpt checkpoint")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "a .safetensors file (from a folder), or a folder (from a file)")
    Path out;

    @Option(names = "--half", description = "Write float16 weights (rounded to nearest even, as torch's .half()); "
            + "without it every tensor keeps its dtype.")
    boolean half;

    @Option(names = "--overwrite", description = "Replace OUT when it exists.")
    boolean overwrite;

    @Option(names = "--config", paramLabel = "DIR",
            description = "Single-file checkpoints of non-standard size: a diffusers folder whose configs describe it.")
    Path config;

    @Option(names = "--prediction-type", description = "What the UNet predicts when the weights cannot tell (SD 2.x): "
            + "epsilon or v_prediction; written into the scheduler config.")
    String predictionType;

    @Override
    public Integer call() throws IOException {
        PredictionType prediction = parsePredictionType();
        var options = new CheckpointConverter.Options(half, overwrite, config, prediction);
        CheckpointConverter.checkArguments(in, out, options);
        // Building the model checks every tensor against its config, so that a missing tensor or a shape that
        // does not fit is reported now, naming IN, rather than found in OUT by whatever loads it next.
        StableDiffusionModel.load(in, new LoadOptions(config, prediction, null));
        CheckpointConverter.Result result = CheckpointConverter.convert(in, out, options);

        PrintWriter stdout = spec.commandLine().getOut();
        stdout.println(result.output());
        PrintWriter err = spec.commandLine().getErr();
        err.printf(Locale.ROOT, "%s: %d tensors, %.1f MB%n", result.family().label(), result.tensors(), result.bytes() / 1e6);
        if (!result.skipped().isEmpty())
            err.printf("left out %d tensors that the output's layout has no place for: %s%n", result.skipped().size(),
                    summary(result.skipped()));
        return 0;
    }

    private PredictionType parsePredictionType() {
        if (predictionType == null) return null;
        try {
            return PredictionType.parse(predictionType);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--prediction-type: " + e.getMessage());
        }
    }

    /** The first few names, then how many more. */
    private static String summary(List<String> names) {
        int shown = Math.min(3, names.size());
        return String.join(", ", names.subList(0, shown)) + (names.size() > shown ? ", ... (" + (names.size() - shown) + " more)" : "");
    }
}
