package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFiles;
import dev.jdiffusion.io.adapters.TextualInversion;
import dev.jdiffusion.io.checkpoint.BuiltinConfigs;
import dev.jdiffusion.io.checkpoint.FamilyDetector;
import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.models.clip.ClipTokenizer;
import dev.jdiffusion.pipelines.prompt.PromptChunk;
import dev.jdiffusion.pipelines.prompt.PromptChunker;
import dev.jdiffusion.pipelines.prompt.PromptSyntax;
import dev.jdiffusion.pipelines.prompt.TextualInversions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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

    @Option(names = "--prompt-syntax", defaultValue = "a1111", paramLabel = "a1111|plain",
            description = "As for generate (default: ${DEFAULT-VALUE}): a1111 shows the 75-token chunks and the weights;"
                    + " plain the 77 ids diffusers feeds the text encoder.")
    private String promptSyntax;

    @Option(names = "--embedding", paramLabel = "PATH", description = "A textual-inversion embedding whose trigger the prompt may use; repeatable.")
    private List<Path> embeddings = new ArrayList<>();

    @Option(names = "--embeddings-dir", paramLabel = "DIR", description = "Every embedding in DIR.")
    private Path embeddingsDir;

    @Parameters(paramLabel = "PROMPT", description = "The prompt.")
    private String prompt;

    @Override
    public Integer call() {
        PromptSyntax syntax;
        try {
            syntax = PromptSyntax.parse(promptSyntax);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--prompt-syntax: " + e.getMessage());
        }
        ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerDir(ModelLocator.resolve(model)));
        List<TextualInversion> given = embeddings.stream().map(TextualInversion::read).toList();
        List<TextualInversion> found = embeddingsDir == null ? List.of()
                : TextualInversion.filesIn(embeddingsDir).stream().map(TextualInversion::read).toList();
        TextualInversions ti = TextualInversions.of(tokenizer, 0, given, found);
        if (syntax == PromptSyntax.A1111) return chunks(tokenizer, ti);
        if (!ti.entries().isEmpty()) {
            tokenizer = ti.plainTokenizer();
            prompt = ti.plainPrompt(prompt);
        }
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

    /** A1111 syntax: the chunks, their token ids and weights. */
    private int chunks(ClipTokenizer tokenizer, TextualInversions ti) {
        List<PromptChunk> chunks = new PromptChunker(tokenizer, ti).chunks(prompt);
        int total = chunks.stream().mapToInt(PromptChunk::count).sum();
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ObjectNode node = JSON.createObjectNode();
            node.put("syntax", "a1111").put("tokens", total).put("max", PromptChunker.CHUNK_LENGTH);
            ArrayNode list = node.putArray("chunks");
            for (PromptChunk c : chunks) {
                ObjectNode cn = list.addObject();
                Arrays.stream(c.inputIds(tokenizer.eosId(), tokenizer.padId())).forEach(cn.putArray("input_ids")::add);
                ArrayNode m = cn.putArray("multipliers");
                for (float w : c.multipliers()) m.add(w);
                cn.put("tokens", c.count());
                ArrayNode e = cn.putArray("embeddings");
                for (PromptChunk.Fix f : c.fixes())
                    e.addObject().put("trigger", f.embedding().trigger()).put("position", f.position()).put("vectors", f.embedding().count());
            }
            out.println(node);
            return 0;
        }
        out.println(total + " tokens in " + chunks.size() + (chunks.size() == 1 ? " chunk" : " chunks") + " of "
                + PromptChunker.CHUNK_LENGTH);
        for (int i = 0; i < chunks.size(); i++) {
            PromptChunk c = chunks.get(i);
            out.println("chunk " + (i + 1) + ", " + c.count() + " tokens: " + describe(c, tokenizer));
        }
        return 0;
    }

    /** The chunk's text, runs of equal weight as (text:weight), embeddings by trigger. */
    static String describe(PromptChunk c, ClipTokenizer tokenizer) {
        StringBuilder sb = new StringBuilder();
        int[] tokens = c.tokens();
        float[] w = c.multipliers();
        Map<Integer, PromptChunk.Fix> fixes = new HashMap<>();
        for (PromptChunk.Fix f : c.fixes()) fixes.put(f.position(), f);
        int i = 1, end = c.count() + 1;
        while (i < end) {
            int j = i;
            StringBuilder text = new StringBuilder();
            List<Integer> run = new ArrayList<>();
            while (j < end && w[j] == w[i]) {
                PromptChunk.Fix f = fixes.get(j);
                if (f != null) {
                    text.append(tokenizer.decode(run.stream().mapToInt(Integer::intValue).toArray()));
                    run.clear();
                    text.append(f.embedding().trigger()).append(' ');
                    j += f.embedding().count();
                } else {
                    run.add(tokens[j++]);
                }
            }
            text.append(tokenizer.decode(run.stream().mapToInt(Integer::intValue).toArray()));
            String t = text.toString().strip();
            if (!sb.isEmpty()) sb.append(' ');
            sb.append(w[i] == 1f ? t : "(" + t + ":" + weight(w[i]) + ")");
            i = j;
        }
        return sb.toString();
    }

    private static String weight(float w) {
        String s = String.format(java.util.Locale.ROOT, "%.4f", w).replaceAll("0+$", "");
        return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
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
