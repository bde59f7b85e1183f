package dev.jdiffusion.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;

/**
 * Batch generation on Apache Spark: a table of requests in, one PNG per row (with its parameters, as
 * {@code jdiffusion generate} writes it) and a Parquet manifest out.
 *
 * <pre>{@code
 * SparkSession spark = SparkSession.builder().appName("images").getOrCreate();
 * BatchSummary s = new BatchJob(ModelSpec.of("/shared/models/sd15"), Path.of("/shared/out"), BatchDefaults.CLI)
 *         .run(spark, BatchJob.readTable(spark, "/shared/requests.csv"));
 * }</pre>
 *
 * <p>The table's columns ({@link BatchRow#COLUMNS}): {@code prompt} (required), {@code id} (unique; the row number
 * when the table has no such column), and optionally {@code negative_prompt}, {@code seed}, {@code steps},
 * {@code guidance}, {@code sampler}, {@code width}, {@code height}; a missing or null value takes the job's default
 * ({@link BatchDefaults}), a missing seed is derived from the id and the job seed. Other columns are ignored.
 *
 * <p>Output folder (on storage every executor mounts at the same path): {@code images/<id>.png},
 * {@code _rows/<id>.json} (each finished row's record), {@code manifest.parquet} ({@link ManifestEntry#SCHEMA}).
 *
 * <p>Guarantees: a row's image depends only on the row (and the model), so a retried task or a re-run writes the same
 * bytes; a row whose record matches it and whose PNG still has the recorded SHA-256 is skipped, so a killed job
 * resumes where it stopped; a bad row (negative steps, unknown sampler, a size the model refuses) becomes a manifest
 * row with status {@code failed} and the reason in {@code errors} while the others complete. Each executor JVM loads
 * the model once ({@link ExecutorPipelines}) and runs one row per core at a time on it; the rows are spread over
 * about four partitions per core so that every core stays busy to the end.
 */
public final class BatchJob {
    /** The manifest's folder name inside the output folder. */
    public static final String MANIFEST = "manifest.parquet";

    private final ModelSpec model;
    private final Path output;
    private final BatchDefaults defaults;
    private int partitions;
    private BatchListener listener = BatchListener.NONE;

    /**
     * A job over {@code model}, writing to {@code output} (created when missing).
     *
     * @param defaults what rows that leave a column out get, and the job seed
     */
    public BatchJob(ModelSpec model, Path output, BatchDefaults defaults) {
        this.model = Objects.requireNonNull(model, "model");
        this.output = output.toAbsolutePath().normalize();
        this.defaults = Objects.requireNonNull(defaults, "defaults");
    }

    /** Splits the rows into exactly {@code n} partitions (default 0: four per core of the cluster, at most one per row). */
    public BatchJob partitions(int n) {
        if (n < 0) throw new IllegalArgumentException("partitions must be positive, got " + n);
        this.partitions = n;
        return this;
    }

    /** Hears every finished row when the executors run in this JVM (local mode); see {@link BatchListener}. */
    public BatchJob listener(BatchListener l) {
        this.listener = Objects.requireNonNull(l, "listener");
        return this;
    }

    /**
     * Reads a request table: CSV with a header line ({@code .csv}), JSON lines ({@code .json}, {@code .jsonl}) or
     * Parquet ({@code .parquet}, or a folder of Parquet files), by the name's ending.
     *
     * @throws IllegalArgumentException for another ending, or a table without a {@code prompt} column
     */
    public static Dataset<Row> readTable(SparkSession spark, String input) {
        String lower = input.toLowerCase(Locale.ROOT).replaceAll("/+$", "");
        Dataset<Row> table;
        if (lower.endsWith(".csv")) {
            table = spark.read().option("header", "true").option("multiLine", "true").option("escape", "\"").csv(input);
        } else if (lower.endsWith(".json") || lower.endsWith(".jsonl") || lower.endsWith(".ndjson")) {
            table = spark.read().json(input);
        } else if (lower.endsWith(".parquet") || Files.isDirectory(Path.of(input))) {
            table = spark.read().parquet(input);
        } else {
            throw new IllegalArgumentException(input + ": the request table must be .csv (with a header), .json/.jsonl"
                    + " (JSON lines) or .parquet");
        }
        if (!Arrays.asList(table.columns()).contains("prompt"))
            throw new IllegalArgumentException(input + ": the table has no 'prompt' column (columns: "
                    + String.join(", ", table.columns()) + ")");
        return table;
    }

