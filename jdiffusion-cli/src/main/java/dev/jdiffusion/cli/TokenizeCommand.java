package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.models.clip.ClipTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** `jdiffusion tokenize`: a prompt's CLIP token ids and count, as the web UIs' token counter shows it. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Show the CLIP token ids of a prompt and how many of the 75 it uses.")
public final class TokenizeCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "A diffusers model folder (its tokenizer/ is used) or a tokenizer folder.")
    private Path model;

    @Option(names = "--json", description = "Print {\"input_ids\": [...], \"tokens\": K, \"max\": 75}.")
    private boolean json;

    @Parameters(paramLabel = "PROMPT", description = "The prompt.")
    private String prompt;

    @Override
    public Integer call() {
        ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerDir(model));
        int[] ids = tokenizer.encode(prompt);
        int max = tokenizer.maxLength() - 2;  // bos and eos take two of the text encoder's positions
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ObjectNode node = JSON.createObjectNode();
            Arrays.stream(tokenizer.encodePadded(prompt)).forEach(node.putArray("input_ids")::add);
            node.put("tokens", ids.length).put("max", max);
            out.println(node);
        } else {
            String dropped = ids.length > max ? " (the last " + (ids.length - max) + " are dropped)" : "";
            out.println(ids.length + "/" + max + " tokens" + dropped + ": "
                    + Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        }
        return 0;
    }

    /** {@code dir/tokenizer} of a diffusers model, or {@code dir} itself when it holds the tokenizer files. */
    static Path tokenizerDir(Path dir) {
        if (Files.isDirectory(dir.resolve("tokenizer"))) return dir.resolve("tokenizer");
        if (Files.isRegularFile(dir.resolve("vocab.json"))) return dir;
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir, null, "no such model folder");
        throw new ModelFormatException(dir, null, "neither a diffusers model folder (no tokenizer/ in it) "
                + "nor a tokenizer folder (no vocab.json in it)");
    }
}
