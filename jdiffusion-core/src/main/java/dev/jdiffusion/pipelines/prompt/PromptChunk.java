package dev.jdiffusion.pipelines.prompt;

import java.util.Arrays;
import java.util.List;

/**
 * One pass of the text encoder in A1111's long-prompt scheme: bos, 75 tokens (eos-padded), eos, with a weight per
 * position, and the textual-inversion embeddings placed in it.
 *
 * @param tokens      77 ids as A1111 lists them: an embedding's positions hold 0
 * @param multipliers 77 weights (1 on bos, eos and padding)
 * @param count       how many prompt tokens the chunk holds (embedding vectors included)
 */
public record PromptChunk(int[] tokens, float[] multipliers, List<Fix> fixes, int count) {
    /** An embedding's vectors at positions [position, position + count) of the chunk (bos is position 0). */
    public record Fix(int position, TextualInversions.Entry embedding) {}

    /** A1111's empty chunk: bos and 76 × eos, all weights 1 (what pads the shorter of prompt and negative prompt). */
    public static PromptChunk empty(int bos, int eos, int length) {
        int[] t = new int[length];
        Arrays.fill(t, eos);
        t[0] = bos;
        float[] m = new float[length];
        Arrays.fill(m, 1f);
        return new PromptChunk(t, m, List.of(), 0);
    }

    /**
     * The ids the text encoder reads: embedding positions hold the embedding's own token ids, and when the tokenizer
     * pads with another token than eos (SD 2.x's "!"), every position after the first eos holds the pad id, as
     * A1111's process_tokens (and diffusers' tokenizer) make it.
     */
    public int[] inputIds(int eos, int pad) {
        int[] ids = tokens.clone();
        for (Fix f : fixes)
            for (int i = 0; i < f.embedding().count(); i++) ids[f.position() + i] = f.embedding().firstId() + i;
        if (eos != pad) {
            int first = -1;
            for (int i = 0; i < tokens.length && first < 0; i++) if (tokens[i] == eos) first = i;
            if (first >= 0) for (int i = first + 1; i < ids.length; i++) ids[i] = pad;
        }
        return ids;
    }

    /** Whether every weight is 1 (the weighting then leaves the encoder's output exactly as it is). */
    public boolean unweighted() {
        for (float m : multipliers) if (m != 1f) return false;
        return true;
    }
}
