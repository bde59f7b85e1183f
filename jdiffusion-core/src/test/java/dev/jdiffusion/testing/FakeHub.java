package dev.jdiffusion.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;

/**
 * A Hugging Face Hub on loopback, with the real Hub's URL scheme and headers, for download tests:
 * <ul>
 *   <li>{@code GET /api/models/{repo}/revision/{rev}[?blobs=true]}: {@code sha}, {@code siblings} (with
 *       {@code size}, {@code blobId}, {@code lfs.sha256} when blobs=true);</li>
 *   <li>{@code HEAD|GET /{repo}/resolve/{rev}/{path}}: small files directly ({@code ETag} = git blob id);
 *       LFS files (safetensors, bin...) as a 302 to a second server, the "CDN", with {@code X-Linked-Etag}
 *       (the sha256) and {@code X-Linked-Size}, like the real Hub; {@code X-Repo-Commit} always;</li>
 *   <li>Range requests (206), and faults on demand: drop a connection halfway, corrupt a file, ignore Range,
 *       require a token, list a wrong size, send more bytes than announced. Every request is recorded.</li>
 * </ul>
 */
public final class FakeHub implements AutoCloseable {

    /** One request as the server saw it; header names in lower case. */
    public record Request(String server, String method, String path, Map<String, String> headers) {
        public String header(String name) { return headers.get(name.toLowerCase(Locale.ROOT)); }
    }

    private record Repo(String id, String commit, Map<String, byte[]> files) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer hub;
    private final HttpServer cdn;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final Map<String, Repo> repos = new ConcurrentHashMap<>();
    private final Map<String, byte[]> blobsBySha256 = new ConcurrentHashMap<>();
    private final List<Request> requests = java.util.Collections.synchronizedList(new ArrayList<>());
    private final Set<String> dropOnce = ConcurrentHashMap.newKeySet();
    private final Set<String> corrupt = ConcurrentHashMap.newKeySet();
    private final Map<String, Long> listedSizes = new ConcurrentHashMap<>();
    private final Map<String, Integer> extraBytes = new ConcurrentHashMap<>();
    private volatile String requiredToken;
    private volatile boolean ignoreRange;

    public FakeHub() throws IOException {
        InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        hub = HttpServer.create(loopback, 0);
        cdn = HttpServer.create(loopback, 0);
        hub.createContext("/", ex -> handle(ex, "hub"));
        cdn.createContext("/", ex -> handle(ex, "cdn"));
        hub.setExecutor(executor);
        cdn.setExecutor(executor);
        hub.start();
        cdn.start();
    }

    /** The endpoint to download from (what HF_ENDPOINT would say). */
    public String endpoint() { return "http://" + hostPort(hub); }

    /** Serves a repo; returns its commit hash (a sha1 of its content, so it is stable). */
    public String addRepo(String repoId, Map<String, byte[]> files) {
        MessageDigest sha1 = digest("SHA-1");
        sha1.update(repoId.getBytes(StandardCharsets.UTF_8));
        files.forEach((name, bytes) -> { sha1.update(name.getBytes(StandardCharsets.UTF_8)); sha1.update(bytes); });
        String commit = HexFormat.of().formatHex(sha1.digest());
        repos.put(repoId, new Repo(repoId, commit, new LinkedHashMap<>(files)));
        files.forEach((name, bytes) -> { if (isLfs(name)) blobsBySha256.put(sha256(bytes), bytes); });
        return commit;
    }

    /** Requests must carry {@code Authorization: Bearer <token>} (null: no auth needed). */
    public void requireToken(String token) { this.requiredToken = token; }

    /** The next GET of this file sends half of it, then drops the connection. */
    public void dropHalfwayOnce(String rfilename) { dropOnce.add(rfilename); }

    /** This file is served with one byte changed (its announced sha256 and size stay right). */
    public void corrupt(String rfilename) { corrupt.add(rfilename); }

    /** The model info lists this size for the file (and its LFS pointer), while the file itself is served as it is. */
    public void listSize(String rfilename, long size) { listedSizes.put(rfilename, size); }

    /**
     * GETs of this file send {@code n} bytes more than the file (with a Content-Length that says so), while HEAD
     * and the Hub's X-Linked-Size announce the file's true size: a server that sends more than it announced.
     */
    public void sendExtraBytes(String rfilename, int n) { extraBytes.put(rfilename, n); }

