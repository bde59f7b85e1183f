package dev.jdiffusion.server;

import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** --api-auth (HTTP basic, as A1111: 401 without or with wrong credentials) and --cors-allow-origins. */
class AuthCorsTest {
    @TempDir Path outputs;

    ServerOptions options(Map<String, String> credentials, List<String> origins) {
        return new ServerOptions(Fixtures.model("tiny-sd15"), null, LoadOptions.DEFAULTS, "127.0.0.1", 0, credentials, 4,
                origins, outputs, Limits.DEFAULTS);
    }

    @Test
    void basicAuthGuardsEverythingButPing() throws Exception {
        try (JDiffusionServer server = JDiffusionServer.start(options(Map.of("alice", "s3cret:x", "bob", "pw"), List.of()))) {
            int port = server.port();
            A1111Client.Answer none = new A1111Client("127.0.0.1", port).get("/sdapi/v1/options");
            assertEquals(401, none.status());
            assertEquals("Basic realm=\"jdiffusion\"", none.headers().get("www-authenticate").getFirst());
            assertEquals("Incorrect username or password", none.json().get("detail").asText());
            assertEquals(401, new A1111Client("127.0.0.1", port, "alice", "wrong").get("/sdapi/v1/options").status());
            assertEquals(401, new A1111Client("127.0.0.1", port, "carol", "pw").get("/sdapi/v1/options").status());
            assertEquals(401, new A1111Client("127.0.0.1", port).post("/sdapi/v1/txt2img", A1111Client.request()).status());
            assertEquals(401, new A1111Client("127.0.0.1", port).get("/").status(), "the page too");
            A1111Client alice = new A1111Client("127.0.0.1", port, "alice", "s3cret:x");
            assertEquals("tiny-sd15", A1111Client.ok(alice.get("/sdapi/v1/options")).json().get("sd_model_checkpoint").asText());
            assertEquals(1, alice.txt2img(A1111ApiTest.small(3).put("steps", 1).put("width", 16).put("height", 16)).images().size());
            assertEquals(200, new A1111Client("127.0.0.1", port, "bob", "pw").get("/sdapi/v1/samplers").status());
            assertEquals(200, new A1111Client("127.0.0.1", port).get("/internal/ping").status(), "ping stays open");
        }
    }

    @Test
    void corsHeadersOnlyForAllowedOrigins() throws Exception {
        try (JDiffusionServer server = JDiffusionServer.start(options(Map.of(), List.of("http://app.example")))) {
            HttpClient http = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + server.port();
            HttpResponse<String> preflight = http.send(HttpRequest.newBuilder(URI.create(base + "/sdapi/v1/txt2img"))
                    .method("OPTIONS", HttpRequest.BodyPublishers.noBody()).header("Origin", "http://app.example")
                    .header("Access-Control-Request-Method", "POST").header("Access-Control-Request-Headers", "content-type")
                    .build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, preflight.statusCode());
            assertEquals("http://app.example", preflight.headers().firstValue("access-control-allow-origin").orElse(null));
            assertEquals("content-type", preflight.headers().firstValue("access-control-allow-headers").orElse(null));
            HttpResponse<String> get = http.send(HttpRequest.newBuilder(URI.create(base + "/sdapi/v1/options"))
                    .header("Origin", "http://app.example").build(), HttpResponse.BodyHandlers.ofString());
            assertEquals("http://app.example", get.headers().firstValue("access-control-allow-origin").orElse(null));
            HttpResponse<String> other = http.send(HttpRequest.newBuilder(URI.create(base + "/sdapi/v1/options"))
                    .header("Origin", "http://evil.example").build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, other.statusCode());
            assertTrue(other.headers().firstValue("access-control-allow-origin").isEmpty(), "no CORS for other origins");
        }
    }
}
