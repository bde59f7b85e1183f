package dev.jdiffusion.cli;

import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `./jdiffusion batch` as a user runs it: the launcher puts Spark beside the jar and starts local mode; each finished row
 * is a line on stderr, the summary on stdout, and every PNG is the one `jdiffusion generate` writes for its row.
 */
class BatchCliIT {
    @TempDir Path dir;

    record Run(int code, String stdout, String stderr) {}

    private Run launcher(String... args) throws Exception {
        Path root = Fixtures.root().getParent();
        List<String> cmd = new java.util.ArrayList<>(List.of(root.resolve("jdiffusion").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
                .redirectOutput(dir.resolve("stdout").toFile()).redirectError(dir.resolve("stderr").toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS));
        return new Run(p.exitValue(), Files.readString(dir.resolve("stdout")), Files.readString(dir.resolve("stderr"), StandardCharsets.UTF_8));
    }

    @Test
    void batchThroughTheLauncherWritesTheCliImagesAndReportsEachRow() throws Exception {
        String model = Fixtures.model("tiny-sd15").toString();
        Files.writeString(dir.resolve("rows.csv"), """
                id,prompt,seed,steps,sampler,guidance
                cat,a cat,11,3,euler,7.5
                dog,"a dog, sitting",12,2,dpmpp_2m,5
                bad,a cow,13,2,k_nope,7.5
                """);
        Run r = launcher("batch", "--model", model, "--input", "rows.csv", "--output", "out", "--master", "local[2]");
        assertEquals(1, r.code(), "a failed row makes status 1\n" + r.stderr());
        assertEquals("3 rows: 2 generated, 0 skipped, 1 failed; manifest: " + dir.resolve("out/manifest.parquet") + "\n", r.stdout());
        List<String> lines = r.stderr().lines().toList();
        assertEquals("batch: 3 rows in 3 partitions on local[2]", lines.getFirst(), r.stderr());
        assertEquals(4, lines.size(), "one line per row after the first, nothing from Spark or the JVM:\n" + r.stderr());
        assertTrue(lines.stream().anyMatch(l -> l.matches("\\[\\d/3] cat generated in \\d+\\.\\d s: images/cat\\.png")), r.stderr());
        assertTrue(lines.stream().anyMatch(l -> l.matches("\\[\\d/3] bad failed: unknown sampler 'k_nope'; valid samplers: .*")), r.stderr());

        for (String[] row : List.of(new String[]{"cat", "a cat", "11", "3", "euler", "7.5"},
                new String[]{"dog", "a dog, sitting", "12", "2", "dpmpp_2m", "5"})) {
            Path cli = dir.resolve(row[0] + "-cli.png");
            StringWriter err = new StringWriter();
            assertEquals(0, Main.run(new String[]{"generate", "--model", model, "--prompt", row[1], "--seed", row[2],
                    "--steps", row[3], "--sampler", row[4], "--guidance", row[5], "--quiet", "--output", cli.toString()},
                    new PrintWriter(new StringWriter()), new PrintWriter(err)), err.toString());
            assertArrayEquals(Files.readAllBytes(cli), Files.readAllBytes(dir.resolve("out/images/" + row[0] + ".png")), row[0]);
        }

        Run again = launcher("batch", "--model", model, "--input", "rows.csv", "--output", "out", "--master", "local[2]", "--quiet");
        assertEquals("3 rows: 0 generated, 2 skipped, 1 failed; manifest: " + dir.resolve("out/manifest.parquet") + "\n", again.stdout());
        assertEquals("", again.stderr(), "--quiet: nothing on stderr");

        Run bad = launcher("batch", "--model", model, "--input", "missing.csv", "--output", "out");
        assertEquals(2, bad.code());
        assertEquals("jdiffusion: --input missing.csv: file not found (see 'jdiffusion batch --help')\n", bad.stderr());
    }
}
