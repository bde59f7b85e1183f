package dev.jdiffusion.spark;

import org.apache.spark.sql.SparkSession;

import java.nio.file.Path;

/** The batch job in a JVM of its own, slowed down by its listener (0.4 s per finished row) so a test can kill it partway. */
public final class SlowBatchMain {
    private SlowBatchMain() {}

    public static void main(String[] args) {
        SparkSession spark = BatchTables.localSpark();
        new BatchJob(ModelSpec.of(BatchTables.MODEL), Path.of(args[1]), BatchDefaults.CLI.withJobSeed(BatchTables.JOB_SEED))
                .listener(e -> {
                    try {
                        Thread.sleep(400);
                    } catch (InterruptedException ex) {
                        Thread.currentThread().interrupt();
                    }
                })
                .run(spark, BatchJob.readTable(spark, args[0]));
        spark.stop();
    }
}
