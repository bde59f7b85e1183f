package dev.jdiffusion.pipelines.prompt;

import dev.jdiffusion.models.clip.ClipTokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A1111's {@code tokenize_line}: a parsed prompt cut into chunks of 75 tokens. Each fragment is tokenized on its own
 * and its tokens carry its weight. The comma rule (comma_padding_backtrack 20): when a chunk is full, the next token
 * is not a comma, and the chunk's last comma is at most 20 tokens back, the tokens after that comma move to a new
 * chunk. A full chunk is closed before the next token goes in (a comma arriving then opens the new chunk and is not
 * remembered there). BREAK closes the chunk (even an empty one). An embedding never straddles two chunks: when its
 * vectors do not fit, the chunk is closed first. At the end the last chunk is closed if it holds tokens or if there
 * is no chunk yet.
 *
 * <p>One deliberate difference from A1111 1.10: when the comma rule moves tokens that include an embedding, the
 * embedding moves with them (A1111 leaves its vectors behind, over the old chunk's padding, and the moved
 * positions read token 0).
 */
public final class PromptChunker {
    public static final int CHUNK_LENGTH = 75;
    public static final int COMMA_BACKTRACK = 20;

    private final ClipTokenizer tokenizer;
    private final TextualInversions embeddings;
    private final int comma;

    public PromptChunker(ClipTokenizer tokenizer, TextualInversions embeddings) {
        this.tokenizer = tokenizer;
        this.embeddings = embeddings;
        this.comma = tokenizer.tokenId(",</w>");
    }

    /** The chunks of a prompt in A1111 syntax: extra-network tags cut, emphasis parsed, chunked. */
    public List<PromptChunk> chunks(String prompt) { return chunks(PromptParser.parse(ExtraNetworks.strip(prompt))); }

    /** The chunks of a parsed prompt (whose extra-network tags are already cut out). */
    public List<PromptChunk> chunks(List<PromptParser.Fragment> parsed) {
        State s = new State();
        for (PromptParser.Fragment f : parsed) {
            if (f.isBreak()) {
                s.next();
                continue;
            }
            int[] tokens = tokenizer.encode(f.text());
            float weight = (float) f.weight();
            int position = 0;
            while (position < tokens.length) {
                int token = tokens[position];
                if (token == comma) {
                    s.lastComma = s.size;
                } else if (s.size == CHUNK_LENGTH && s.lastComma != -1 && s.size - s.lastComma <= COMMA_BACKTRACK) {
                    s.relocateAfter(s.lastComma + 1);
                }
                if (s.size == CHUNK_LENGTH) s.next();
                TextualInversions.Entry e = embeddings.at(tokens, position);
                if (e == null) {
                    s.add(token, weight);
                    position++;
                    continue;
                }
                if (s.size + e.count() > CHUNK_LENGTH) s.next();
                s.fixes.add(new Fix(s.size, e));
                for (int i = 0; i < e.count(); i++) s.add(0, weight);
                position += e.triggerIds().length;
            }
        }
        if (s.size > 0 || s.chunks.isEmpty()) s.next();
        return s.chunks;
    }

    private record Fix(int offset, TextualInversions.Entry embedding) {}

    private final class State {
        final List<PromptChunk> chunks = new ArrayList<>();
        int[] tokens = new int[CHUNK_LENGTH];
        float[] weights = new float[CHUNK_LENGTH];
        List<Fix> fixes = new ArrayList<>();
        int size, lastComma = -1;

        void add(int token, float weight) {
            tokens[size] = token;
            weights[size++] = weight;
        }

        /** Closes the chunk at {@code at} and starts the next with the tokens (and embeddings) from there on. */
        void relocateAfter(int at) {
            int[] movedTokens = Arrays.copyOfRange(tokens, at, size);
            float[] movedWeights = Arrays.copyOfRange(weights, at, size);
            List<Fix> movedFixes = new ArrayList<>(), kept = new ArrayList<>();
            for (Fix f : fixes) (f.offset() >= at ? movedFixes : kept).add(f);
            size = at;
            fixes = kept;
            next();
            for (int i = 0; i < movedTokens.length; i++) add(movedTokens[i], movedWeights[i]);
            for (Fix f : movedFixes) fixes.add(new Fix(f.offset() - at, f.embedding()));
        }

        /** Pads with eos to 75, adds bos and eos, starts an empty chunk. */
        void next() {
            int[] t = new int[CHUNK_LENGTH + 2];
            float[] m = new float[CHUNK_LENGTH + 2];
            Arrays.fill(t, tokenizer.eosId());
            Arrays.fill(m, 1f);
            t[0] = tokenizer.bosId();
            System.arraycopy(tokens, 0, t, 1, size);
            System.arraycopy(weights, 0, m, 1, size);
            List<PromptChunk.Fix> placed = new ArrayList<>();
            for (Fix f : fixes) placed.add(new PromptChunk.Fix(f.offset() + 1, f.embedding()));
            chunks.add(new PromptChunk(t, m, List.copyOf(placed), size));
            size = 0;
            lastComma = -1;
            fixes = new ArrayList<>();
        }
    }
}
