package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFiles;
import dev.jdiffusion.io.checkpoint.BuiltinConfigs;
import dev.jdiffusion.io.checkpoint.FamilyDetector;
import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.io.hub.ModelLocator;
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

    @Option(names = "--model", required = true, paramLabel = "MODEL",
            description = "As for generate: a diffusers folder (its tokenizer/ is used), a single-file .safetensors/.ckpt"
                    + " checkpoint (the built-in CLIP tokenizer of its family), a Hugging Face repo id (org/name) in the"
                    + " local Hugging Face cache; or a tokenizer folder.")
    private String model;

    @Option(names = "--json", description = "Print {\"input_ids\": [...], \"tokens\": K, \"max\": 75}.")
    private boolean json;

    @Parameters(paramLabel = "PROMPT", description = "The prompt.")
    private String prompt;

    @Override
    public Integer call() {
        ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerDir(ModelLocator.resolve(model)));
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

    /**
     * {@code dir/tokenizer} of a diffusers model, {@code dir} itself when it holds the tokenizer files, or, for a
     * single-file checkpoint (or a cached snapshot holding one, chosen as generate chooses it), the built-in
     * tokenizer of the family its tensors show (SD 1.x and 2.x pad differently), as generate uses without --config.
     */
    static Path tokenizerDir(Path dir) {
        Path checkpoint = HubCache.checkpointIn(dir).orElse(dir);
        if (Files.isRegularFile(checkpoint))
            return BuiltinConfigs.tokenizerDir(FamilyDetector.detect(TensorFiles.open(checkpoint)).family());
        if (Files.isDirectory(dir.resolve("tokenizer"))) return dir.resolve("tokenizer");
        if (Files.isRegularFile(dir.resolve("vocab.json"))) return dir;
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir, null, "no such model folder");
        throw new ModelFormatException(dir, null, "neither a diffusers model folder (no tokenizer/ in it) "
                + "nor a tokenizer folder (no vocab.json in it)");
    }
}
