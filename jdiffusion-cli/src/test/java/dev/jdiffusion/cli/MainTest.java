package dev.jdiffusion.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.Callable;

import static org.junit.jupiter.api.Assertions.*;

/** Whatever a command throws, the user sees one line and an exit status, never a stack trace. */
class MainTest {
    final StringWriter out = new StringWriter(), err = new StringWriter();

    @Command(name = "oom")
    static final class OutOfMemory implements Callable<Integer> {
        @Override public Integer call() { throw new OutOfMemoryError("Java heap space"); }
    }

    @Command(name = "deep")
    static final class TooDeep implements Callable<Integer> {
        @Override public Integer call() { throw new StackOverflowError(); }
    }

    private int run(String... args) {
        CommandLine cl = new CommandLine(new Main()).addSubcommand(new OutOfMemory()).addSubcommand(new TooDeep());
        return Main.run(cl, args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @Test
    void outOfMemoryIsOneLineThatSaysHowToAllowMore() {
        assertEquals(1, run("oom"));
        String msg = err.toString();
        assertEquals(1, msg.lines().count(), msg);
        assertTrue(msg.startsWith("jdiffusion: out of memory (Java heap space; Java may use "), msg);
        assertTrue(msg.contains("JDIFFUSION_JAVA_OPTS=-Xmx"), msg);
        assertEquals("", out.toString());
    }

    @Test
    void otherErrorsAreOneLineToo() {
        assertEquals(1, run("deep"));
        assertEquals("jdiffusion: internal error: java.lang.StackOverflowError", err.toString().strip());
    }
}
