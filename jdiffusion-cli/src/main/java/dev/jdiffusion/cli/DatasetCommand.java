package dev.jdiffusion.cli;

import dev.jdiffusion.datasets.EmojiDataset;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jdiffusion dataset emoji}: builds training data sets (Hugging Face ImageFolder layout). */
@Command(name = "dataset", mixinStandardHelpOptions = true,
        description = "Builds a training data set as a Hugging Face ImageFolder (images + metadata.jsonl).",
        subcommands = {DatasetCommand.Emoji.class})
public final class DatasetCommand {

    @Command(name = "emoji", mixinStandardHelpOptions = true,
            description = {"Noto Emoji artwork on white, 64×64, captioned with names, short names and subcategories, from the"
                    + " unpacked npm package emoji-datasource-google (scripts/emoji-dataset.sh fetches it and runs this).",
                    "Prints the folder written and what it holds."})
    static final class Emoji implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Option(names = "--package", required = true, paramLabel = "DIR",
                description = "The unpacked package: the folder holding emoji.json and img/google/64/.")
        Path packageDir;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "The ImageFolder to write; must not exist.")
        Path output;

        @Override
        public Integer call() throws IOException {
            EmojiDataset.Result r = EmojiDataset.build(packageDir, output);
            spec.commandLine().getOut().println(r.output());
            spec.commandLine().getErr().printf("%d images, %d metadata lines, %d held-out eval prompts (eval_prompts.txt)%n",
                    r.emoji().size(), r.captionLines(), EmojiDataset.evalPrompts(r.emoji()).size());
            return 0;
        }
    }
}
