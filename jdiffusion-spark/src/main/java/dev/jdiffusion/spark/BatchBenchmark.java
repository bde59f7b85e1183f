package dev.jdiffusion.spark;

import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Local batch throughput against a plain loop, in the same run: the same N requests generated one after another by
 * one pipeline in this thread (the loop), then as a batch job in Spark's local mode (in this JVM, the model already
 * loaded), then the loop again; images per second of each, the loop's being the mean of its two runs.
 * <p>Arguments: MODEL ROWS STEPS SIZE [MASTER=local[*]] [OUTPUT_DIR=a temporary folder].
 * Run with {@code scripts/bench-batch.sh}.
 */
public final class BatchBenchmark {
    private BatchBenchmark() {}

    /** Runs the comparison and prints one line per measurement and a summary. */
    public static void main(String[] args) throws IOException {
        String model = args[0];
        int rows = Integer.parseInt(args[1]), steps = Integer.parseInt(args[2]), size = Integer.parseInt(args[3]);
        String master = args.length > 4 ? args[4] : "local[*]";
        Path out = args.length > 5 ? Path.of(args[5]) : Files.createTempDirectory("jdiffusion-bench-batch");
        BatchDefaults defaults = new BatchDefaults(7, "", steps, 7.5, "euler_a", size, size);
        List<GenerationRequest> requests = new ArrayList<>();
        List<Row> table = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            String id = "row-" + i, prompt = "a photo of thing number " + i;
            table.add(RowFactory.create(id, prompt));
            requests.add(new BatchRow(id, prompt, null, null, null, null, null, null, null).resolve(defaults).request());
        }
        ModelSpec spec = ModelSpec.of(model);
        StableDiffusionPipeline pipe = ExecutorPipelines.get(spec);
        for (int i = 0; i < Math.min(2, rows); i++) pipe.generate(requests.get(i));  // JIT warm-up
        double loop1 = loop(pipe, requests);
        SparkSession spark = SparkSession.builder().master(master).appName("jdiffusion batch bench")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        StructType schema = DataTypes.createStructType(List.of(DataTypes.createStructField("id", DataTypes.StringType, false),
                DataTypes.createStructField("prompt", DataTypes.StringType, false)));
        Dataset<Row> df = spark.createDataFrame(table, schema);
        long t0 = System.nanoTime();
        BatchSummary s = new BatchJob(spec, out.resolve("batch-" + System.nanoTime()), defaults).run(spark, df);
        double batch = (System.nanoTime() - t0) / 1e9;
        if (s.generated() != rows) throw new IllegalStateException("batch generated " + s.generated() + " of " + rows);
        spark.stop();
        double loop2 = loop(pipe, requests);
        double loop = (loop1 + loop2) / 2;
        System.out.printf(Locale.ROOT, "rows %d, %d steps, %dx%d, %s, %d cores%n", rows, steps, size, size, master,
                Runtime.getRuntime().availableProcessors());
        System.out.printf(Locale.ROOT, "loop:  %.2f s, %.2f s  -> %.3f images/s%n", loop1, loop2, rows / loop);
        System.out.printf(Locale.ROOT, "batch: %.2f s            -> %.3f images/s (%.2fx the loop)%n", batch, rows / batch, loop / batch);
    }

    private static double loop(StableDiffusionPipeline pipe, List<GenerationRequest> requests) {
        long t0 = System.nanoTime();
        for (GenerationRequest r : requests) pipe.generate(r);
        return (System.nanoTime() - t0) / 1e9;
    }
}
