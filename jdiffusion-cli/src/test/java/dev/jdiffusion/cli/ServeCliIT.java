package dev.jdiffusion.cli;

import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * `jdiffusion serve` from the packaged jar as a user starts it: it says where it listens, answers the A1111 API and
 * serves the page (the server and its resources are in the jar), and stops on SIGTERM. Bad options are one line,
 * exit status 2; a non-loopback --host without --api-auth warns.
 */
class ServeCliIT {
    @TempDir Path dir;

    private ProcessBuilder jdiffusion(String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-jar", System.getProperty("jdiffusion.jar")));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).directory(dir.toFile());
    }

    @Test
    void servesTheApiAndThePageUntilStopped() throws Exception {
        Process p = jdiffusion("serve", "--model", Fixtures.model("tiny-sd15").toString(), "--port", "0", "--host", "0.0.0.0")
                .redirectError(dir.resolve("stderr").toFile()).start();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line = out.readLine();
            assertNotNull(line, "no output; stderr: " + Files.readString(dir.resolve("stderr")));
            Matcher m = Pattern.compile("jdiffusion: serving tiny-sd15 at http://0\\.0\\.0\\.0:(\\d+)/ .*").matcher(line);
            assertTrue(m.matches(), line);
            int port = Integer.parseInt(m.group(1));
            assertTrue(Files.readString(dir.resolve("stderr")).contains("without --api-auth"), "a warning for a non-loopback host");
            HttpClient http = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + port;
            HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(base + "/")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, page.statusCode());
            assertTrue(page.body().contains("<script src=\"app.js\">"));
            HttpResponse<String> gen = http.send(HttpRequest.newBuilder(URI.create(base + "/sdapi/v1/txt2img"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"a cat\",\"steps\":2,\"width\":16,\"height\":16,\"seed\":3}"))
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, gen.statusCode(), gen.body());
            assertTrue(gen.body().contains("\\\"all_seeds\\\": [3]") || gen.body().contains("\\\"all_seeds\\\":[3]"), gen.body());
        } finally {
            p.destroy();  // SIGTERM, as Ctrl-C or a service manager stops it
        }
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "stops on SIGTERM");
    }

    @Test
    void badOptionsAreOneLine() throws Exception {
        Process p = jdiffusion("serve", "--model", Fixtures.model("tiny-sd15").toString(), "--queue-size", "-1")
                .redirectError(dir.resolve("stderr").toFile()).redirectOutput(dir.resolve("stdout").toFile()).start();
        assertEquals(2, p.waitFor());
        List<String> lines = Files.readString(dir.resolve("stderr")).lines()
                .filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
        assertEquals(List.of("jdiffusion: --queue-size must be 0 or more (see 'jdiffusion serve --help')"), lines);
        Process q = jdiffusion("serve", "--model", dir.resolve("missing").toString())
                .redirectError(dir.resolve("stderr2").toFile()).redirectOutput(dir.resolve("stdout2").toFile()).start();
        assertEquals(2, q.waitFor());
        assertTrue(Files.readString(dir.resolve("stderr2")).contains("missing"));
    }
}
