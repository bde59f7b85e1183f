package dev.jdiffusion.io.hub;

import java.util.regex.Pattern;

/**
 * A model repo on the Hugging Face Hub and a revision of it: {@code org/name} or {@code org/name@revision}.
 * The revision is a branch or tag name (looked up in {@code refs/}) or a 40-hex commit hash.
 */
public record RepoRef(String repoId, String revision) {
    public static final String DEFAULT_REVISION = "main";

    // huggingface_hub's validate_repo_id: word characters, '-' and '.', starting and ending with a word character.
    private static final String PART = "[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?";
    private static final Pattern REPO_ID = Pattern.compile(PART + "/" + PART);
    private static final Pattern COMMIT_HASH = Pattern.compile("[0-9a-f]{40}");

    public RepoRef {
        if (repoId == null || !REPO_ID.matcher(repoId).matches() || repoId.contains("--") || repoId.contains("..")
                || repoId.endsWith(".git"))
            throw new IllegalArgumentException("not a Hugging Face repo id: '" + repoId + "' (expected org/name)");
        if (revision == null || revision.isEmpty()) revision = DEFAULT_REVISION;
        // The revision becomes a path under refs/: refuse anything that could step out of it.
        if (revision.startsWith("/") || revision.endsWith("/") || revision.contains("\\")
                || ("/" + revision + "/").contains("/../") || ("/" + revision + "/").contains("/./"))
            throw new IllegalArgumentException("not a valid revision: '" + revision + "'");
    }

    /** Parses {@code org/name} or {@code org/name@revision}; a clear IllegalArgumentException otherwise. */
    public static RepoRef parse(String arg) {
        int at = arg.indexOf('@');
        return at < 0 ? new RepoRef(arg, DEFAULT_REVISION) : new RepoRef(arg.substring(0, at), arg.substring(at + 1));
    }

    /** Whether {@code arg} has the shape of {@code org/name[@revision]} (it may still be absent from the Hub). */
    public static boolean looksLikeRepoId(String arg) {
        int at = arg.indexOf('@');
        String id = at < 0 ? arg : arg.substring(0, at);
        return REPO_ID.matcher(id).matches() && !id.contains("--") && !id.contains("..");
    }

    /** Whether the revision is a full commit hash (then no refs/ lookup is needed). */
    public boolean isCommitHash() { return isCommitHash(revision); }

    static boolean isCommitHash(String s) { return COMMIT_HASH.matcher(s).matches(); }

    /** The repo's folder in the cache, huggingface_hub's repo_folder_name: {@code models--org--name}. */
    public String folderName() { return "models--" + repoId.replace("/", "--"); }

    /** The command that downloads this revision, for error messages. */
    public String downloadCommand() {
        return "jdiffusion download " + repoId + (revision.equals(DEFAULT_REVISION) ? "" : " --revision " + revision);
    }

    @Override public String toString() {
        return revision.equals(DEFAULT_REVISION) ? repoId : repoId + "@" + revision;
    }
}
