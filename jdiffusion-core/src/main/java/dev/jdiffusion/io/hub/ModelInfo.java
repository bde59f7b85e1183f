package dev.jdiffusion.io.hub;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What {@code GET /api/models/{repo}/revision/{revision}?blobs=true} says about a repo (huggingface_hub's
 * ModelInfo): the commit the revision points at, and the files with their sizes and LFS sha256.
 */
public record ModelInfo(String id, String sha, List<RepoSibling> siblings) {

    /** One file of the repo. {@code size} is -1 and {@code blobId}/{@code lfsSha256} null when not given. */
    public record RepoSibling(String rfilename, long size, String blobId, String lfsSha256) {
        public boolean isLfs() { return lfsSha256 != null; }
    }

    /** Reads the API's JSON; null fields where the answer lacks them (the caller checks what it needs). */
    public static ModelInfo parse(JsonNode json) {
        List<RepoSibling> siblings = new ArrayList<>();
        for (JsonNode s : json.path("siblings")) {
            if (!s.hasNonNull("rfilename")) continue;
            JsonNode lfs = s.path("lfs");
            siblings.add(new RepoSibling(s.get("rfilename").asText(),
                    s.hasNonNull("size") ? s.get("size").asLong() : lfs.path("size").asLong(-1),
                    s.hasNonNull("blobId") ? s.get("blobId").asText() : null,
                    lfs.hasNonNull("sha256") ? lfs.get("sha256").asText() : null));
        }
        return new ModelInfo(json.path("id").asText(null), json.path("sha").asText(null), List.copyOf(siblings));
    }

    public Optional<RepoSibling> sibling(String rfilename) {
        return siblings.stream().filter(s -> s.rfilename().equals(rfilename)).findFirst();
    }
}
