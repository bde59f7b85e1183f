package dev.jdiffusion.server;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

/** One HTTP request as the API sees it (body fully read, within the size limit) and a way to learn that its client left. */
record HttpExchange(String method, String path, Map<String, String> query, Map<String, String> headers, byte[] body,
                    CompletableFuture<Void> disconnected, AtomicReference<Runnable> onDisconnect) {

    /**
     * Runs {@code action} when the client disconnects (at once if it already has), until {@link #clearOnDisconnect}.
     * One slot per connection (its requests are handled one after another), so nothing accumulates on a connection
     * that stays open for many requests.
     */
    void onDisconnect(Runnable action) {
        onDisconnect.set(action);
        if (disconnected.isDone()) {
            Runnable r = onDisconnect.getAndSet(null);
            if (r != null) r.run();
        }
    }

    void clearOnDisconnect() { onDisconnect.set(null); }

    /** A header by its lower-case name, or null. */
    String header(String lowerName) { return headers.get(lowerName); }

    /** A response: status, content type, bytes and extra headers. */
    record Response(int status, String contentType, byte[] body, Map<String, String> headers) {
        static Response json(int status, String json) {
            return new Response(status, "application/json", json.getBytes(StandardCharsets.UTF_8), new LinkedHashMap<>());
        }

        Response withHeader(String name, String value) {
            Map<String, String> h = new LinkedHashMap<>(headers);
            h.put(name, value);
            return new Response(status, contentType, body, h);
        }
    }
}