    /** Range headers are ignored (200 with the whole file), as some proxies do. */
    public void ignoreRange(boolean ignore) { this.ignoreRange = ignore; }

    public List<Request> requests() {
        synchronized (requests) { return List.copyOf(requests); }
    }

    /** Requests whose path contains {@code fragment} (e.g. a file name), in order. */
    public List<Request> requestsFor(String fragment) {
        return requests().stream().filter(r -> r.path().contains(fragment)).toList();
    }

    @Override public void close() {
        hub.stop(0);
        cdn.stop(0);
        executor.shutdownNow();
    }

    // ---- fixtures ---------------------------------------------------------------------------------------

    /** Every file under {@code dir} by its path relative to it ('/'-separated), skipping {@code expected/}. */
    public static Map<String, byte[]> folder(Path dir) {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = dir.relativize(p).toString().replace('\\', '/');
                if (!rel.startsWith("expected/")) files.put(rel, Files.readAllBytes(p));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }

    /** Which files the Hub keeps in LFS (what a typical .gitattributes lists). */
    public static boolean isLfs(String path) {
        return Stream.of(".safetensors", ".bin", ".ckpt", ".msgpack", ".h5", ".onnx", ".pt", ".pth").anyMatch(path::endsWith);
    }

    public static String sha256(byte[] b) { return HexFormat.of().formatHex(digest("SHA-256").digest(b)); }

