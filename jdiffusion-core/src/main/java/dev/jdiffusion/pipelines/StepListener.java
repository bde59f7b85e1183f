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

    StepListener NONE = (step, total) -> true;
}