    /**
     * Runs the job: generates every row not done yet, writes the manifest, and returns its summary.
     *
     * @throws IllegalArgumentException when the table has no {@code prompt} column
     */
    public BatchSummary run(SparkSession spark, Dataset<Row> requests) {
        List<String> columns = Arrays.asList(requests.columns());
        if (!columns.contains("prompt"))
            throw new IllegalArgumentException("the request table has no 'prompt' column (columns: " + String.join(", ", columns) + ")");
        try {
            Files.createDirectories(output.resolve(RowRecords.IMAGES));
            Files.createDirectories(output.resolve(RowRecords.RECORDS));
            RowRecords.deleteStaleTemporaries(output);
        } catch (IOException e) {
            throw new UncheckedIOException(output + ": cannot prepare the output folder: " + e.getMessage(), e);
        }
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        if (sc.sc().isLocal()) ExecutorPipelines.get(model);  // same JVM as the tasks: a bad model fails here, once

        JavaRDD<BatchRow> rows = normalized(requests, columns);
        Set<String> duplicates = new HashSet<>(requests.sparkSession().createDataset(rows.map(BatchRow::id).rdd(),
                        org.apache.spark.sql.Encoders.STRING()).groupBy("value").count().where("count > 1")
                .select("value").as(org.apache.spark.sql.Encoders.STRING()).collectAsList());
        long count = rows.count();
        int n = partitions > 0 ? partitions : (int) Math.max(1, Math.min(count, 4L * sc.defaultParallelism()));

        String jobId = UUID.randomUUID().toString();
        listener.jobStarted(count, n);
        BatchProgress.register(jobId, listener);
        try {
            JavaRDD<Row> manifest = rows.repartition(n)
                    .mapPartitions(new RowRunner(model, output.toString(), defaults, duplicates, jobId));
            String manifestUri = output.resolve(MANIFEST).toUri().toString();  // file:, whatever the cluster's default FS
            spark.createDataFrame(manifest, ManifestEntry.SCHEMA).repartition(1).write().mode(SaveMode.Overwrite)
                    .parquet(manifestUri);
            return BatchSummary.of(spark.read().parquet(manifestUri), output.resolve(MANIFEST));
        } finally {
            BatchProgress.unregister(jobId);
        }
    }

    /** Every row as text in {@link BatchRow}'s columns; without an id column, the row's number is its id. */
    private static JavaRDD<BatchRow> normalized(Dataset<Row> requests, List<String> columns) {
        List<Column> select = new ArrayList<>();
        for (String c : BatchRow.COLUMNS)
            select.add(columns.contains(c) ? functions.col(c).cast("string").as(c) : functions.lit(null).cast("string").as(c));
        Dataset<Row> text = requests.select(select.toArray(Column[]::new));
        if (columns.contains("id")) return text.javaRDD().map(BatchJob::toBatchRow);
        return text.javaRDD().zipWithIndex().map(t -> {
            Row r = t._1();
            return new BatchRow(Long.toString(t._2()), r.getString(1), r.getString(2), r.getString(3), r.getString(4),
                    r.getString(5), r.getString(6), r.getString(7), r.getString(8));
        });
    }

    private static BatchRow toBatchRow(Row r) {
        return new BatchRow(r.getString(0), r.getString(1), r.getString(2), r.getString(3), r.getString(4),
                r.getString(5), r.getString(6), r.getString(7), r.getString(8));
    }
}
