package dev.jdiffusion.training;

/** The loss or the gradients stopped being finite numbers: training stops, keeping the last good checkpoint. */
public final class TrainingDivergedException extends RuntimeException {
    public TrainingDivergedException(String message) { super(message); }
}
