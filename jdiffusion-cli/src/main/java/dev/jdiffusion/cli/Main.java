package dev.jdiffusion.cli;

import dev.jdiffusion.io.ModelFormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.io.UncheckedIOException;

/** The `jdiffusion` command: subcommands for each job. Errors reach the user as one line, never a stack trace. */
@Command(name = "jdiffusion", mixinStandardHelpOptions = true, version = "jdiffusion 0.1.0",
        description = "Stable Diffusion in pure Java.",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, DownloadCommand.class, ConvertCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main {

    /** Exit status for bad arguments and bad input files, as picocli uses for usage errors. */
    public static final int EXIT_USAGE = 2;

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the CLI with the given streams; returns the exit status (tests call this directly). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Main());
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
            if (e instanceof ModelFormatException || e instanceof IllegalArgumentException
                    || e instanceof UncheckedIOException || e instanceof java.io.IOException) {
                cmd.getErr().println("jdiffusion: " + e.getMessage());
                return EXIT_USAGE;
            }
            cmd.getErr().println("jdiffusion: internal error: " + e);
            return 1;
        });
        return cl.execute(args);
    }

    private static int usageError(CommandLine.ParameterException ex) {
        CommandLine cmd = ex.getCommandLine();
        cmd.getErr().println("jdiffusion: " + ex.getMessage() + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
        return EXIT_USAGE;
    }
}
