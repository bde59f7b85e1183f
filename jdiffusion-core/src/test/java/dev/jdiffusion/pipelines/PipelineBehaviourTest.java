package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.*;

/** Request handling beyond the reference images: CLIP skip, cancellation, reuse, argument checks. */
class PipelineBehaviourTest {
    static final StableDiffusionPipeline SD15 = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));
    static final String PROMPT = "a photo of an astronaut riding a horse on the moon";

    @Test
    void clipSkipFeedsThePenultimateLayerAfterTheFinalLayerNorm() {
        // transformers' final_layer_norm(hidden_states[-2]): diffusers' clip_skip=1, the web UIs' "Clip skip: 2".
        SafeTensors ref = Fixtures.expected("tiny-sd15", "text_encoder.safetensors");
        assertCloseToMax(ref.tensor("penultimate_final_ln_00"), SD15.promptEncoder().encodePlain(PROMPT, 2).data(), 1e-4, "clip skip 2");
        assertCloseToMax(ref.tensor("last_hidden_state_00"), SD15.promptEncoder().encodePlain(PROMPT, 1).data(), 1e-4, "clip skip 1");
        GenerationRequest r = GenerationRequest.builder(PROMPT).steps(2).seed(1).clipSkip(2).build();
        GenerationResult skip = SD15.generate(r), noSkip = SD15.generate(r.toBuilder().clipSkip(1).build());
        assertFalse(java.util.Arrays.equals(skip.images().getFirst().rgb(), noSkip.images().getFirst().rgb()),
                "clip skip changes the image");
        assertTrue(skip.parameters().getFirst().contains("Clip skip: 2"));
        assertThrows(IllegalArgumentException.class, () -> SD15.generate(r.toBuilder().clipSkip(7).build()));
    }

    @Test
    void cancellingStopsWithinOneStep() {
        List<Integer> seen = new ArrayList<>();
        GenerationRequest r = GenerationRequest.builder(PROMPT).steps(10).seed(3).sampler("euler").build();
        GenerationCancelledException e = assertThrows(GenerationCancelledException.class,
                () -> SD15.generate(r, (step, total) -> {
                    seen.add(step);
                    assertEquals(10, total);
                    return step < 3;
                }));
        assertEquals(List.of(1, 2, 3), seen, "no step runs after the listener says stop");
        assertTrue(e.getMessage().contains("3 of 10"), e.getMessage());
    }

    @Test
    void onePipelineServesManyRequestsAndTheSameSeedGivesTheSameImage() {
        GenerationRequest a = GenerationRequest.builder(PROMPT).steps(3).seed(5).sampler("euler_a").build();
        GenerationRequest b = a.toBuilder().seed(6).build();
        byte[] first = SD15.generate(a).images().getFirst().rgb();
        byte[] other = SD15.generate(b).images().getFirst().rgb();
        byte[] again = SD15.generate(a).images().getFirst().rgb();
        assertArrayEquals(first, again, "same request, same image");
        assertFalse(java.util.Arrays.equals(first, other), "another seed, another image");
    }

    /** diffusers' do_classifier_free_guidance is guidance_scale > 1: at or below 1 only the prompt is denoised. */
    @Test
    void guidanceOfOneOrBelowSwitchesClassifierFreeGuidanceOff() {
        GenerationRequest one = GenerationRequest.builder(PROMPT).negativePrompt("blurry").steps(3).seed(8)
                .sampler("euler").guidanceScale(1.0).build();
        byte[] at1 = SD15.generate(one).images().getFirst().rgb();
        assertArrayEquals(at1, SD15.generate(one.toBuilder().guidanceScale(0.5).build()).images().getFirst().rgb(),
                "0.5 is no guidance, as 1.0 is (not an extrapolation toward the negative prompt)");
        assertFalse(java.util.Arrays.equals(at1, SD15.generate(one.toBuilder().guidanceScale(7.5).build()).images().getFirst().rgb()),
                "7.5 guides");
    }

    @Test
    void requestsAreValidated() {
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder("x").steps(0).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder("x").batchSize(0).build());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SD15.generate(GenerationRequest.builder("x").size(63, 64).steps(1).build()));
        assertTrue(e.getMessage().contains("multiples of 2") && e.getMessage().contains("63x64"), e.getMessage());
        IllegalArgumentException s = assertThrows(IllegalArgumentException.class,
                () -> SD15.generate(GenerationRequest.builder("x").sampler("k_lms").steps(1).build()));
        assertTrue(s.getMessage().contains("euler_a"), s.getMessage());
        GenerationRequest random = GenerationRequest.builder("x").build();
        assertEquals(random.seed(), random.toBuilder().build().seed(), "a random seed is chosen once and kept");
    }
}
