package dev.jdiffusion.pipelines;

/** A request was cancelled by its {@link StepListener} (or its thread was interrupted) before it finished. */
public final class GenerationCancelledException extends RuntimeException {
    public GenerationCancelledException(int stepsDone, int totalSteps) {
        super("generation cancelled after " + stepsDone + " of " + totalSteps + " steps");
    }
}
