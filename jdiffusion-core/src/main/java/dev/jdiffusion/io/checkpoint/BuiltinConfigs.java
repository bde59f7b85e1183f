package dev.jdiffusion.io.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.JsonConfig;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The configs of the published SD 1.5 and SD 2.1 pipelines, bundled as resources in diffusers' folder
 * layout ({@code <set>/unet/config.json}, ...), for single-file checkpoints that come without one. The
 * CLIP BPE vocabulary and merges are shared by both (only the pad token differs).
 */
public final class BuiltinConfigs {
    private static final String ROOT = "/dev/jdiffusion/io/checkpoint/";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> TOKENIZER_FILES = List.of("tokenizer_config.json", "special_tokens_map.json");
    private static final List<String> SHARED_TOKENIZER_FILES = List.of("vocab.json", "merges.txt");
    private static final Map<ModelFamily, Path> extracted = new ConcurrentHashMap<>();

    private BuiltinConfigs() {}

    /**
     * A bundled config file, e.g. {@code ("unet", "config.json")}. Its path, used in error messages, reads
     * "(built-in sd15)/unet/config.json": no such file exists on disk.
     */
    public static JsonConfig read(ModelFamily family, String part, String fileName) {
        String resource = ROOT + family.builtInConfigs() + "/" + part + "/" + fileName;
        try (InputStream in = BuiltinConfigs.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing resource " + resource + " (broken build?)");
            JsonNode root = JSON.readTree(in);
            return new JsonConfig(Path.of("(built-in " + family.builtInConfigs() + ")", part, fileName), root);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read resource " + resource, e);
        }
    }

    /**
     * A folder holding the family's tokenizer files (vocab.json, merges.txt, tokenizer_config.json,
     * special_tokens_map.json), written once per JVM to a temporary folder, since tokenizers read files.
     */
    public static Path tokenizerDir(ModelFamily family) {
        return extracted.computeIfAbsent(family, f -> {
            try {
                Path dir = Files.createTempDirectory("jdiffusion-" + f.builtInConfigs() + "-tokenizer-");
                dir.toFile().deleteOnExit(); // registered first, deleted last (after its files)
                for (String name : SHARED_TOKENIZER_FILES) copy(ROOT + "clip-tokenizer/" + name, dir.resolve(name));
                for (String name : TOKENIZER_FILES) copy(ROOT + f.builtInConfigs() + "/tokenizer/" + name, dir.resolve(name));
                try (var files = Files.list(dir)) { files.forEach(p -> p.toFile().deleteOnExit()); }
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the built-in tokenizer files to a temporary folder", e);
            }
        });
    }

    private static void copy(String resource, Path target) throws IOException {
        try (InputStream in = BuiltinConfigs.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing resource " + resource + " (broken build?)");
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
