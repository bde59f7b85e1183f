package dev.jdiffusion.training;

/**
 * diffusers' get_scheduler: the learning rate of optimizer step k (0-based, before the scheduler steps) as
 * base · λ(k), with λ for constant, constant_with_warmup, linear and cosine (half a cycle), as LambdaLR computes it.
 */
public final class LearningRateSchedule {
    private final String name;
    private final double base;
    private final int warmup, total;

    private LearningRateSchedule(String name, double base, int warmup, int total) {
        this.name = name;
        this.base = base;
        this.warmup = warmup;
        this.total = total;
    }

    public static LearningRateSchedule of(String name, double base, int warmupSteps, int totalSteps) {
        return switch (name) {
            case "constant", "constant_with_warmup", "linear", "cosine" -> new LearningRateSchedule(name, base, warmupSteps, totalSteps);
            default -> throw new IllegalArgumentException("--lr-scheduler must be constant, constant_with_warmup, linear or cosine, not " + name);
        };
    }

    public double at(int step) {
        double lambda = switch (name) {
            case "constant" -> 1.0;
            case "constant_with_warmup" -> step < warmup ? (double) step / Math.max(1.0, warmup) : 1.0;
            case "linear" -> step < warmup ? (double) step / Math.max(1, warmup)
                    : Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup));
            default -> {
                if (step < warmup) yield (double) step / Math.max(1, warmup);
                double progress = (double) (step - warmup) / Math.max(1, total - warmup);
                yield Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * 0.5 * 2.0 * progress)));
            }
        };
        return base * lambda;
    }
}
