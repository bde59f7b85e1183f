package dev.jdiffusion.spark;

import dev.jdiffusion.pipelines.StableDiffusionPipeline;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The pipelines of this JVM (a Spark executor, or the driver in local mode): one per model, loaded by the first task
 * that needs it and shared by every task after it, concurrently (weights memory-mapped once; a pipeline serves many
 * threads). Never one load per row or per task. Kept until the JVM ends, as executors are reused across tasks.
 */
public final class ExecutorPipelines {
    private static final ConcurrentHashMap<ModelSpec, StableDiffusionPipeline> PIPELINES = new ConcurrentHashMap<>();
    private static final AtomicInteger LOADS = new AtomicInteger();

    private ExecutorPipelines() {}

    /** The pipeline of {@code spec}, loading it when this JVM has none yet (other tasks wait for that one load). */
    public static StableDiffusionPipeline get(ModelSpec spec) {
        return PIPELINES.computeIfAbsent(spec, s -> {
            LOADS.incrementAndGet();
            return StableDiffusionPipeline.fromPretrained(s.model(), s.loadOptions());
        });
    }

    /** How many models this JVM has loaded so far (for tests and logs). */
    public static int loads() { return LOADS.get(); }
}
