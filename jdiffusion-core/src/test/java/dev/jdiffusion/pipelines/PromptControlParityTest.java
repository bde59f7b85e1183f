package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.pipelines.prompt.PromptControlFixtures;
import dev.jdiffusion.pipelines.prompt.PromptEncoder;
import dev.jdiffusion.pipelines.prompt.PromptSyntax;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Whole generations with A1111 prompt syntax, LoRAs and textual inversion against the references: the 12 cases of the
 * shared fixtures (A1111's code on transformers' CLIP, diffusers + PEFT for LoRAs) and the unseen cases of
 * testdata/prompt-control-extra (SD 2.x with a LoCon and embeddings, --lora with a tag of separate multipliers,
 * an embeddings folder, plain syntax with adapters and a negative LoRA scale, OpenCLIP-named and pre-PEFT diffusers
 * LoRA files). Each runs through the library API exactly as the CLI builds it: every pixel within 2 levels, mean
 * below 0.05 levels; the prompt embeddings the UNet saw within 1e-4 of the largest magnitude.
 */
class PromptControlParityTest {
    private static final Map<String, StableDiffusionPipeline> PIPELINES = new HashMap<>();

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        PromptControlFixtures.manifest().get("files").properties().forEach(e -> {
            if (e.getKey().startsWith("cases/"))
                out.add(Arguments.of(Named.of(e.getValue().get("name").asText(), e.getValue()), PromptControlFixtures.dir(),
                        PromptControlFixtures.dir().resolve(e.getKey())));
        });
        PromptControlFixtures.extraManifest().get("images").properties().forEach(e ->
                out.add(Arguments.of(Named.of("unseen " + e.getKey(), e.getValue()), Fixtures.root(),
                        PromptControlFixtures.extraDir().resolve("image_" + e.getKey() + ".safetensors"))));
        return out.stream();
    }

    /** The request a manifest case describes; paths are relative to {@code base}. */
    static GenerationRequest request(JsonNode m, Path base) {
        GenerationRequest.Builder b = GenerationRequest.builder(m.get("prompt").asText())
                .negativePrompt(m.path("negative").asText(""))
                .sampler(m.get("sampler").asText()).steps(m.get("steps").asInt()).guidanceScale(m.get("guidance").asDouble())
                .seed(m.get("seed").asLong()).size(m.get("width").asInt(), m.get("height").asInt())
                .clipSkip(m.path("clip_skip").asInt(1));
        if (!m.path("prompt_syntax").isNull() && m.has("prompt_syntax")) b.promptSyntax(PromptSyntax.parse(m.get("prompt_syntax").asText()));
        m.get("loras").forEach(l -> b.lora(base.resolve(l.get("path").asText()), l.path("scale").isNumber() ? l.get("scale").asDouble() : 1.0));
        m.get("embeddings").forEach(p -> b.embedding(base.resolve(p.asText())));
        if (!m.path("lora_dir").isNull()) b.loraDirectory(base.resolve(m.get("lora_dir").asText()));
        if (!m.path("embeddings_dir").isNull()) b.embeddingsDirectory(base.resolve(m.get("embeddings_dir").asText()));
        return b.build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesTheReference(JsonNode m, Path base, Path file) {
        SafeTensors ref = SafeTensors.open(file);
        String model = m.get("model").asText();
        StableDiffusionPipeline pipe = PIPELINES.computeIfAbsent(model, k -> StableDiffusionPipeline.load(Fixtures.model(k)));
        GenerationRequest r = request(m, base);
        GenerationResult result = pipe.generate(r);
        PipelineParityTest.assertImagesMatch(ref, result, 2, 0.05, m.toString().substring(0, 60));

        // The text side the UNet saw, from the same (cached) adapted pipeline.
        StableDiffusionPipeline adapted = pipe.withAdapters(Adapters.of(r));
        PromptEncoder.Encoded e = adapted.promptEncoder().encode(r.prompt(), r.negativePrompt(), r.promptSyntax(), r.clipSkip(), true);
        assertCloseToMax(ref.tensor("prompt_embeds"), e.cond().data(), 1e-4, "prompt_embeds");
        assertCloseToMax(ref.tensor("negative_prompt_embeds"), e.uncond().data(), 1e-4, "negative_prompt_embeds");
        long[] tokens = ref.tensor("prompt_tokens").toLongArray();
        if (r.promptSyntax() == PromptSyntax.PLAIN) {
            assertArrayEquals(tokens, java.util.Arrays.stream(adapted.promptEncoder().plainIds(r.prompt())).asLongStream().toArray());
        } else {
            long[] actual = adapted.promptEncoder().chunks(r.prompt()).stream()
                    .flatMapToInt(c -> java.util.Arrays.stream(c.tokens())).asLongStream().toArray();
            assertArrayEquals(tokens, actual, "prompt tokens (A1111's: 0 where an embedding sits)");
        }
        if (m.has("lora_hashes") && !m.get("lora_hashes").asText().isEmpty()) {
            String params = result.parameters().getFirst();
            assertTrue(params.contains("Lora hashes: \"" + m.get("lora_hashes").asText() + "\""), params);
        }
    }
}
