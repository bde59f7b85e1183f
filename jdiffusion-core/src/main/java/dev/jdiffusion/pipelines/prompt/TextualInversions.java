package dev.jdiffusion.pipelines.prompt;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.adapters.TextualInversion;
import dev.jdiffusion.models.clip.ClipTokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The textual-inversion embeddings of a model: each gets token ids of its own after the tokenizer's (one per vector,
 * in load order, as diffusers' {@code load_textual_inversion} numbers them), whose rows the text encoder reads from
 * the embedding ({@link dev.jdiffusion.models.clip.ClipTextModel#withExtraTokens}). Two ways to find them in a prompt:
 * <ul>
 *   <li>A1111: where the trigger word's own token ids (tokenized alone) occur inside a prompt fragment, longest
 *       trigger first ({@link #at});</li>
 *   <li>plain (diffusers): the triggers become added tokens {@code t, t_1, ..., t_{n-1}} of the tokenizer and the
 *       prompt's {@code t} is replaced by {@code "t t_1 ... t_{n-1}"} ({@link #plainTokenizer}, {@link #plainPrompt}).</li>
 * </ul>
 * Embeddings of another width (for another architecture) found in an embeddings folder are kept aside as
 * {@link #skipped()}: a prompt that uses one is an error naming it, one that does not is unaffected (A1111 skips them).
 */
public final class TextualInversions {
    /** One loaded embedding. */
    public record Entry(TextualInversion embedding, int firstId, int[] triggerIds) {
        public String trigger() { return embedding.trigger(); }

        public int count() { return embedding.count(); }
    }

    private final ClipTokenizer base;
    private final List<Entry> entries, skipped;
    private final int firstId, width;
    private final Map<Integer, List<Entry>> byFirstToken = new HashMap<>();
    private volatile ClipTokenizer plain;

    private TextualInversions(ClipTokenizer base, List<Entry> entries, List<Entry> skipped, int firstId, int width) {
        this.base = base;
        this.entries = List.copyOf(entries);
        this.skipped = List.copyOf(skipped);
        this.firstId = firstId;
        this.width = width;
        for (Entry e : entries) index(e);
        for (Entry e : skipped) index(e);
        // A1111 keeps each list sorted by trigger length, longest first (a stable sort: the first loaded wins a tie).
        byFirstToken.values().forEach(l -> l.sort(Comparator.comparingInt((Entry e) -> e.triggerIds().length).reversed()));
    }

    private void index(Entry e) {
        if (e.triggerIds().length > 0) byFirstToken.computeIfAbsent(e.triggerIds()[0], k -> new ArrayList<>()).add(e);
    }

    /** No embeddings. */
    public static TextualInversions none(ClipTokenizer base, int width) {
        return new TextualInversions(base, List.of(), List.of(), base.size(), width);
    }

    /**
     * @param width     the text encoder's hidden size: an explicitly given embedding of another width is refused by name
     *                  (0: any width, for tokenizing without the text encoder)
     * @param given     embeddings asked for by name (--embedding)
     * @param fromFolder embeddings found in a folder: those of another width are set aside
     */
    public static TextualInversions of(ClipTokenizer base, int width, List<TextualInversion> given, List<TextualInversion> fromFolder) {
        List<Entry> entries = new ArrayList<>(), skipped = new ArrayList<>();
        Map<String, TextualInversion> seen = new LinkedHashMap<>();
        int next = base.size();
        for (int pass = 0; pass < 2; pass++) {
            for (TextualInversion e : pass == 0 ? given : fromFolder) {
                TextualInversion other = seen.putIfAbsent(e.trigger(), e);
                if (other != null) {
                    if (other.file().toAbsolutePath().normalize().equals(e.file().toAbsolutePath().normalize())) continue;
                    throw new ModelFormatException(e.file(), null, "two embeddings have the trigger '" + e.trigger()
                            + "': this file and " + other.file());
                }
                int[] ids = base.encode(e.trigger());
                if (width > 0 && e.width() != width) {
                    if (pass == 0) throw wrongWidth(e, width);
                    skipped.add(new Entry(e, -1, ids));
                    continue;
                }
                entries.add(new Entry(e, next, ids));
                next += e.count();
            }
        }
        return new TextualInversions(base, entries, skipped, base.size(), width);
    }

    static ModelFormatException wrongWidth(TextualInversion e, int width) {
        return new ModelFormatException(e.file(), null, "embedding '" + e.trigger() + "' has vectors of width " + e.width()
                + family(e.width()) + ", but this model's text encoder takes " + width + family(width)
                + ": an embedding made for another architecture");
    }

    private static String family(int w) {
        return switch (w) {
            case 768 -> " (SD 1.x)";
            case 1024 -> " (SD 2.x)";
            default -> "";
        };
    }

    public boolean isEmpty() { return entries.isEmpty() && skipped.isEmpty(); }

    public List<Entry> entries() { return entries; }

    /** Embeddings from a folder that do not fit this model. */
    public List<Entry> skipped() { return skipped; }

    /** The first extra token id (the tokenizer's size). */
    public int firstId() { return firstId; }

    /** All vectors, in id order: the text encoder's extra rows. */
    public float[] rows() {
        int n = 0;
        for (Entry e : entries) n += e.count();
        float[] rows = new float[n * width];
        int off = 0;
        for (Entry e : entries) {
            System.arraycopy(e.embedding().vectors(), 0, rows, off, e.embedding().vectors().length);
            off += e.embedding().vectors().length;
        }
        return rows;
    }

    /**
     * The embedding whose trigger ids start at {@code tokens[position]} (the longest, as A1111's
     * find_embedding_at_position), or null. A skipped embedding found there is an error naming it.
     */
    public Entry at(int[] tokens, int position) {
        List<Entry> candidates = byFirstToken.get(tokens[position]);
        if (candidates == null) return null;
        for (Entry e : candidates) {
            int[] ids = e.triggerIds();
            if (position + ids.length > tokens.length) continue;
            boolean match = true;
            for (int i = 0; i < ids.length && match; i++) match = tokens[position + i] == ids[i];
            if (!match) continue;
            if (e.firstId() < 0) throw wrongWidth(e.embedding(), width);
            return e;
        }
        return null;
    }

    /** The tokenizer diffusers' load_textual_inversion leaves: the triggers and their _1, _2 ... tokens added, in id order. */
    public ClipTokenizer plainTokenizer() {
        ClipTokenizer t = plain;
        if (t != null) return t;
        List<String> tokens = new ArrayList<>();
        for (Entry e : entries) {
            for (int i = 0; i < e.count(); i++) {
                String token = i == 0 ? e.trigger() : e.trigger() + "_" + i;
                if (base.tokenId(token) >= 0)
                    throw new ModelFormatException(e.embedding().file(), null, "embedding '" + e.trigger() + "': the token '"
                            + token + "' is already in the CLIP vocabulary, and diffusers' load_textual_inversion (what"
                            + " --prompt-syntax plain follows) refuses it; use --prompt-syntax a1111 or rename the embedding");
                tokens.add(token);
            }
        }
        t = base.withAddedTokens(tokens);
        for (Entry e : entries)
            if (t.tokenId(e.trigger()) != e.firstId()) throw new IllegalStateException("token ids out of step for " + e.trigger());
        plain = t;
        return t;
    }

    /** diffusers' maybe_convert_prompt: each multi-vector trigger in the prompt's tokens becomes "t t_1 ... t_{n-1}". */
    public String plainPrompt(String prompt) {
        if (entries.isEmpty()) return prompt;
        int[] ids = plainTokenizer().encode(prompt);
        for (Entry e : entries) {
            if (e.count() == 1 || java.util.Arrays.stream(ids).noneMatch(id -> id == e.firstId())) continue;
            StringBuilder replacement = new StringBuilder(e.trigger());
            for (int i = 1; i < e.count(); i++) replacement.append(' ').append(e.trigger()).append('_').append(i);
            prompt = prompt.replace(e.trigger(), replacement);
        }
        return prompt;
    }

    /** The entry an extra token id belongs to, or null for a vocabulary id. */
    public Entry ofId(int id) {
        for (Entry e : entries) if (id >= e.firstId() && id < e.firstId() + e.count()) return e;
        return null;
    }
}
