package dev.jdiffusion.image;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Atomic PNG writes: a failed or interrupted write leaves the previous file as it was and no temporary file. */
class PngFilesTest {
    @TempDir Path dir;

    static RgbImage image(int seed) {
        byte[] rgb = new byte[16 * 8 * 3];
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) (i * 7 + seed * 31);
        return new RgbImage(16, 8, rgb);
    }

    private List<String> names() throws IOException {
        try (var files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aWriteThatFailsLeavesTheExistingFileAndNoTemporaryOne() throws IOException {
        Path png = dir.resolve("out.png");
        PngFiles.write(png, image(1), Map.of("parameters", "first"));
        Path[] seen = new Path[1];
        IOException e = assertThrows(IOException.class, () -> PngFiles.write(png, image(2), Map.of("parameters", "second"),
                tmp -> {
                    seen[0] = tmp;
                    assertTrue(Files.size(tmp) > 0, "the new image was written to the temporary file");
                    throw new IOException("No space left on device");
                }));
        assertEquals("No space left on device", e.getMessage());
        assertTrue(seen[0].getFileName().toString().startsWith(".out.png."), seen[0].toString());
        assertEquals(List.of("out.png"), names(), "no temporary file left");
        PngFiles.Read read = PngFiles.read(png);
        assertArrayEquals(image(1).rgb(), read.image().rgb(), "the first image is intact");
        assertEquals("first", read.text().get("parameters"));
    }

    @Test
    void theFileGetsTheUsualPermissionsNotOwnerOnly() throws IOException {
        Path png = dir.resolve("p.png");
        PngFiles.write(png, image(1), Map.of());
        Path plain = Files.createFile(dir.resolve("plain"));
        if (Files.getFileStore(dir).supportsFileAttributeView("posix"))
            assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(png));
    }

    /** A JVM stopped (SIGTERM, as Ctrl-C's SIGINT) while its temporary file exists deletes it on the way out. */
    @Test
    void anInterruptedRunDeletesItsTemporaryFile() throws Exception {
        Path png = dir.resolve("out.png");
        PngFiles.write(png, image(1), Map.of("parameters", "first"));
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", classPath, StuckWrite.class.getName(), png.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line = out.readLine();
            assertNotNull(line, "the writer started");
            Path tmp = Path.of(line);
            assertTrue(Files.exists(tmp), "temporary file while writing: " + tmp);
            p.destroy();  // SIGTERM: the JVM runs its shutdown hooks, as on Ctrl-C
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the writer stopped");
            assertFalse(Files.exists(tmp), "temporary file deleted: " + tmp);
            assertEquals(List.of("out.png"), names());
            assertArrayEquals(image(1).rgb(), PngFiles.read(png).image().rgb(), "the first image is intact");
        } finally {
            p.destroyForcibly();
        }
    }

    /** Writes image 2 over args[0] and stops before the rename, printing the temporary file's path. */
    public static final class StuckWrite {
        public static void main(String[] args) throws Exception {
            PngFiles.write(Path.of(args[0]), image(2), Map.of("parameters", "second"), tmp -> {
                System.out.println(tmp);
                System.out.flush();
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
        }
    }
}
