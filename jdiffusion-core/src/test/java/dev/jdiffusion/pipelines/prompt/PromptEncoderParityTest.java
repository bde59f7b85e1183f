package dev.jdiffusion.pipelines.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.pipelines.Adapters;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The text side alone: token ids, weights and the text encoder's weighted, chunked output, against A1111's own code on
 * transformers' CLIP (fixture text/*.safetensors) and against the unseen cases of testdata/prompt-control-extra
 * (three chunks, nesting, escapes, odd spacing, SD 2.x, CLIP skip, BREAK in brackets, the comma rule's edge, embeddings
 * at a chunk boundary). Ids and weights exactly; embeddings within 1e-4 of the largest magnitude.
 */
class PromptEncoderParityTest {
    static final double TOL = 1e-4;
    private static final Map<String, StableDiffusionPipeline> PIPELINES = new HashMap<>();

    static StableDiffusionPipeline pipeline(String model) {
        return PIPELINES.computeIfAbsent(model, m -> StableDiffusionPipeline.load(Fixtures.model(m)));
    }

    static Stream<Arguments> fixtureTexts() {
        List<Arguments> out = new ArrayList<>();
        PromptControlFixtures.manifest().get("files").properties().forEach(e -> {
            if (e.getKey().startsWith("text/")) out.add(Arguments.of(Named.of(e.getKey(), e.getKey()), e.getValue()));
        });
        return out.stream();
    }

    /** A1111's FrozenCLIPEmbedderWithCustomWords([prompt]) on tiny-sd15: tokens, multipliers, embeddings of every chunk. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtureTexts")
    void fixtureTextFiles(String file, JsonNode m) {
        SafeTensors ref = PromptControlFixtures.file(file);
        PromptEncoder enc = pipeline(m.get("model").asText()).promptEncoder();
        List<PromptChunk> chunks = enc.chunks(m.get("prompt").asText());
        assertEquals(m.get("chunks").asInt(), chunks.size(), "chunks");
        assertChunks(ref.tensor("tokens"), ref.tensor("multipliers"), chunks, file);
        PromptEncoder.Encoded e = enc.encode(m.get("prompt").asText(), "", PromptSyntax.A1111, 1, false);
        assertCloseToMax(ref.tensor("prompt_embeds"), e.cond().data(), TOL, file);
    }

    static Stream<Arguments> extraTexts() {
        List<Arguments> out = new ArrayList<>();
        PromptControlFixtures.extraManifest().get("text").properties().forEach(e ->
                out.add(Arguments.of(Named.of(e.getKey() + ": " + e.getValue().get("what").asText(), e.getKey()), e.getValue())));
        return out.stream();
    }

    /** Unseen prompts: A1111's rules re-run in Python on the same CLIP (see scripts/refgen/prompt_control_refs.py). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("extraTexts")
    void unseenTexts(String name, JsonNode m) {
        SafeTensors ref = PromptControlFixtures.extraFile("text_" + name + ".safetensors");
        GenerationRequest.Builder b = GenerationRequest.builder(m.get("prompt").asText());
        m.get("embeddings").forEach(p -> b.embedding(Fixtures.root().resolve(p.asText())));
        StableDiffusionPipeline pipe = pipeline(m.get("model").asText()).withAdapters(Adapters.of(b.build()));
        PromptEncoder enc = pipe.promptEncoder();
        String prompt = m.get("prompt").asText(), negative = m.get("negative").asText();
        List<PromptChunk> c = enc.chunks(prompt), u = new ArrayList<>(enc.chunks(negative));
        assertEquals(m.get("chunks").asInt(), c.size(), name + ": chunks");
        PromptChunk empty = PromptChunk.empty(pipe.model().tokenizer().bosId(), pipe.model().tokenizer().eosId(), 77);
        while (u.size() < c.size()) u.add(empty);
        assertChunks(ref.tensor("prompt_tokens"), ref.tensor("prompt_multipliers"), c, name + " prompt");
        assertChunks(ref.tensor("negative_tokens"), ref.tensor("negative_multipliers"), u, name + " negative");
        List<String> fixes = new ArrayList<>();
        for (int i = 0; i < c.size(); i++) for (PromptChunk.Fix f : c.get(i).fixes()) fixes.add(i + "," + f.position() + "," + f.embedding().trigger());
        List<String> expectedFixes = new ArrayList<>();
        m.get("fixes").forEach(f -> expectedFixes.add(f.get(0).asInt() + "," + f.get(1).asInt() + "," + f.get(2).asText()));
        assertEquals(expectedFixes, fixes, name + ": embeddings placed");
        int clipSkip = m.get("clip_skip").asInt();
        assertWeighted(enc, c, clipSkip, ref.tensor("prompt_embeds"), ref.tensor("prompt_mean_ratio"), name + " prompt");
        assertWeighted(enc, u, clipSkip, ref.tensor("negative_prompt_embeds"), ref.tensor("negative_mean_ratio"), name + " negative");
        // And the encoder's own result is that weighting, chunk after chunk.
        PromptEncoder.Encoded e = enc.encode(prompt, negative, PromptSyntax.A1111, clipSkip, true);
        float[] expected = new float[e.cond().size()];
        int off = 0;
        for (PromptChunk ch : c) {
            float[] z = enc.encodeChunks(List.of(ch), clipSkip)[0].data();
            System.arraycopy(z, 0, expected, off, z.length);
            off += z.length;
        }
        assertArrayEquals(expected, e.cond().data(), name);
    }

    /**
     * Per chunk: the weighted hidden states z·w against the reference's (its output divided by its mean ratio) within
     * 1e-4 of the largest magnitude, and the mean ratio mean(z) / mean(z·w) within 1e-4 plus what its conditioning
     * allows. The tiny models' hidden states have means near 0 (1e-5 against values near 1), so a mean is a sum of
     * thousands of values that almost cancel: with weights far from 1 (0.5, negative ones) the float32 rounding of
     * either implementation moves the ratio by κ·ε, κ = Σ|z| / |Σ z| + Σ|z·w| / |Σ z·w| (up to 10⁵ here), ε ≈ 2e-6
     * (the text encoders' agreement). The ratio scales the whole chunk, so the token-by-token content is checked tightly above.
     */
    static void assertWeighted(PromptEncoder enc, List<PromptChunk> chunks, int clipSkip, WeightTensor embeds, WeightTensor ratios, String what) {
        assertEquals(chunks.size(), ratios.size(), what + ": chunks");
        int per = (int) (embeds.size() / chunks.size());
        for (int k = 0; k < chunks.size(); k++) {
            PromptChunk ch = chunks.get(k);
            float[] ones = new float[ch.multipliers().length];
            java.util.Arrays.fill(ones, 1f);
            float[] z = enc.encodeChunks(List.of(new PromptChunk(ch.tokens(), ones, ch.fixes(), ch.count())), clipSkip)[0].data();
            int d = z.length / ch.multipliers().length;
            double sz = 0, sw = 0, absZ = 0, absW = 0;
            float[] weighted = new float[z.length];
            for (int i = 0; i < z.length; i++) {
                weighted[i] = z[i] * ch.multipliers()[i / d];
                sz += z[i];
                sw += weighted[i];
                absZ += Math.abs(z[i]);
                absW += Math.abs(weighted[i]);
            }
            double ratio = (sz / sw), refRatio = ratios.getFloat(k);
            float[] refWeighted = new float[per];
            for (int i = 0; i < per; i++) refWeighted[i] = (float) (embeds.getFloat((long) k * per + i) / refRatio);
            assertCloseToMax(WeightTensor.ofFloats("ref", refWeighted, per), weighted, TOL, what + " chunk " + k + " z·w");
            double kappa = absZ / Math.abs(sz) + absW / Math.abs(sw);
            double allowed = TOL + kappa * 2e-6;
            assertTrue(Math.abs(ratio - refRatio) <= allowed * Math.abs(refRatio), String.format(
                    "%s chunk %d: mean ratio %.7f, reference %.7f (allowed relative %.2g, κ %.0f)", what, k, ratio, refRatio, allowed, kappa));
        }
    }

