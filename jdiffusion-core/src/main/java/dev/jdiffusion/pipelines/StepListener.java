package dev.jdiffusion.pipelines;

/** Told after every denoising step; return false to cancel (the pipeline stops before the next step). */
@FunctionalInterface
public interface StepListener {
    /**
     * @param step       steps done so far, 1-based
     * @param totalSteps the number of UNet evaluations this request will run
     * @return true to go on, false to cancel
     */
    boolean onStep(int step, int totalSteps);

    /**
     * What a cancel ({@link #onStep} returning false) means: false (the default) throws
     * {@link GenerationCancelledException}; true stops denoising and returns the images decoded from the latest
     * denoised estimate, as AUTOMATIC1111's interrupt and skip do.
     */
    default boolean keepPartialResult() { return false; }

    /** Whether {@link #onPreview} wants this step's denoised estimate (asked before {@link #onStep}; default never). */
    default boolean wantsPreview(int step, int totalSteps) { return false; }

    /** The denoised estimate after a step, for live previews; called on the generating thread, before {@link #onStep}. */
    default void onPreview(StepPreview preview) {}

    StepListener NONE = (step, total) -> true;
}
