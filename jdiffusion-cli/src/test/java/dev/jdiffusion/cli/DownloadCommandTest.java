package dev.jdiffusion.cli;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.testing.FakeHub;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code jdiffusion download} against a fake Hub on loopback. */
class DownloadCommandTest {
    @TempDir Path cache;
    private FakeHub hub;
    private String commit;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void serve() throws IOException {
        hub = new FakeHub();
        commit = hub.addRepo("test-org/tiny-sd15", FakeHub.folder(Fixtures.model("tiny-sd15")));
    }

    @AfterEach
    void stop() { hub.close(); }

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    @Test
    void downloadsIntoTheCacheAndPrintsTheSnapshot() throws IOException {
        int status = run("download", "test-org/tiny-sd15", "--cache-dir", cache.toString(),
                "--endpoint", hub.endpoint(), "--quiet");
        assertEquals(0, status, err.toString());
        Path snapshot = cache.resolve("models--test-org--tiny-sd15/snapshots").resolve(commit);
        assertEquals(snapshot.toString(), out.toString().strip());
        assertEquals("", err.toString());
        String unet = "unet/diffusion_pytorch_model.safetensors";
        assertArrayEquals(Files.readAllBytes(Fixtures.model("tiny-sd15").resolve(unet)),
                Files.readAllBytes(snapshot.resolve(unet)));
        DiffusersFolder.open(snapshot);
        assertEquals(snapshot, new HubCache(cache).resolve("test-org/tiny-sd15"));
    }

    @Test
    void aTerminalGetsAProgressBarPerFile() {
        System.setProperty("jdiffusion.stderr.tty", "true");   // what the launcher passes on a terminal
        try {
            assertEquals(0, run("download", "test-org/tiny-sd15", "--cache-dir", cache.toString(),
                    "--endpoint", hub.endpoint()));
        } finally {
            System.clearProperty("jdiffusion.stderr.tty");
        }
        String bar = err.toString();
        assertTrue(bar.contains("\runet/diffusion_pytorch_model.safetensors  [########################] 100%  4.5 MB/4.5 MB"),
                bar);
        assertEquals(12, bar.chars().filter(c -> c == '\n').count(), "one line per file, redrawn: " + bar);
    }

    @Test
    void anUnknownRepoIsOneLineAndExitStatus2() {
        int status = run("download", "test-org/missing", "--cache-dir", cache.toString(), "--endpoint", hub.endpoint());
        assertEquals(Main.EXIT_USAGE, status);
        String message = err.toString();
        assertEquals(1, message.lines().count(), message);
        assertTrue(message.startsWith("jdiffusion: test-org/missing: no such model repo"), message);
    }

    @Test
    void aMalformedRepoIdIsOneLine() {
        int status = run("download", "not-a-repo", "--cache-dir", cache.toString(), "--endpoint", hub.endpoint());
        assertEquals(Main.EXIT_USAGE, status);
        assertEquals("jdiffusion: not a Hugging Face repo id: 'not-a-repo' (expected org/name)", err.toString().strip());
    }
}
