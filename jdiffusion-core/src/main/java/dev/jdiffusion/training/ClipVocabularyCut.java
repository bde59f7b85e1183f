package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.PythonJson;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A CLIP tokenizer cut to its first {@code merges} BPE merges, for a model trained from scratch with a small
 * embedding table. CLIP's vocabulary is built as the 256 byte symbols, the same 256 with {@code </w>}, one token
 * per merge in merge order, then {@code <|startoftext|>} and {@code <|endoftext|>}; keeping the first N merges
 * keeps ids 0 … 511 + N unchanged and renumbers the special tokens to 512 + N and 513 + N, the two highest ids.
 * Every word still tokenizes (BPE stops at the merges it knows; the byte symbols cover any text), into the same
 * or more tokens than with the full vocabulary. Written in the layout transformers' {@code CLIPTokenizer}
 * loads and saves: vocab.json ({@code json.dumps(indent=2, sort_keys=True, ensure_ascii=False)}), merges.txt
 * (the header line, then one merge a line), tokenizer_config.json and special_tokens_map.json.
 */
public final class ClipVocabularyCut {
    private static final int BYTE_SYMBOLS = 512;

    private ClipVocabularyCut() {}

    /** Writes the first {@code merges} merges of the tokenizer in {@code source} as a tokenizer folder {@code target}. */
    public static void write(Path source, int merges, Path target) throws IOException {
        if (merges < 0) throw new IllegalArgumentException("merges must be >= 0, got " + merges);
        Path vocabFile = source.resolve("vocab.json"), mergesFile = source.resolve("merges.txt");
        JsonNode vocab = JsonConfig.read(vocabFile).root();
        List<String> lines = Files.readString(mergesFile, StandardCharsets.UTF_8).strip().lines().toList();
        if (lines.size() - 1 < merges)
            throw new ModelFormatException(mergesFile, null, "has " + (lines.size() - 1) + " merges, fewer than " + merges);
        JsonConfig config = JsonConfig.read(source.resolve("tokenizer_config.json"));

        // Old id -> new id: the kept tokens keep theirs, tokens past the cut are dropped, added tokens move down.
        int keep = BYTE_SYMBOLS + merges;
        Map<Integer, Integer> renumbered = new TreeMap<>();
        JsonNode added = config.root().path("added_tokens_decoder");
        int next = keep;
        for (Iterator<String> it = sortedIds(added); it.hasNext(); ) renumbered.put(Integer.parseInt(it.next()), next++);

        Map<String, Integer> cut = new TreeMap<>();
        for (Map.Entry<String, JsonNode> e : vocab.properties()) {
            int id = e.getValue().intValue();
            if (id < keep) cut.put(e.getKey(), id);
            else if (renumbered.containsKey(id)) cut.put(e.getKey(), renumbered.get(id));
        }
        for (int i = 1; i <= merges; i++) {
            String[] pair = lines.get(i).strip().split(" ");
            Integer id = cut.get(pair[0] + pair[1]);
            if (id == null || id != BYTE_SYMBOLS + i - 1)
                throw new ModelFormatException(vocabFile, pair[0] + pair[1], "merge " + i + " of " + mergesFile
                        + " should have id " + (BYTE_SYMBOLS + i - 1) + " (CLIP's vocabulary order), found " + id);
        }
        if (cut.size() != keep + renumbered.size())
            throw new ModelFormatException(vocabFile, null, "expected " + (keep + renumbered.size())
                    + " tokens below the cut, found " + cut.size());

        ObjectNode newConfig = config.root().deepCopy();
        if (newConfig.has("added_tokens_decoder")) {
            ObjectNode decoder = newConfig.putObject("added_tokens_decoder");
            renumbered.forEach((old, id) -> decoder.set(Integer.toString(id), added.get(Integer.toString(old))));
        }

        Files.createDirectories(target);
        Files.writeString(target.resolve("vocab.json"), vocabJson(cut), StandardCharsets.UTF_8);
        Files.writeString(target.resolve("merges.txt"), String.join("\n", lines.subList(0, merges + 1)) + "\n",
                StandardCharsets.UTF_8);
        PythonJson.write(target.resolve("tokenizer_config.json"), newConfig);
        Path specialMap = source.resolve("special_tokens_map.json");
        if (Files.exists(specialMap))
            Files.copy(specialMap, target.resolve("special_tokens_map.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private static Iterator<String> sortedIds(JsonNode added) {
        List<String> ids = new ArrayList<>();
        added.fieldNames().forEachRemaining(ids::add);
        ids.sort((a, b) -> Integer.compare(Integer.parseInt(a), Integer.parseInt(b)));
        return ids.iterator();
    }

    /**
     * transformers' save_vocabulary: {@code json.dumps(encoder, indent=2, sort_keys=True, ensure_ascii=False)}
     * plus a newline. CLIP's tokens are BMP characters below the surrogates, so String order is code point order.
     */
    static String vocabJson(Map<String, Integer> sorted) {
        StringBuilder sb = new StringBuilder("{");
        boolean first = true;
        for (Map.Entry<String, Integer> e : sorted.entrySet()) {
            sb.append(first ? "\n  " : ",\n  ");
            first = false;
            sb.append('"');
            for (char c : e.getKey().toCharArray()) {
                if (c == '"' || c == '\\') sb.append('\\').append(c);
                else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                else sb.append(c);
            }
            sb.append("\": ").append(e.getValue());
        }
        return sb.append("\n}\n").toString();
    }
}
