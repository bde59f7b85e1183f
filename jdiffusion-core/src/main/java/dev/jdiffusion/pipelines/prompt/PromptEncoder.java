package dev.jdiffusion.pipelines.prompt;

import dev.jdiffusion.io.adapters.TextualInversion;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.clip.ClipTokenizer;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Prompt and negative prompt to the text context the UNet attends to, in either {@link PromptSyntax}:
 * <ul>
 *   <li>{@link PromptSyntax#A1111}, as A1111's {@code sd_hijack_clip} computes it: tags cut, emphasis parsed, the
 *       prompt cut into 77-token chunks ({@link PromptChunker}), each encoded by its own pass of the text encoder
 *       (CLIP skip applied to each), its hidden states multiplied by the token weights and rescaled so that their
 *       mean is the unweighted one, the chunks concatenated along the sequence (77·k tokens); prompt and negative
 *       prompt padded to the same number of chunks with the empty prompt's chunk;</li>
 *   <li>{@link PromptSyntax#PLAIN}, as diffusers' {@code encode_prompt}: the text as it is, truncated to 77 tokens;
 *       the negative prompt uses the last layer even with CLIP skip (as diffusers 0.30 does).</li>
 * </ul>
 * Textual-inversion embeddings work in both ({@link TextualInversions}).
 */
public final class PromptEncoder {
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final TextualInversions embeddings;

    /**
     * @param tokenizer   the model's own tokenizer (without added tokens)
     * @param textEncoder the text encoder, with the embeddings' rows when there are any
     */
    public PromptEncoder(ClipTokenizer tokenizer, ClipTextModel textEncoder, TextualInversions embeddings) {
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.embeddings = embeddings;
    }

    /**
     * The encoded prompts, each (1, L, D).
     *
     * @param uncond the negative prompt's, null without classifier-free guidance
     * @param used   the embeddings the prompts use (prompt first), each once
     */
    public record Encoded(Tensor cond, Tensor uncond, List<TextualInversion> used) {
        /** The UNet's context for a batch of n: (uncond × n ⧺ cond × n), or cond × n without guidance. */
        public Tensor context(int n) {
            Tensor c = repeat(cond, n);
            return uncond == null ? c : TensorOps.concatBatch(repeat(uncond, n), c);
        }
    }

    /**
     * @param clipSkip A1111's "Clip skip": 1 = the last layer, 2 = the penultimate one after the final layer norm, ...
     * @param cfg      whether the negative prompt is needed (classifier-free guidance)
     */
    public Encoded encode(String prompt, String negative, PromptSyntax syntax, int clipSkip, boolean cfg) {
        if (syntax == PromptSyntax.PLAIN) {
            Set<TextualInversion> used = new LinkedHashSet<>();
            Tensor cond = encodePlain(prompt, clipSkip, used);
            Tensor uncond = cfg ? encodePlain(negative, 1, used) : null;
            return new Encoded(cond, uncond, List.copyOf(used));
        }
        List<PromptChunk> c = chunks(prompt);
        // A1111 cuts extra-network tags out of the prompt only: in the negative prompt they are text.
        List<PromptChunk> u = cfg ? new PromptChunker(tokenizer, embeddings).chunks(PromptParser.parse(negative)) : List.of();
        if (cfg) {
            PromptChunk empty = PromptChunk.empty(tokenizer.bosId(), tokenizer.eosId(), PromptChunker.CHUNK_LENGTH + 2);
            c = padded(c, u.size(), empty);
            u = padded(u, c.size(), empty);
        }
        List<PromptChunk> all = new ArrayList<>(c);
        all.addAll(u);
        Tensor[] z = encodeChunks(all, clipSkip);
        Set<TextualInversion> used = new LinkedHashSet<>();
        for (PromptChunk ch : all) for (PromptChunk.Fix f : ch.fixes()) used.add(f.embedding().embedding());
        return new Encoded(join(z, 0, c.size()), cfg ? join(z, c.size(), u.size()) : null, List.copyOf(used));
    }

    /** A prompt's chunks in A1111 syntax: extra-network tags cut, emphasis parsed, chunked. */
    public List<PromptChunk> chunks(String prompt) {
        return new PromptChunker(tokenizer, embeddings).chunks(prompt);
    }

    private static List<PromptChunk> padded(List<PromptChunk> chunks, int length, PromptChunk empty) {
        if (chunks.size() >= length) return chunks;
        List<PromptChunk> out = new ArrayList<>(chunks);
        while (out.size() < length) out.add(empty);
        return out;
    }

    /**
     * Each chunk through the text encoder (a pass of its own, as A1111 makes them: a one-chunk prompt without weights
     * is then exactly what the plain syntax computes), weighted: z · w, rescaled by mean(z) / mean(z · w) over the
     * chunk's 77 × D values. Returns one (77, D) tensor per chunk.
     */
    public Tensor[] encodeChunks(List<PromptChunk> chunks, int clipSkip) {
        Tensor[] out = new Tensor[chunks.size()];
        java.util.Map<java.util.List<Integer>, Tensor> seen = new java.util.HashMap<>();  // the empty chunk pads often
        for (int i = 0; i < out.length; i++) {
            PromptChunk ch = chunks.get(i);
            int[] ids = ch.inputIds(tokenizer.eosId(), tokenizer.padId());
            Tensor hidden = seen.computeIfAbsent(java.util.Arrays.stream(ids).boxed().toList(), k -> hidden(new int[][]{ids}, clipSkip));
            int len = hidden.dim(1), d = hidden.dim(2);
            float[] z = hidden.data().clone();
            if (!ch.unweighted()) emphasize(z, ch.multipliers(), d);
            out[i] = new Tensor(z, len, d);
        }
        return out;
    }

    /** A1111's "Original" emphasis: z1 = z · w per token, z2 = z1 · (mean(z) / mean(z1)). */
    static void emphasize(float[] z, float[] multipliers, int d) {
        double before = 0, after = 0;
        for (int t = 0; t < multipliers.length; t++) {
            float w = multipliers[t];
            for (int j = 0; j < d; j++) {
                int i = t * d + j;
                before += z[i];
                z[i] *= w;
                after += z[i];
            }
        }
        float ratio = (float) ((before / z.length) / (after / z.length));
        for (int i = 0; i < z.length; i++) z[i] *= ratio;
    }

    /** The hidden states CLIP skip selects, (N, L, D). */
    private Tensor hidden(int[][] ids, int clipSkip) {
        ClipTextModel.Output out = textEncoder.forward(ids);
        if (clipSkip <= 1) return out.lastHiddenState();
        List<Tensor> hidden = out.hiddenStates();
        if (clipSkip >= hidden.size())
            throw new IllegalArgumentException("clip skip " + clipSkip + " exceeds the text encoder's "
                    + (hidden.size() - 1) + " layers");
        return textEncoder.finalLayerNorm(hidden.get(hidden.size() - clipSkip));
    }

    /** (1, 77, D) for one prompt read as diffusers reads it (embeddings as load_textual_inversion adds them). */
    public Tensor encodePlain(String text, int clipSkip) { return encodePlain(text, clipSkip, new LinkedHashSet<>()); }

    private Tensor encodePlain(String text, int clipSkip, Set<TextualInversion> used) {
        int[] ids;
        if (embeddings.entries().isEmpty()) {
            ids = tokenizer.encodePadded(text);
        } else {
            ids = embeddings.plainTokenizer().encodePadded(embeddings.plainPrompt(text));
            for (int id : ids) {
                TextualInversions.Entry e = embeddings.ofId(id);
                if (e != null) used.add(e.embedding());
            }
        }
        return hidden(new int[][]{ids}, clipSkip);
    }

    /** The ids diffusers feeds the text encoder for {@code text} (plain syntax). */
    public int[] plainIds(String text) {
        return embeddings.entries().isEmpty() ? tokenizer.encodePadded(text)
                : embeddings.plainTokenizer().encodePadded(embeddings.plainPrompt(text));
    }

    private static Tensor join(Tensor[] z, int from, int count) {
        int len = z[from].dim(0), d = z[from].dim(1);
        float[] out = new float[count * len * d];
        for (int i = 0; i < count; i++) System.arraycopy(z[from + i].data(), 0, out, i * len * d, len * d);
        return new Tensor(out, 1, count * len, d);
    }

    private static Tensor repeat(Tensor t, int n) {
        Tensor out = t;
        for (int i = 1; i < n; i++) out = TensorOps.concatBatch(out, t);
        return out;
    }
}
