package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Live previews and A1111-style interrupts through {@link StepListener}: asking for previews changes no image,
 * an interrupt with keepPartialResult returns exactly the decoded preview of the step it stopped at, and without
 * it a cancel still throws.
 */
class StepPreviewTest {
    static final StableDiffusionPipeline PIPELINE = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));

    static GenerationRequest request() {
        return GenerationRequest.builder("a photo of an astronaut").sampler("euler_a").steps(6).seed(12).size(32, 32).build();
    }

    /** Collects every preview; stops after {@code stopAfter} steps (0: never), keeping the partial result. */
    static final class Recorder implements StepListener {
        final List<StepPreview> previews = new ArrayList<>();
        final int stopAfter;
        final boolean keep;

        Recorder(int stopAfter, boolean keep) {
            this.stopAfter = stopAfter;
            this.keep = keep;
        }

        @Override public boolean onStep(int step, int total) { return stopAfter == 0 || step < stopAfter; }
        @Override public boolean keepPartialResult() { return keep; }
        @Override public boolean wantsPreview(int step, int total) { return true; }
        @Override public void onPreview(StepPreview p) { previews.add(p); }
    }

    @Test
    void previewsChangeNothingAndInterruptsReturnTheLastPreview() {
        RgbImage plain = PIPELINE.generate(request()).images().getFirst();
        Recorder all = new Recorder(0, true);
        RgbImage withPreviews = PIPELINE.generate(request(), all).images().getFirst();
        assertArrayEquals(plain.rgb(), withPreviews.rgb(), "previews must not change the image");
        assertEquals(6, all.previews.size());
        StepPreview last = all.previews.getLast();
        assertEquals(6, last.step());
        assertEquals(16, last.height());
        assertEquals(4, last.channels());

        Recorder stop = new Recorder(3, true);
        GenerationResult partial = PIPELINE.generate(request(), stop);
        assertEquals(3, stop.previews.size(), "stopped after step 3");
        StepPreview p3 = stop.previews.getLast();
        RgbImage decoded = PIPELINE.decodeLatents(p3.denoised(), p3.batch(), p3.channels(), p3.height(), p3.width()).getFirst();
        assertArrayEquals(decoded.rgb(), partial.images().getFirst().rgb(), "the interrupted image is the step's denoised estimate");
        assertFalse(Arrays.equals(plain.rgb(), partial.images().getFirst().rgb()));
        assertArrayEquals(all.previews.get(2).denoised(), p3.denoised(), "the same step's estimate either way");

        assertThrows(GenerationCancelledException.class, () -> PIPELINE.generate(request(), new Recorder(3, false)));
    }
}
