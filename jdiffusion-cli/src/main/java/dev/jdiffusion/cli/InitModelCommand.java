package dev.jdiffusion.cli;

import dev.jdiffusion.training.ModelInitializer;
import dev.jdiffusion.training.TrainingCost;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jdiffusion init-model}: a diffusers folder of freshly initialised weights, the start of training from scratch. */
@Command(name = "init-model", mixinStandardHelpOptions = true,
        description = {"Writes a diffusers folder of freshly initialised float32 weights (as PyTorch initialises diffusers'"
                + " UNet2DConditionModel and AutoencoderKL and transformers' CLIPTextModel) from the configs and tokenizer"
                + " of --config: the starting point for training a model from scratch.",
                "The same --seed gives the same bytes. Prints the folder written; on stderr, the parameters, sizes and"
                        + " FLOPs per training sample."})
public final class InitModelCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--config", required = true, paramLabel = "DIR",
            description = "A diffusers folder with model_index.json, the parts' configs and tokenizer/ (weights, if any, are ignored),"
                    + " e.g. models/jdiffusion-emoji.")
    Path config;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "The folder to write; must not exist.")
    Path output;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the initial weights (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws IOException {
        ModelInitializer.writeFolder(config, output, seed);
        spec.commandLine().getOut().println(output);
        spec.commandLine().getErr().print(TrainingCost.measure(output).summary());
        return 0;
    }
}
