package dev.jdiffusion.spark;

import dev.jdiffusion.io.ModelFormatException;
import picocli.CommandLine;

import java.io.UncheckedIOException;

/**
 * The Spark application: {@code spark-submit --class dev.jdiffusion.spark.BatchApp jdiffusion.jar --model M --input
 * TABLE --output DIR}, with the options of {@code jdiffusion batch} (whose {@code --master} is then spark-submit's).
 * Errors are one line on stderr: exit status 2 for bad arguments or input, 1 when rows failed or the job did.
 */
public final class BatchApp {
    private BatchApp() {}

    /** Runs {@code jdiffusion batch} with these arguments and exits with its status. */
    public static void main(String[] args) {
        CommandLine cl = new CommandLine(new BatchCommand());
        cl.setParameterExceptionHandler((ex, ignored) -> {
            ex.getCommandLine().getErr().println("jdiffusion batch: " + ex.getMessage());
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("jdiffusion batch: " + ex.getMessage());
            return ex instanceof ModelFormatException || ex instanceof IllegalArgumentException
                    || ex instanceof UncheckedIOException ? 2 : 1;
        });
        System.exit(cl.execute(args));
    }
}
