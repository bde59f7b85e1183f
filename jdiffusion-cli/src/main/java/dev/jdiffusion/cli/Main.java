package dev.jdiffusion.cli;

import dev.jdiffusion.io.ModelFormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.io.UncheckedIOException;

/** The `jdiffusion` command: subcommands for each job. Errors reach the user as one line, never a stack trace. */
@Command(name = "jdiffusion", mixinStandardHelpOptions = true, version = "jdiffusion 0.1.0",
        description = "Stable Diffusion in pure Java.",
        subcommands = {GenerateCommand.class, ServeCommand.class, TokenizeCommand.class, DownloadCommand.class, ConvertCommand.class, BenchCommand.class,
                TrainCommand.class, InitModelCommand.class, DatasetCommand.class, EvalEmojiCommand.class,
                dev.jdiffusion.spark.BatchCommand.class, SafetyCheckCommand.class, WatermarkCommand.class, PreprocessCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {

    /** Exit status for bad arguments and bad input files, as picocli uses for usage errors. */
    public static final int EXIT_USAGE = 2;

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the CLI with the given streams; returns the exit status (tests call this directly). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        return run(new CommandLine(new Main()), args, out, err);
    }

    /** {@link #run(String[], PrintWriter, PrintWriter)} of the given command tree (tests add commands that fail). */
    static int run(CommandLine cl, String[] args, PrintWriter out, PrintWriter err) {
        cl.setOut(out);
        cl.setErr(err);
        // Bad arguments: one line naming the problem, exit status 2 (picocli would print the whole usage).
        cl.setParameterExceptionHandler((ex, ignored) -> usageError(ex));
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable e = ex;
            if (e instanceof CommandLine.ParameterException pe) return usageError(pe);
            if (e instanceof dev.jdiffusion.pipelines.GenerationCancelledException) {
                cmd.getErr().println("jdiffusion: " + e.getMessage());
                return 130;
            }
            if (e instanceof dev.jdiffusion.training.TrainingDivergedException) {
                cmd.getErr().println("jdiffusion: " + e.getMessage());
                return 1;
            }
            if (e instanceof ModelFormatException || e instanceof IllegalArgumentException
                    || e instanceof UncheckedIOException || e instanceof java.io.IOException) {
                cmd.getErr().println("jdiffusion: " + e.getMessage());
                return EXIT_USAGE;
            }
            cmd.getErr().println("jdiffusion: internal error: " + e);
            return 1;
        });
        // picocli hands only Exceptions to the handler above; Errors would reach the user as a stack trace.
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            err.println("jdiffusion: out of memory (" + e.getMessage() + "; Java may use "
                    + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB); allow more with JDIFFUSION_JAVA_OPTS=-Xmx<size>,"
                    + " e.g. JDIFFUSION_JAVA_OPTS=-Xmx16g, or make smaller images or batches");
            return 1;
        } catch (Throwable e) {
            err.println("jdiffusion: internal error: " + e);
            return 1;
        }
    }

    private static int usageError(CommandLine.ParameterException ex) {
        CommandLine cmd = ex.getCommandLine();
        cmd.getErr().println("jdiffusion: " + ex.getMessage() + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
        return EXIT_USAGE;
    }
}
