package dev.jdiffusion.spark;

/**
 * Told about every finished row (generated, skipped or failed) while a batch runs. Rows finish on the executors;
 * a listener lives in the driver's JVM, so it hears each row as it finishes when the executors run in that JVM
 * (Spark's local mode, the CLI's default), and nothing from other JVMs (on a cluster, Spark's UI shows the tasks).
 * Called from executor threads, possibly at the same time.
 */
@FunctionalInterface
public interface BatchListener {
    /** A row is done; {@code entry} is its manifest row. */
    void rowFinished(ManifestEntry entry);

    /** The job has counted its rows and starts generating (called once, on the driver, before any row). */
    default void jobStarted(long rows, int partitions) {}

    /** Hears nothing. */
    BatchListener NONE = e -> {};
}
