package dev.jdiffusion.pipelines;

import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** A JVM started without --add-modules jdk.incubator.vector gets one clear exception, not a NoClassDefFoundError. */
class MissingVectorApiTest {

    /** Run in the child JVM: loads the tiny model and prints what happened, one line. */
    public static void main(String[] args) {
        try (var pipe = StableDiffusionPipeline.fromPretrained(args[0])) {
            System.out.println("loaded " + pipe.modelName());
        } catch (Throwable e) {
            System.out.println(e.getClass().getName() + ": " + e.getMessage());
        }
    }

    @Test
    void theFirstCallSaysWhichJvmOptionToAdd() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                MissingVectorApiTest.class.getName(), Fixtures.model("tiny-sd15").toString())
                .redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        List<String> lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        assertEquals(0, p.exitValue(), String.join("\n", lines));
        assertEquals(1, lines.size(), String.join("\n", lines));
        String line = lines.getFirst();
        assertTrue(line.startsWith(MissingJvmOptionException.class.getName() + ": "), line);
        assertTrue(line.contains("--add-modules jdk.incubator.vector"), line);
        // Control: the same class path with the option loads the model (the message is not the class path's fault).
        Process ok = new ProcessBuilder(java, "--add-modules=jdk.incubator.vector", "-cp", System.getProperty("java.class.path"),
                MissingVectorApiTest.class.getName(), Fixtures.model("tiny-sd15").toString())
                .redirectErrorStream(true).start();
        assertTrue(ok.waitFor(60, TimeUnit.SECONDS));
        String out = new String(ok.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(out.contains("loaded tiny-sd15"), out);
        assertFalse(out.contains("Exception"), out);
        assertEquals(File.pathSeparator.length(), 1);
    }
}
