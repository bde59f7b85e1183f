package dev.jdiffusion.io.hub;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Where the Hugging Face cache lies, which Hub to ask and with which token, read from the same environment
 * variables as huggingface_hub (its constants.py), so that jdiffusion and Python tools share one cache:
 * <ul>
 *   <li>cache: {@code HF_HUB_CACHE}, else the legacy {@code HUGGINGFACE_HUB_CACHE}, else {@code $HF_HOME/hub};
 *       {@code HF_HOME} defaults to {@code $XDG_CACHE_HOME/huggingface}, that to {@code ~/.cache/huggingface};</li>
 *   <li>endpoint: {@code HF_ENDPOINT}, else {@code https://huggingface.co};</li>
 *   <li>token: {@code HF_TOKEN} (or the legacy {@code HUGGING_FACE_HUB_TOKEN}), else the file
 *       {@code HF_TOKEN_PATH}, else {@code $HF_HOME/token} (where {@code hf auth login} writes it).</li>
 * </ul>
 * Tests build one directly instead of changing the process environment.
 */
public record HubSettings(Path cacheDir, String endpoint, String token) {
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

    public HubSettings {
        cacheDir = cacheDir.toAbsolutePath().normalize();   // symlink targets are computed relative to it
        endpoint = stripTrailingSlash(endpoint == null || endpoint.isBlank() ? DEFAULT_ENDPOINT : endpoint);
        token = cleanToken(token);
    }

    /** The settings of this process: its environment and home folder. */
    public static HubSettings fromEnvironment() {
        return from(System.getenv(), Path.of(System.getProperty("user.home")));
    }

    /** The settings that the given environment variables imply (a map, so tests need not change the real one). */
    public static HubSettings from(Map<String, String> env, Path home) {
        Path hfHome = path(env, "HF_HOME", home);
        if (hfHome == null) {
            Path xdg = path(env, "XDG_CACHE_HOME", home);
            hfHome = (xdg != null ? xdg : home.resolve(".cache")).resolve("huggingface");
        }
        Path cache = path(env, "HF_HUB_CACHE", home);
        if (cache == null) cache = path(env, "HUGGINGFACE_HUB_CACHE", home);
        if (cache == null) cache = hfHome.resolve("hub");

        String token = cleanToken(get(env, "HF_TOKEN"));
        if (token == null) token = cleanToken(get(env, "HUGGING_FACE_HUB_TOKEN"));
        if (token == null) {
            Path tokenFile = path(env, "HF_TOKEN_PATH", home);
            token = readToken(tokenFile != null ? tokenFile : hfHome.resolve("token"));
        }
        return new HubSettings(cache, get(env, "HF_ENDPOINT"), token);
    }

    public HubSettings withCacheDir(Path dir) { return new HubSettings(dir, endpoint, token); }

    public HubSettings withEndpoint(String url) { return new HubSettings(cacheDir, url, token); }

    public HubSettings withToken(String t) { return new HubSettings(cacheDir, endpoint, t); }

    /** The token stays out of logs and error messages. */
    @Override public String toString() {
        return "HubSettings[cacheDir=" + cacheDir + ", endpoint=" + endpoint + ", token=" + (token == null ? "none" : "set") + "]";
    }

    private static String get(Map<String, String> env, String name) {
        String v = env.get(name);
        return v == null || v.isBlank() ? null : v;
    }

    /** An environment path with a leading {@code ~} expanded, as os.path.expanduser does. */
    private static Path path(Map<String, String> env, String name, Path home) {
        String v = get(env, name);
        if (v == null) return null;
        if (v.equals("~")) return home;
        if (v.startsWith("~/")) return home.resolve(v.substring(2));
        return Path.of(v);
    }

    private static String readToken(Path file) {
        try {
            return Files.isRegularFile(file) ? cleanToken(Files.readString(file)) : null;
        } catch (IOException e) {
            return null;   // an unreadable token file is the same as none: public repos still work
        }
    }

    private static String cleanToken(String t) {
        if (t == null) return null;
        t = t.replace("\r", "").replace("\n", "").strip();
        return t.isEmpty() ? null : t;
    }

    private static String stripTrailingSlash(String s) {
        while (s.endsWith("/")) s = s.substring(0, s.length() - 1);
        return s;
    }
}