    /** git's blob id: sha1 of {@code "blob <size>\0"} and the content (the Hub's ETag of non-LFS files). */
    public static String gitBlobId(byte[] b) {
        MessageDigest sha1 = digest("SHA-1");
        sha1.update(("blob " + b.length + "\0").getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(sha1.digest(b));
    }

    // ---- serving ----------------------------------------------------------------------------------------

    private void handle(HttpExchange ex, String server) throws IOException {
        try (ex) {
            Map<String, String> headers = new TreeMap<>();
            ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), String.join(",", v)));
            String path = ex.getRequestURI().getRawPath();
            requests.add(new Request(server, ex.getRequestMethod(), URLDecoder.decode(path, StandardCharsets.UTF_8)
                    + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery()), headers));
            if (server.equals("cdn")) {
                serveCdn(ex, path);
                return;
            }
            if (requiredToken != null && !("Bearer " + requiredToken).equals(headers.get("authorization"))) {
                // The real Hub answers 401 alike for private, gated (without a token) and missing repos.
                ex.getResponseHeaders().set("X-Error-Code", "RepoNotFound");
                ex.getResponseHeaders().set("X-Error-Message", "Invalid username or password.");
                send(ex, 401, "Invalid username or password.");
                return;
            }
            if (path.startsWith("/api/models/")) serveModelInfo(ex, path.substring("/api/models/".length()));
            else serveResolve(ex, path.substring(1));
        } catch (RuntimeException e) {
            send(ex, 500, e.toString());
        }
    }

    /** {@code {org}/{name}/revision/{rev}} */
    private void serveModelInfo(HttpExchange ex, String rest) throws IOException {
        String[] p = rest.split("/", 4);
        Repo repo = p.length == 4 && p[2].equals("revision") ? repos.get(p[0] + "/" + p[1]) : null;
        if (repo == null) {
            ex.getResponseHeaders().set("X-Error-Code", "RepoNotFound");
            send(ex, 404, "{\"error\":\"Repository not found\"}");
            return;
        }
        String rev = URLDecoder.decode(p[3], StandardCharsets.UTF_8);
        if (!rev.equals("main") && !rev.equals(repo.commit())) {
            ex.getResponseHeaders().set("X-Error-Code", "RevisionNotFound");
            send(ex, 404, "{\"error\":\"Invalid rev id: " + rev + "\"}");
            return;
        }
        boolean blobs = "blobs=true".equals(ex.getRequestURI().getRawQuery());
        ObjectNode info = JSON.createObjectNode().put("_id", "fake").put("id", repo.id()).put("sha", repo.commit());
        ArrayNode siblings = info.putArray("siblings");
        repo.files().forEach((name, bytes) -> {
            ObjectNode s = siblings.addObject().put("rfilename", name);
            if (!blobs) return;
            long size = listedSizes.getOrDefault(name, (long) bytes.length);
            s.put("blobId", gitBlobId(bytes)).put("size", size);
            if (isLfs(name))
                s.putObject("lfs").put("size", size).put("sha256", sha256(bytes)).put("pointerSize", 135);
        });
        ex.getResponseHeaders().set("Content-Type", "application/json");
        send(ex, 200, JSON.writeValueAsString(info));
    }

    /** {@code {org}/{name}/resolve/{rev}/{path}} */
    private void serveResolve(HttpExchange ex, String rest) throws IOException {
        String[] p = rest.split("/", 5);
        Repo repo = p.length == 5 && p[2].equals("resolve") ? repos.get(p[0] + "/" + p[1]) : null;
        if (repo == null) {
            ex.getResponseHeaders().set("X-Error-Code", "RepoNotFound");
            send(ex, 404, "Repository not found");
            return;
        }
        String rev = URLDecoder.decode(p[3], StandardCharsets.UTF_8);
        String file = URLDecoder.decode(p[4], StandardCharsets.UTF_8);
        byte[] bytes = repo.files().get(file);
        ex.getResponseHeaders().set("X-Repo-Commit", repo.commit());
        if ((!rev.equals("main") && !rev.equals(repo.commit())) || bytes == null) {
            ex.getResponseHeaders().set("X-Error-Code", bytes == null ? "EntryNotFound" : "RevisionNotFound");
            send(ex, 404, "Entry not found");
            return;
        }
        if (isLfs(file)) {
            String sha = sha256(bytes);
            var h = ex.getResponseHeaders();
            h.set("Location", "http://" + hostPort(cdn) + "/repos/" + sha + "?file=" + file.replace('/', '_'));
            h.set("X-Linked-Etag", "\"" + sha + "\"");
            h.set("X-Linked-Size", Long.toString(bytes.length));
            h.set("ETag", "\"" + gitBlobId(bytes) + "\"");   // the pointer's etag: the client must prefer X-Linked-Etag
            send(ex, 302, "Found. Redirecting to the CDN");   // its Content-Length is not the file's size
            return;
        }
        ex.getResponseHeaders().set("ETag", "\"" + gitBlobId(bytes) + "\"");
        serveBytes(ex, file, bytes);
    }

    private void serveCdn(HttpExchange ex, String path) throws IOException {
        String sha = path.substring(path.lastIndexOf('/') + 1);
        byte[] bytes = blobsBySha256.get(sha);
        if (bytes == null) {
            send(ex, 404, "no such blob");
            return;
        }
        String file = repos.values().stream().flatMap(r -> r.files().entrySet().stream())
                .filter(e -> e.getValue() == bytes).map(Map.Entry::getKey).findFirst().orElse("");
        ex.getResponseHeaders().set("ETag", "\"" + sha + "\"");
        serveBytes(ex, file, bytes);
    }

    /** The file's bytes, honouring {@code Range: bytes=N-} (206), with the faults asked for. */
    private void serveBytes(HttpExchange ex, String file, byte[] bytes) throws IOException {
        byte[] data = bytes;
        if (corrupt.contains(file)) {
            data = bytes.clone();
            data[data.length / 2] ^= 0x55;
        }
        if (extraBytes.containsKey(file) && ex.getRequestMethod().equals("GET")) {
            data = java.util.Arrays.copyOf(data, data.length + extraBytes.get(file));
            java.util.Arrays.fill(data, bytes.length, data.length, (byte) '!');
        }
        int start = 0;
        int status = 200;
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null && !ignoreRange) {
            start = Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
            if (start >= data.length) {
                ex.getResponseHeaders().set("Content-Range", "bytes */" + data.length);
                send(ex, 416, "");
                return;
            }
            status = 206;
            ex.getResponseHeaders().set("Content-Range", "bytes " + start + "-" + (data.length - 1) + "/" + data.length);
        }
        ex.getResponseHeaders().set("Accept-Ranges", "bytes");
        int length = data.length - start;
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", Integer.toString(length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        boolean drop = dropOnce.remove(file);
        ex.sendResponseHeaders(status, length);
        OutputStream os = ex.getResponseBody();
        if (drop) {
            os.write(data, start, length / 2);
            os.flush();
            // Closing the exchange short of the announced length makes the server drop the connection.
            return;
        }
        os.write(data, start, length);
    }

    private static void send(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        if (ex.getRequestMethod().equals("HEAD") || b.length == 0) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
    }

    private static String hostPort(HttpServer s) {
        return s.getAddress().getAddress().getHostAddress() + ":" + s.getAddress().getPort();
    }

    private static MessageDigest digest(String algorithm) {
        try {
            return MessageDigest.getInstance(algorithm);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
