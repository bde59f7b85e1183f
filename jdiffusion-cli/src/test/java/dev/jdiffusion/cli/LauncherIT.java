package dev.jdiffusion.cli;

import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The ./jdiffusion launcher itself (after `package`, so it finds the jar built and runs it without building). */
class LauncherIT {
    @TempDir Path dir;

    @Test
    void aBadArgumentIsExactlyOneStderrLineWithoutTheJvmNoticeAndStatus2() throws Exception {
        Path root = Fixtures.root().getParent();
        ProcessBuilder pb = new ProcessBuilder(root.resolve("jdiffusion").toString(), "generate",
                "--model", Fixtures.model("tiny-sd15").toString(), "--prompt", "x", "--sampler", "nope")
                .directory(dir.toFile()).redirectOutput(dir.resolve("stdout").toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        // Read stderr to its end, which comes when both Java and the launcher's filter have closed it.
        String stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(2, p.exitValue(), stderr);
        assertEquals("", Files.readString(dir.resolve("stdout")));
        List<String> lines = stderr.lines().toList();
        assertEquals(1, lines.size(), stderr);
        assertTrue(lines.getFirst().startsWith("jdiffusion: unknown sampler 'nope'; valid samplers: ddim"), stderr);
        assertTrue(stderr.endsWith("\n"), "the line is whole");
    }
}
