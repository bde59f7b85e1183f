package dev.jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PngFiles;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * An AUTOMATIC1111 API client written from A1111's request/response schema (modules/api/models.py: the
 * StableDiffusionProcessingTxt2Img/Img2Img requests, TextToImageResponse, ProgressResponse, PNGInfoResponse, ...),
 * the way webuiapi and the other clients call it: JSON bodies with A1111's field names, base64 PNGs, basic auth.
 * It knows nothing of jdiffusion.
 */
final class A1111Client {
    static final ObjectMapper JSON = JsonMapper.builder().build();

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final String base;
    private final String authorization;

    A1111Client(String host, int port) { this(host, port, null, null); }

    A1111Client(String host, int port, String user, String password) {
        this.base = "http://" + host + ":" + port;
        this.authorization = user == null ? null
                : "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    /** An HTTP answer: status and body (JSON parsed when it is JSON). */
    record Answer(int status, String body, Map<String, List<String>> headers) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new UncheckedIOException("not JSON (" + status + "): " + body, e);
            }
        }
    }

    /** webuiapi's WebUIApiResult: images decoded, parameters, info parsed. */
    record Result(List<PngFiles.Read> images, JsonNode parameters, JsonNode info) {}

    Answer send(String method, String path, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(10));
        if (authorization != null) b.header("Authorization", authorization);
        if (body != null) b.header("Content-Type", "application/json");
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new Answer(r.statusCode(), r.body(), r.headers().map());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    Answer post(String path, JsonNode body) { return send("POST", path, body.toString()); }

    Answer get(String path) { return send("GET", path, null); }

    /** POST /sdapi/v1/txt2img; fails unless 200. */
    Result txt2img(ObjectNode request) { return result(ok(post("/sdapi/v1/txt2img", request))); }

    /** POST /sdapi/v1/img2img; fails unless 200. */
    Result img2img(ObjectNode request) { return result(ok(post("/sdapi/v1/img2img", request))); }

    JsonNode progress(boolean skipCurrentImage) { return ok(get("/sdapi/v1/progress?skip_current_image=" + skipCurrentImage)).json(); }

    JsonNode pngInfo(byte[] png) {
        ObjectNode body = JSON.createObjectNode().put("image", Base64.getEncoder().encodeToString(png));
        return ok(post("/sdapi/v1/png-info", body)).json();
    }

    static Answer ok(Answer a) {
        if (a.status() != 200) throw new AssertionError("HTTP " + a.status() + ": " + a.body());
        return a;
    }

    static Result result(Answer a) {
        JsonNode r = a.json();
        List<PngFiles.Read> images = new ArrayList<>();
        for (JsonNode img : r.get("images")) {
            try {
                images.add(PngFiles.decode(Base64.getDecoder().decode(img.asText()), Long.MAX_VALUE));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        try {
            return new Result(images, r.get("parameters"), JSON.readTree(r.get("info").asText()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static ObjectNode request() { return JSON.createObjectNode(); }
}
