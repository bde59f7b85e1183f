package dev.jdiffusion.spark;

import dev.jdiffusion.io.checkpoint.PredictionType;
import dev.jdiffusion.schedulers.Schedulers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code jdiffusion batch}: one PNG per row of a request table, on Apache Spark (local mode by default), with a
 * Parquet manifest. The same command is the Spark application that {@code spark-submit} runs ({@link BatchApp}).
 * Nothing here touches a Spark class: {@code jdiffusion --help} works without Spark on the class path.
 */
@Command(name = "batch", mixinStandardHelpOptions = true,
        description = {"Generate one PNG per row of a table of requests (CSV with a header, JSON lines or Parquet: columns"
                + " prompt, and optionally id, negative_prompt, seed, steps, guidance, sampler, width, height) on Apache Spark,"
                + " and a Parquet manifest (OUTPUT/manifest.parquet). Rows finished by an earlier run are skipped;"
                + " a bad row is reported in the manifest's errors column while the others complete.",
                "Exit status: 0 when every row has its image, 1 when some rows failed, 2 for bad arguments."})
public final class BatchCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, description = "Model, as generate takes it; on a cluster, a path every node sees or a repo id in each node's Hugging Face cache.")
    String model;

    @Option(names = "--config", description = "Single-file checkpoints of non-standard size: a diffusers folder whose configs describe it.")
    String config;

    @Option(names = "--prediction-type", description = "epsilon or v_prediction, when the weights cannot tell (SD 2.x).")
    String predictionType;

    @Option(names = "--vae", description = "Use another VAE: a diffusers folder or a single file.")
    String vae;

    @Option(names = "--input", required = true, description = "The request table: .csv (header line), .json/.jsonl (JSON lines) or .parquet.")
    String input;

    @Option(names = {"-o", "--output"}, required = true, description = "Output folder (on a cluster: storage every node mounts at this path).")
    Path output;

    @Option(names = "--master", description = "Spark master URL (default: local[*], or the one spark-submit passes), e.g. local[2], spark://host:7077, yarn.")
    String master;

    @Option(names = "--job-seed", defaultValue = "0", description = "Rows without a seed get one derived from their id and this (default: ${DEFAULT-VALUE}).")
    long jobSeed;

    @Option(names = "--negative-prompt", defaultValue = "", description = "For rows without one (default: none).")
    String negativePrompt;

    @Option(names = "--steps", defaultValue = "20", description = "For rows without steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = {"--guidance", "--cfg-scale"}, defaultValue = "7.5", description = "For rows without guidance (default: ${DEFAULT-VALUE}).")
    double guidance;

    @Option(names = "--sampler", defaultValue = "euler_a", description = "For rows without a sampler (default: ${DEFAULT-VALUE}).")
    String sampler;

    @Option(names = "--width", defaultValue = "0", description = "For rows without a width (default: the model's).")
    int width;

    @Option(names = "--height", defaultValue = "0", description = "For rows without a height (default: the model's).")
    int height;

    @Option(names = "--partitions", defaultValue = "0", description = "Number of partitions (default: four per core, at most one per row).")
    int partitions;

    @Option(names = {"-q", "--quiet"}, description = "No line per finished row.")
    boolean quiet;

    @Override
    public Integer call() {
        validate();
        if (!sparkPresent())
            throw new ParameterException(spec.commandLine(), "batch needs Apache Spark on the class path: run it with"
                    + " ./jdiffusion batch (which adds the Spark of this build), or submit the jar to a cluster with"
                    + " spark-submit --class " + BatchApp.class.getName());
        ModelSpec spec = new ModelSpec(model, config, predictionType, vae);
        BatchDefaults defaults = new BatchDefaults(jobSeed, negativePrompt, steps, guidance, sampler, width, height);
        return BatchRunner.run(this.spec.commandLine().getOut(), this.spec.commandLine().getErr(), master, input,
                output, spec, defaults, partitions, quiet);
    }

    private void validate() {
        var cl = spec.commandLine();
        if (!Schedulers.names().contains(sampler))
            throw new ParameterException(cl, "unknown sampler '" + sampler + "'; valid samplers: " + String.join(", ", Schedulers.names()));
        if (steps < 1) throw new ParameterException(cl, "--steps must be at least 1");
        if (width < 0 || height < 0) throw new ParameterException(cl, "--width and --height must be positive");
        if (partitions < 0) throw new ParameterException(cl, "--partitions must be positive");
        if (predictionType != null) {
            try {
                PredictionType.parse(predictionType);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(cl, "--prediction-type: " + e.getMessage());
            }
        }
        if (!input.contains("://")) {  // a local path (others are the cluster's file systems: hdfs://, s3a://)
            try {
                if (!Files.exists(Path.of(input))) throw new ParameterException(cl, "--input " + input + ": file not found");
            } catch (InvalidPathException e) {
                throw new ParameterException(cl, "--input " + input + ": not a path");
            }
        }
    }

    static boolean sparkPresent() {
        try {
            Class.forName("org.apache.spark.sql.SparkSession", false, BatchCommand.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }
}