    static void assertChunks(WeightTensor tokens, WeightTensor multipliers, List<PromptChunk> chunks, String what) {
        assertEquals(tokens.dim(0), chunks.size(), what + ": chunks");
        long[] ids = tokens.toLongArray();
        float[] w = multipliers.toFloatArray();
        for (int i = 0; i < chunks.size(); i++) {
            long[] actual = java.util.Arrays.stream(chunks.get(i).tokens()).asLongStream().toArray();
            assertArrayEquals(java.util.Arrays.copyOfRange(ids, i * 77, i * 77 + 77), actual, what + ": tokens of chunk " + i);
            assertArrayEquals(java.util.Arrays.copyOfRange(w, i * 77, i * 77 + 77), chunks.get(i).multipliers(), what + ": weights of chunk " + i);
        }
    }

    /** A one-chunk prompt without weights is what the plain syntax computes, to the bit (so diffusers parity carries over). */
    @Test
    void anUnweightedShortPromptIsThePlainEncoding() {
        for (String model : List.of("tiny-sd15", "tiny-sd2")) {
            PromptEncoder enc = pipeline(model).promptEncoder();
            String p = "a photo of an astronaut riding a horse on the moon", n = "blurry, low quality";
            PromptEncoder.Encoded a = enc.encode(p, n, PromptSyntax.A1111, 1, true), plain = enc.encode(p, n, PromptSyntax.PLAIN, 1, true);
            assertArrayEquals(plain.cond().data(), a.cond().data(), model);
            assertArrayEquals(plain.uncond().data(), a.uncond().data(), model);
        }
    }
}
