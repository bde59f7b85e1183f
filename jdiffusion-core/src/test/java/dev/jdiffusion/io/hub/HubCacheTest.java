package dev.jdiffusion.io.hub;

import dev.jdiffusion.io.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cache layout that Python tools leave behind, read without any network. */
class HubCacheTest {
    private static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    private static final String OTHER = "fedcba9876543210fedcba9876543210fedcba98";

    @TempDir Path tmp;

    /** A cache as huggingface_hub writes it: refs/main and a tag, two snapshots linking into blobs/. */
    private HubCache pythonCache() throws IOException {
        Path repo = tmp.resolve("cache/models--org--model");
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), COMMIT);
        Files.writeString(repo.resolve("refs/v1.0"), OTHER);
        Files.createDirectories(repo.resolve("blobs"));
        Files.writeString(repo.resolve("blobs/abc"), "{}");
        for (String c : new String[] {COMMIT, OTHER}) {
            Path snap = Files.createDirectories(repo.resolve("snapshots").resolve(c));
            Files.createSymbolicLink(snap.resolve("model_index.json"), Path.of("../../blobs/abc"));
        }
        return new HubCache(tmp.resolve("cache"));
    }

    @Test
    void resolvesBranchesTagsAndCommits() throws IOException {
        HubCache cache = pythonCache();
        Path snapshots = tmp.resolve("cache/models--org--model/snapshots");
        assertEquals(snapshots.resolve(COMMIT), cache.resolve("org/model"));
        assertEquals(snapshots.resolve(COMMIT), cache.resolve("org/model@main"));
        assertEquals(snapshots.resolve(OTHER), cache.resolve("org/model@v1.0"));
        assertEquals(snapshots.resolve(OTHER), cache.resolve("org/model@" + OTHER));
    }

    @Test
    void aMissingRepoSaysWhereItLookedAndHowToDownload() throws IOException {
        HubCache cache = pythonCache();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> cache.resolve("org/other"));
        assertEquals("org/other: not in the Hugging Face cache at " + cache.cacheDir()
                + "; run `jdiffusion download org/other`", e.getMessage());

        e = assertThrows(ModelFormatException.class, () -> cache.resolve("org/model@v2"));
        assertTrue(e.getMessage().contains("revision 'v2'") && e.getMessage().contains("main, v1.0")
                && e.getMessage().contains("jdiffusion download org/model --revision v2"), e.getMessage());
    }

    @Test
    void aSnapshotWithoutAModelIsAnIncompleteDownload() throws IOException {
        Path snap = Files.createDirectories(tmp.resolve("c/models--org--bits/snapshots").resolve(COMMIT));
        Files.writeString(snap.resolve("README.md"), "only a readme");
        Files.createDirectories(tmp.resolve("c/models--org--bits/refs"));
        Files.writeString(tmp.resolve("c/models--org--bits/refs/main"), COMMIT);
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> new HubCache(tmp.resolve("c")).resolve("org/bits"));
        assertTrue(e.getMessage().contains("incomplete download"), e.getMessage());
    }

    @Test
    void theCheckpointOfASnapshotIsChosenAsTheDownloaderChooses() throws IOException {
        Path snap = Files.createDirectories(tmp.resolve("snap"));
        assertEquals(Optional.empty(), HubCache.checkpointIn(snap));
        Files.write(snap.resolve("model.ckpt"), new byte[90]);
        assertEquals(Optional.of(snap.resolve("model.ckpt")), HubCache.checkpointIn(snap), "a .ckpt alone");
        Files.write(snap.resolve("model-fp16.safetensors"), new byte[20]);
        assertEquals(Optional.of(snap.resolve("model-fp16.safetensors")), HubCache.checkpointIn(snap),
                "safetensors before .ckpt, even fp16 and smaller");
        // What Python often leaves: fp16 and fp32 copies side by side, as links into blobs/.
        Files.write(tmp.resolve("blob"), new byte[40]);
        Files.createSymbolicLink(snap.resolve("model.safetensors"), tmp.resolve("blob"));
        Files.write(snap.resolve("model-pruned.safetensors"), new byte[30]);
        Files.writeString(snap.resolve("v1-inference.yaml"), "model: {}");
        assertEquals(Optional.of(snap.resolve("model.safetensors")), HubCache.checkpointIn(snap),
                "not fp16, then the largest (the link's target size)");
        // A diffusers folder, a file and a missing folder hold no single-file checkpoint.
        Files.writeString(snap.resolve("model_index.json"), "{}");
        assertEquals(Optional.empty(), HubCache.checkpointIn(snap));
        assertEquals(Optional.empty(), HubCache.checkpointIn(tmp.resolve("blob")));
        assertEquals(Optional.empty(), HubCache.checkpointIn(tmp.resolve("absent")));
    }

    @Test
    void modelLocatorPrefersExistingPathsThenTheCache() throws IOException {
        HubCache cache = pythonCache();
        Path dir = Files.createDirectories(tmp.resolve("org/model"));   // a local folder shaped like a repo id
        Path file = Files.writeString(tmp.resolve("x.safetensors"), "");
        assertEquals(dir, ModelLocator.resolve(dir.toString(), cache));
        assertEquals(file, ModelLocator.resolve(file.toString(), cache));
        assertEquals(tmp.resolve("cache/models--org--model/snapshots").resolve(COMMIT),
                ModelLocator.resolve("org/model", cache));

        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> ModelLocator.resolve("no/such/place.safetensors", cache));
        assertTrue(e.getMessage().contains("model not found"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> ModelLocator.resolve("org/missing", cache));
        assertTrue(e.getMessage().contains("jdiffusion download org/missing"), e.getMessage());
    }

    @Test
    void repoIdsAreValidated() {
        assertTrue(RepoRef.looksLikeRepoId("stable-diffusion-v1-5/stable-diffusion-v1-5"));
        assertTrue(RepoRef.looksLikeRepoId("org/name@refs/pr/1"));
        assertFalse(RepoRef.looksLikeRepoId("./models"));
        assertFalse(RepoRef.looksLikeRepoId("a/b/c"));
        assertFalse(RepoRef.looksLikeRepoId("org--x/name"));
        assertFalse(RepoRef.looksLikeRepoId("model.safetensors"));
        assertEquals("models--org--name", RepoRef.parse("org/name").folderName());
        assertEquals(new RepoRef("org/name", "refs/pr/1"), RepoRef.parse("org/name@refs/pr/1"));
        assertThrows(IllegalArgumentException.class, () -> RepoRef.parse("org/name@../../etc"));
        assertThrows(IllegalArgumentException.class, () -> RepoRef.parse("org"));
    }

    @Test
    void settingsFollowHuggingfaceHubsEnvironmentVariables() throws IOException {
        Path home = tmp.resolve("home");
        assertEquals(home.resolve(".cache/huggingface/hub"), HubSettings.from(Map.of(), home).cacheDir());
        assertEquals(tmp.resolve("xdg/huggingface/hub"),
                HubSettings.from(Map.of("XDG_CACHE_HOME", tmp.resolve("xdg").toString()), home).cacheDir());
        assertEquals(tmp.resolve("hf/hub"), HubSettings.from(Map.of("HF_HOME", tmp.resolve("hf").toString()), home).cacheDir());
        assertEquals(home.resolve("hfhome/hub"), HubSettings.from(Map.of("HF_HOME", "~/hfhome"), home).cacheDir());
        assertEquals(tmp.resolve("legacy"), HubSettings.from(Map.of("HF_HOME", "/x",
                "HUGGINGFACE_HUB_CACHE", tmp.resolve("legacy").toString()), home).cacheDir());
        assertEquals(tmp.resolve("new"), HubSettings.from(Map.of("HUGGINGFACE_HUB_CACHE", "/legacy",
                "HF_HUB_CACHE", tmp.resolve("new").toString()), home).cacheDir());

        HubSettings s = HubSettings.from(Map.of(), home);
        assertEquals("https://huggingface.co", s.endpoint());
        assertNull(s.token());
        assertEquals("http://mirror", HubSettings.from(Map.of("HF_ENDPOINT", "http://mirror/"), home).endpoint());

        // The token: HF_TOKEN, then the file `hf auth login` writes under HF_HOME, or HF_TOKEN_PATH.
        Files.createDirectories(home.resolve(".cache/huggingface"));
        Files.writeString(home.resolve(".cache/huggingface/token"), "hf_fromfile\n");
        assertEquals("hf_fromfile", HubSettings.from(Map.of(), home).token());
        assertEquals("hf_env", HubSettings.from(Map.of("HF_TOKEN", "hf_env"), home).token());
        Files.writeString(tmp.resolve("tok"), "hf_path");
        assertEquals("hf_path", HubSettings.from(Map.of("HF_TOKEN_PATH", tmp.resolve("tok").toString()), home).token());
        assertFalse(HubSettings.from(Map.of("HF_TOKEN", "hf_env"), home).toString().contains("hf_env"));
    }
}
