package dev.jdiffusion.spark;

import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/** The Spark side of {@link BatchCommand}: starts (or joins) the session, runs the job, prints progress and a summary. */
final class BatchRunner {
    /** Spark's own log lines below WARN would bury the per-row lines: the CLI starts log4j with this configuration. */
    static final String QUIET_LOG_CONFIG = "dev/jdiffusion/spark/log4j2-batch.properties";

    private BatchRunner() {}

    static int run(PrintWriter out, PrintWriter err, String master, String input, Path output, ModelSpec model,
                   BatchDefaults defaults, int partitions, boolean quiet) {
        String submitted = System.getProperty("spark.master");  // spark-submit passes its --master this way
        String url = master != null ? master : submitted != null ? submitted : "local[*]";
        if (submitted == null && System.getProperty("log4j2.configurationFile") == null)
            System.setProperty("log4j2.configurationFile", QUIET_LOG_CONFIG);
        SparkSession.Builder b = SparkSession.builder().appName("jdiffusion batch").master(url);
        if (url.startsWith("local"))  // one machine: no web UI, nothing listening beyond loopback
            b.config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1");
        SparkSession spark = b.getOrCreate();
        try {
            AtomicLong done = new AtomicLong(), total = new AtomicLong();
            BatchSummary s = new BatchJob(model, output, defaults).partitions(partitions).listener(new BatchListener() {
                @Override
                public void jobStarted(long rows, int parts) {
                    total.set(rows);
                    if (!quiet) err.printf(Locale.ROOT, "batch: %d rows in %d partitions on %s%n", rows, parts, url);
                }

                @Override
                public void rowFinished(ManifestEntry e) {
                    long n = done.incrementAndGet();
                    if (quiet) return;
                    String what = switch (e.status()) {
                        case ManifestEntry.GENERATED -> String.format(Locale.ROOT, "generated in %.1f s: %s", e.seconds(), e.file());
                        case ManifestEntry.SKIPPED -> "skipped (already done): " + e.file();
                        default -> "failed: " + e.errors();
                    };
                    synchronized (err) {
                        err.printf(Locale.ROOT, "[%d/%d] %s %s%n", n, total.get(), e.id(), what);
                    }
                }
            }).run(spark, BatchJob.readTable(spark, input));
            out.printf(Locale.ROOT, "%d rows: %d generated, %d skipped, %d failed; manifest: %s%n", s.rows(), s.generated(),
                    s.skipped(), s.failed(), s.path());
            return s.failed() == 0 ? 0 : 1;
        } catch (Exception e) {  // Spark's Scala code throws SparkException (checked) without declaring it
            throw rootCause(e);
        } finally {
            spark.stop();
        }
    }

    /** Spark wraps a task's failure in layers of its own exceptions: the CLI prints the first one of ours (or Java's). */
    private static RuntimeException rootCause(Exception e) {
        Throwable last = e;
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof RuntimeException re && !t.getClass().getName().startsWith("org.apache.spark.")) return re;
            last = t;
        }
        return new IllegalStateException("Spark job failed: " + last.getMessage(), e);
    }
}
