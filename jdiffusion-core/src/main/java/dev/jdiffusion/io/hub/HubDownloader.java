package dev.jdiffusion.io.hub;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.hub.ModelInfo.RepoSibling;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Downloads a model from the Hugging Face Hub into the Hugging Face cache, the way huggingface_hub's
 * snapshot_download / hf_hub_download do, so that Python tools reuse what jdiffusion fetched and vice versa:
 * <ol>
 *   <li>{@code GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true}: the commit ({@code sha}) and
 *       the files ({@code siblings}, with sizes and LFS sha256);</li>
 *   <li>for each file the pipeline needs ({@link HubFiles}): {@code HEAD {endpoint}/{repo}/resolve/{commit}/{path}}
 *       gives the etag ({@code X-Linked-Etag} or {@code ETag}), the size ({@code X-Linked-Size} or
 *       {@code Content-Length}) and, for LFS files, a redirect to the CDN, which the {@code GET} then follows;</li>
 *   <li>the content goes to {@code blobs/<etag>.incomplete} (resumed with {@code Range} when it exists), is
 *       checked (size, and sha256 for LFS files), renamed to {@code blobs/<etag>}, and only then linked as
 *       {@code snapshots/<commit>/<path> -> ../../blobs/<etag>};</li>
 *   <li>{@code refs/<revision>} is written last, so that it names a snapshot only once it is complete.</li>
 * </ol>
 * Files already in the snapshot are not asked for again. The token ({@link HubSettings#token()}) goes to the
 * Hub only, never to the CDN the Hub redirects to (its URLs are signed).
 */
public final class HubDownloader {

    /** Hears how each file is going (the CLI draws a progress bar). Called on the downloading thread. */
    public interface Listener {
        Listener NONE = new Listener() {};

        /** A file starts downloading: its size, and the bytes already there from an earlier attempt. */
        default void fileStarted(String path, long size, long resumedFrom) {}

        /** Bytes of the file present so far (called often; throttle what you draw). */
        default void progress(String path, long bytesDone, long size) {}

        /** The file is in the snapshot; {@code cached}: it was there already, nothing was downloaded. */
        default void fileFinished(String path, long size, boolean cached) {}
    }

    /** What a download produced: the snapshot folder that {@link HubCache#resolve(RepoRef)} will return. */
    public record Result(RepoRef ref, String commit, Path snapshot, List<String> files) {}

    /** What the Hub says about one file (huggingface_hub's HfFileMetadata). */
    private record FileMetadata(String commit, String etag, long size, URI location) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    /** An etag becomes a file name: nothing that could leave blobs/. */
    private static final Pattern SAFE_ETAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]*");
    private static final int MAX_REDIRECTS = 10;
    private static final String USER_AGENT = "jdiffusion/0.1.0; java/" + Runtime.version().feature();

    private final HubSettings settings;
    private final Listener listener;
    private final HttpClient http;
    /** Attempts in a row that bring no new byte before a file is given up (huggingface_hub: 5). */
    private final int maxRetries;
    private final Duration retryDelay;

    public HubDownloader(HubSettings settings) { this(settings, Listener.NONE); }

    public HubDownloader(HubSettings settings, Listener listener) {
        this(settings, listener, 5, Duration.ofSeconds(1));
    }

    /** With the retry policy spelled out (tests retry at once). */
    public HubDownloader(HubSettings settings, Listener listener, int maxRetries, Duration retryDelay) {
        this.settings = Objects.requireNonNull(settings);
        this.listener = Objects.requireNonNull(listener);
        this.maxRetries = maxRetries;
        this.retryDelay = retryDelay;
        // Redirects are followed by hand: the metadata lives in the redirect itself, and the token must not
        // follow a redirect to another host.
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(10)).build();
    }

    /**
     * Downloads what the pipeline needs of {@code ref} into the cache and returns the snapshot.
     *
     * @param variant weights variant such as {@code fp16}, or null for the plain weights; a part without the
     *                variant falls back to its plain weights
     */
    public Result download(RepoRef ref, String variant) throws IOException { return download(ref, variant, true); }

    /**
     * As {@link #download(RepoRef, String)}; {@code safetyChecker}: whether to fetch the safety checker and its feature
     * extractor when the repo has them (false: the pipeline then needs its checker turned off too).
     */
    public Result download(RepoRef ref, String variant, boolean safetyChecker) throws IOException {
        ModelInfo info = modelInfo(ref);
        String commit = info.sha();
        Path repoFolder = settings.cacheDir().resolve(ref.folderName());
        Path snapshot = repoFolder.resolve("snapshots").resolve(commit);

        List<RepoSibling> files = new ArrayList<>();
        Optional<RepoSibling> index = info.sibling("model_index.json");
        if (index.isPresent()) {
            // A diffusers pipeline: its model_index.json says which parts there are.
            fetch(ref, commit, repoFolder, index.get());
            files.add(index.get());
            JsonNode modelIndex = readJson(ref, snapshot.resolve("model_index.json"));
            try {
                files.addAll(HubFiles.forPipeline(info.siblings(), modelIndex, variant, safetyChecker));
            } catch (HubException e) {
                throw new HubException(ref + ": " + e.getMessage());   // a part the loader could not read
            }
        } else {
            files.addAll(HubFiles.forSingleFile(info.siblings(), variant));
            if (files.isEmpty())
                throw new HubException(ref + ": the repo has neither model_index.json (a diffusers pipeline) nor a"
                        + " .safetensors or .ckpt checkpoint at its root: nothing jdiffusion can load");
        }
        for (RepoSibling file : files)
            if (!file.rfilename().equals("model_index.json")) fetch(ref, commit, repoFolder, file);

        if (!ref.revision().equals(commit)) writeRef(repoFolder, ref.revision(), commit);
        return new Result(ref, commit, snapshot, files.stream().map(RepoSibling::rfilename).toList());
    }

    /** huggingface_hub's model_info(repo, revision, files_metadata=True). */
    public ModelInfo modelInfo(RepoRef ref) throws IOException {
        URI uri = URI.create(settings.endpoint() + "/api/models/" + ref.repoId() + "/revision/"
                + quote(ref.revision(), "") + "?blobs=true");
        HttpResponse<byte[]> r = send(ref, request(uri).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) throw httpError(ref, r, null);
        ModelInfo info;
        try {
            info = ModelInfo.parse(JSON.readTree(r.body()));
        } catch (IOException e) {
            throw new HubException(ref + ": " + uri + " did not answer with JSON; is " + settings.endpoint()
                    + " a Hugging Face Hub?");
        }
        if (info.sha() == null || !RepoRef.isCommitHash(info.sha()))
            throw new HubException(ref + ": " + uri + " gave no commit hash ('sha'); is " + settings.endpoint()
                    + " a Hugging Face Hub?");
        return info;
    }

    // ---- one file ---------------------------------------------------------------------------------------

    /** Puts one file into the snapshot (hf_hub_download with a commit hash as revision). */
    private void fetch(RepoRef ref, String commit, Path repoFolder, RepoSibling file) throws IOException {
        String path = file.rfilename();
        Path snapshot = repoFolder.resolve("snapshots").resolve(commit);
        Path pointer = snapshot.resolve(path).normalize();
        if (!pointer.startsWith(snapshot) || pointer.equals(snapshot))
            throw new HubException(ref + ": refusing a file name that leaves the snapshot folder: " + path);
        if (Files.exists(pointer)) {   // follows the link: the blob is there too
            listener.fileFinished(path, Files.size(pointer), true);
            return;
        }
        URI url = URI.create(settings.endpoint() + "/" + ref.repoId() + "/resolve/" + commit + "/" + quote(path, "/"));
        FileMetadata meta = fileMetadata(ref, path, url);
        if (!meta.commit().equals(commit))
            throw new HubException(ref + ": asked for " + path + " at commit " + commit + " but got commit " + meta.commit());
        if (file.size() >= 0 && file.size() != meta.size())
            throw new HubException(ref + ": " + path + ": the Hub lists " + file.size() + " bytes but serves " + meta.size());
        // LFS files are checked against their sha256 (their etag is that sha256 too).
        String sha256 = file.lfsSha256() != null ? file.lfsSha256()
                : SHA256.matcher(meta.etag()).matches() ? meta.etag() : null;

        Path blob = repoFolder.resolve("blobs").resolve(meta.etag());
        boolean newBlob = !Files.exists(blob);   // the same content may already be there for another commit
        if (newBlob) downloadBlob(ref, path, meta, sha256, blob);
        link(blob, pointer, newBlob);
        listener.fileFinished(path, meta.size(), !newBlob);
    }

    /** huggingface_hub's get_hf_file_metadata: a HEAD that follows relative redirects (renamed repos) only. */
    private FileMetadata fileMetadata(RepoRef ref, String path, URI url) throws IOException {
        URI uri = url;
        for (int hops = 0; ; hops++) {
            HttpRequest req = request(uri).HEAD()
                    .header("Accept-Encoding", "identity").build();   // the real size, not a gzipped one
            HttpResponse<Void> r = send(ref, req, HttpResponse.BodyHandlers.discarding());
            var h = r.headers();
            boolean redirect = r.statusCode() / 100 == 3;
            if (redirect) {
                String location = h.firstValue("Location").orElseThrow(() ->
                        new HubException(ref + ": " + path + ": redirect without a Location"));
                if (URI.create(location).getAuthority() == null && hops < MAX_REDIRECTS) {
                    uri = uri.resolve(location);
                    continue;
                }
            } else if (r.statusCode() != 200) {
                throw httpError(ref, r, path);
            }
            String commit = h.firstValue("X-Repo-Commit").orElse(null);
            String etag = normalizeEtag(h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag")).orElse(null));
            // On a redirect Content-Length is the redirect's own body: only X-Linked-Size counts.
            String size = h.firstValue("X-Linked-Size")
                    .or(() -> redirect ? Optional.empty() : h.firstValue("Content-Length")).orElse(null);
            if (commit == null || etag == null || size == null)
                throw new HubException(ref + ": " + path + ": the answer lacks "
                        + (commit == null ? "X-Repo-Commit" : etag == null ? "an ETag" : "a size")
                        + "; is " + settings.endpoint() + " a Hugging Face Hub (or is a proxy in the way)?");
            if (!SAFE_ETAG.matcher(etag).matches())
                throw new HubException(ref + ": " + path + ": unusable ETag '" + etag + "'");
            URI location = redirect ? uri.resolve(h.firstValue("Location").orElseThrow()) : uri;
            return new FileMetadata(commit, etag, Long.parseLong(size), location);
        }
    }

    /**
     * Fills {@code blobs/<etag>.incomplete}, resuming what an earlier run left there, retries when the
     * connection drops, checks size and sha256, then renames it to the blob. A bad file is deleted.
     */
    private void downloadBlob(RepoRef ref, String path, FileMetadata meta, String sha256, Path blob) throws IOException {
        Files.createDirectories(blob.getParent());
        Path incomplete = blob.resolveSibling(blob.getFileName() + ".incomplete");
        boolean locked = false;
        try (FileChannel ch = FileChannel.open(incomplete, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
             FileLock lock = tryLock(ch)) {
            if (lock == null)
                throw new HubException(ref + ": " + path + " is being downloaded by another process (" + incomplete
                        + " is locked)");
            locked = true;
            BlobWriter out = new BlobWriter(ch, sha256 != null);
            if (out.size() > meta.size()) out.restart();   // longer than the file: not a prefix of it
            listener.fileStarted(path, meta.size(), out.size());
            int failures = 0;
            while (out.size() < meta.size()) {
                long receivedBefore = out.received();
                IOException error = null;
                try {
                    get(ref, path, meta, out);
                } catch (HubException e) {
                    throw e;   // the Hub said no: asking again will not change its mind
                } catch (IOException e) {
                    error = e;   // a dropped connection, a timeout: resume from what we have
                }
                if (out.received() > receivedBefore) failures = 0;   // bytes came: the connection works
                if (out.size() < meta.size()) {
                    if (++failures > maxRetries)
                        throw new HubException(ref + ": downloading " + path + " failed ("
                                + (error != null ? describe(error) : "the connection closed early")
                                + "); run the command again to resume from byte " + out.size(), error);
                    pause();
                }
            }
            String problem = sha256 != null && !out.sha256Hex().equals(sha256)
                    ? "sha256 mismatch (expected " + sha256 + ", got " + out.sha256Hex() + ")" : null;
            if (problem != null) {
                out.restart();   // nothing of it can be trusted, not even as a prefix to resume
                throw new HubException(ref + ": " + path + ": " + problem + "; the corrupt download was deleted,"
                        + " run the command again");
            }
        } finally {
            // The partial file stays for a later resume, unless it was emptied as worthless.
            if (locked && Files.exists(incomplete) && Files.size(incomplete) == 0) Files.deleteIfExists(incomplete);
        }
        Files.move(incomplete, blob, StandardCopyOption.ATOMIC_MOVE);
    }

    /** One GET of the rest of the file (following the CDN redirects), appended to {@code out}. */
    private void get(RepoRef ref, String path, FileMetadata meta, BlobWriter out) throws IOException {
        long have = out.size();
        URI uri = meta.location();
        HttpResponse<InputStream> r;
        for (int hops = 0; ; hops++) {
            HttpRequest.Builder b = request(uri).GET().header("Accept-Encoding", "identity");
            if (have > 0) b.header("Range", "bytes=" + have + "-");
            r = send(ref, b.build(), HttpResponse.BodyHandlers.ofInputStream());
            if (r.statusCode() / 100 != 3 || hops >= MAX_REDIRECTS) break;
            r.body().close();
            uri = uri.resolve(r.headers().firstValue("Location").orElseThrow(() ->
                    new HubException(ref + ": " + path + ": redirect without a Location")));
        }
        try (InputStream in = r.body()) {
            int status = r.statusCode();
            if (status == 200 && have > 0) {
                out.restart();   // the server ignored the Range: start over rather than append a second copy
            } else if (status == 206) {
                String range = r.headers().firstValue("Content-Range").orElse("");
                if (!range.startsWith("bytes " + have + "-")) {
                    out.restart();
                    throw new IOException("unexpected Content-Range '" + range + "' for bytes=" + have + "-");
                }
            } else if (status == 416) {
                out.restart();   // the partial file does not fit the file: start over
                throw new IOException("range not satisfiable");
            } else if (status == 408 || status == 429 || status >= 500) {
                throw new IOException("HTTP " + status + " from " + r.uri().getAuthority());   // busy: try again
            } else if (status != 200) {
                throw httpError(ref, r, path);
            }
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                if (out.size() + n > meta.size()) {
                    out.restart();
                    throw new HubException(ref + ": " + path + ": the server sends more than the " + meta.size()
                            + " bytes announced; the download was deleted");
                }
                out.append(buf, n);
                listener.progress(path, out.size(), meta.size());
            }
        }
    }

    /**
     * The partial file and a running sha256 of exactly the bytes in it, so that a resumed download is
     * checked without reading the file again.
     */
    private static final class BlobWriter {
        private final FileChannel ch;
        private final MessageDigest digest;
        private long size;
        private long received;
        private String hex;

        BlobWriter(FileChannel ch, boolean hash) throws IOException {
            this.ch = ch;
            this.digest = hash ? sha256() : null;
            this.size = ch.size();
            if (digest != null && size > 0) {   // the bytes an earlier run left
                ByteBuffer buf = ByteBuffer.allocate(1 << 20);
                for (long pos = 0; pos < size; ) {
                    buf.clear();
                    int n = ch.read(buf, pos);
                    if (n < 0) break;
                    digest.update(buf.array(), 0, n);
                    pos += n;
                }
            }
            ch.position(size);
        }

        long size() { return size; }

        /** Bytes appended by this run, across restarts (to tell a working connection from a dead one). */
        long received() { return received; }

        void append(byte[] b, int n) throws IOException {
            ByteBuffer buf = ByteBuffer.wrap(b, 0, n);
            while (buf.hasRemaining()) ch.write(buf);
            if (digest != null) digest.update(b, 0, n);
            size += n;
            received += n;
        }

        void restart() throws IOException {
            ch.truncate(0);
            ch.position(0);
            if (digest != null) digest.reset();
            size = 0;
            hex = null;
        }

        /** The sha256 of the whole file, once it is complete. */
        String sha256Hex() {
            if (hex == null) hex = HexFormat.of().formatHex(digest.digest());
            return hex;
        }
    }

    // ---- cache layout -----------------------------------------------------------------------------------

    /**
     * {@code snapshots/<commit>/<path> -> ../../blobs/<etag>} (one more {@code ../} per folder in the path), as
     * huggingface_hub's _create_symlink. Where symlinks are impossible the snapshot gets the file itself: a
     * new blob is moved there, a shared one copied (as huggingface_hub does).
     */
    private static void link(Path blob, Path pointer, boolean newBlob) throws IOException {
        Files.createDirectories(pointer.getParent());
        Files.deleteIfExists(pointer);   // a dangling link whose blob was deleted
        try {
            Files.createSymbolicLink(pointer, pointer.getParent().relativize(blob));
            return;
        } catch (UnsupportedOperationException | FileSystemException e) {
            // Windows without the symlink privilege, some network file systems: fall back to a real file.
        }
        if (newBlob) {
            Files.move(blob, pointer, StandardCopyOption.ATOMIC_MOVE);
        } else {
            Path tmp = pointer.resolveSibling(pointer.getFileName() + ".incomplete");
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, pointer, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** {@code refs/<revision>} holds the commit, no newline; written to a temporary file and renamed. */
    private static void writeRef(Path repoFolder, String revision, String commit) throws IOException {
        Path ref = repoFolder.resolve("refs").resolve(revision);
        Files.createDirectories(ref.getParent());
        if (Files.isRegularFile(ref) && Files.readString(ref).equals(commit)) return;
        Path tmp = Files.createTempFile(ref.getParent(), ref.getFileName() + ".", ".tmp");
        Files.writeString(tmp, commit, StandardCharsets.UTF_8);
        Files.move(tmp, ref, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    // ---- HTTP -------------------------------------------------------------------------------------------

    private HttpRequest.Builder request(URI uri) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).header("User-Agent", USER_AGENT);
        // The token goes to the Hub only: a redirect elsewhere is a signed CDN URL (huggingface_hub drops it too).
        if (settings.token() != null && Objects.equals(uri.getAuthority(), URI.create(settings.endpoint()).getAuthority()))
            b.header("Authorization", "Bearer " + settings.token());
        return b;
    }

    private <T> HttpResponse<T> send(RepoRef ref, HttpRequest req, HttpResponse.BodyHandler<T> body) throws IOException {
        try {
            return http.send(req, body);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("download of " + ref + " interrupted");
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            // Not a HubException: a download in progress retries these. The message names repo and host, as
            // HttpClient's own often says nothing ("ConnectException").
            String host = req.uri().getScheme() + "://" + req.uri().getAuthority();
            throw new IOException(ref + ": " + (e instanceof ConnectException ? "cannot connect to " : "no answer from ")
                    + host + " (" + describe(e) + "); check the network, or HF_ENDPOINT", e);
        }
    }

    /** The Hub's refusal as one sentence that says what to do (huggingface_hub's hf_raise_for_status). */
    private HubException httpError(RepoRef ref, HttpResponse<?> r, String path) {
        if (r.body() instanceof InputStream in) {
            try { in.close(); } catch (IOException ignored) { }
        }
        int status = r.statusCode();
        String code = r.headers().firstValue("X-Error-Code").orElse("");
        String what = path == null ? "" : path + ": ";
        String where = " (HTTP " + status + " from " + r.uri() + ")";
        boolean fromHub = Objects.equals(r.uri().getAuthority(), URI.create(settings.endpoint()).getAuthority());
        if (!fromHub)   // the CDN: its signed link expired or was refused
            return new HubException(ref + ": " + what + "the download server refused the file" + where
                    + "; run the command again");
        if (status == 401 || status == 403 || code.equals("GatedRepo")) {
            String advice = settings.token() == null
                    ? "set HF_TOKEN to a token that can read it (https://huggingface.co/settings/tokens)"
                    : "the token in HF_TOKEN was refused or has no access; for a gated model accept its terms at "
                      + settings.endpoint() + "/" + ref.repoId();
            return new HubException(ref + ": " + what + "access denied: the repo is gated or private, or does not"
                    + " exist: " + advice + where);
        }
        if (status == 404) {
            if (code.equals("RevisionNotFound"))
                return new HubException(ref + ": no revision '" + ref.revision() + "' on " + settings.endpoint() + where);
            if (code.equals("EntryNotFound") || path != null)
                return new HubException(ref + ": " + what + "no such file in the repo" + where);
            return new HubException(ref + ": no such model repo on " + settings.endpoint() + where);
        }
        return new HubException(ref + ": " + what + "the Hub answered HTTP " + status
                + r.headers().firstValue("X-Error-Message").map(m -> " (" + m + ")").orElse("") + where);
    }

    private JsonNode readJson(RepoRef ref, Path file) throws IOException {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new HubException(ref + ": " + file + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    /** urllib.parse.quote: percent-encodes UTF-8 bytes except unreserved characters and {@code safe}. */
    static String quote(String s, String safe) {
        StringBuilder sb = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || "_.-~".indexOf(c) >= 0
                    || (c < 128 && safe.indexOf(c) >= 0)) sb.append(c);
            else sb.append('%').append(String.format("%02X", b & 0xff));
        }
        return sb.toString();
    }

    /** huggingface_hub's _normalize_etag: {@code W/"abc"} and {@code "abc"} become {@code abc}. */
    static String normalizeEtag(String etag) {
        if (etag == null) return null;
        String e = etag.startsWith("W/") ? etag.substring(2) : etag;
        e = e.replace("\"", "").strip();
        return e.isEmpty() ? null : e;
    }

    private static FileLock tryLock(FileChannel ch) throws IOException {
        try {
            return ch.tryLock();
        } catch (OverlappingFileLockException e) {
            return null;   // this JVM downloads it already
        }
    }

    private void pause() throws InterruptedIOException {
        try {
            Thread.sleep(retryDelay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("download interrupted");
        }
    }

    /** The first message along the causes (HttpClient's ConnectException has none; its cause says "Connection refused"). */
    private static String describe(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause())
            if (t.getMessage() != null && !t.getMessage().isBlank()) return t.getMessage();
        return e.getClass().getSimpleName();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);   // every JDK has SHA-256
        }
    }
}
