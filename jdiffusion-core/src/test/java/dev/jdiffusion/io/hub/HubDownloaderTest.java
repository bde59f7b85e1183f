package dev.jdiffusion.io.hub;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.checkpoint.ModelFamily;
import dev.jdiffusion.io.checkpoint.SingleFileCheckpoint;
import dev.jdiffusion.io.ckpt.CkptFile;
import dev.jdiffusion.testing.FakeHub;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Downloads from a fake Hub on loopback into a temporary cache, and checks the cache as Python would see it. */
class HubDownloaderTest {
    private static final String REPO = "test-org/tiny-sd15";
    private static final String UNET = "unet/diffusion_pytorch_model.safetensors";

    @TempDir Path cache;
    private FakeHub hub;
    private Map<String, byte[]> files;
    private String commit;

    @BeforeEach
    void serveTinySd15() throws IOException {
        hub = new FakeHub();
        // The fixture pipeline, plus what real repos hold beside it and the pipeline does not need.
        files = new LinkedHashMap<>(FakeHub.folder(Fixtures.model("tiny-sd15")));
        files.put("README.md", bytes("# tiny"));
        files.put(".gitattributes", bytes("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"));
        files.put("v1-5-pruned-emaonly.safetensors", bytes("a root single-file checkpoint"));
        files.put("safety_checker/config.json", bytes("{}"));
        files.put("safety_checker/model.safetensors", bytes("safety checker weights"));
        files.put("feature_extractor/preprocessor_config.json", bytes("{}"));
        files.put("unet/diffusion_pytorch_model.bin", bytes("pickled unet"));
        files.put("unet/diffusion_pytorch_model.fp16.safetensors", bytes("fp16 unet weights"));
        files.put("unet/diffusion_flax_model.msgpack", bytes("flax unet"));
        files.put("text_encoder/pytorch_model.bin", bytes("pickled text encoder"));
        files.put("text_encoder/model.onnx", bytes("onnx text encoder"));
        files.put("vae/diffusion_pytorch_model.bin", bytes("pickled vae"));
        commit = hub.addRepo(REPO, files);
    }

    @AfterEach
    void stop() { hub.close(); }

    private HubDownloader downloader() { return downloader(null); }

    private HubDownloader downloader(String token) {
        return new HubDownloader(new HubSettings(cache, hub.endpoint(), token), HubDownloader.Listener.NONE,
                2, Duration.ZERO);
    }

    private Path repoFolder() { return cache.resolve("models--test-org--tiny-sd15"); }

    @Test
    void downloadsThePipelineIntoTheHuggingFaceCacheLayout() throws IOException {
        HubDownloader.Result result = downloader().download(RepoRef.parse(REPO), null);

        Path snapshot = repoFolder().resolve("snapshots").resolve(commit);
        assertEquals(snapshot, result.snapshot());
        assertEquals(commit, result.commit());
        // refs/main holds the commit, without a newline (as huggingface_hub writes it).
        assertEquals(commit, Files.readString(repoFolder().resolve("refs/main")));

        Set<String> expected = Set.of("model_index.json", "scheduler/scheduler_config.json",
                "text_encoder/config.json", "text_encoder/model.safetensors",
                "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json",
                "tokenizer/vocab.json", "unet/config.json", UNET,
                "vae/config.json", "vae/diffusion_pytorch_model.safetensors");
        assertEquals(expected, filesUnder(snapshot));
        assertEquals(expected, Set.copyOf(result.files()));

        for (String name : expected) {
            Path pointer = snapshot.resolve(name);
            byte[] content = files.get(name);
            // LFS files are stored by sha256, the others by git blob id: the etag the Hub gives.
            String etag = FakeHub.isLfs(name) ? FakeHub.sha256(content) : FakeHub.gitBlobId(content);
            assertTrue(Files.isSymbolicLink(pointer), name + " is a symlink");
            String ups = "../".repeat(name.split("/").length + 1);
            assertEquals(Path.of(ups + "blobs/" + etag), Files.readSymbolicLink(pointer), name);
            assertArrayEquals(content, Files.readAllBytes(pointer), name);
            assertTrue(Files.isRegularFile(repoFolder().resolve("blobs").resolve(etag)));
        }
        // Byte for byte the fixture.
        assertArrayEquals(Files.readAllBytes(Fixtures.model("tiny-sd15").resolve(UNET)),
                Files.readAllBytes(snapshot.resolve(UNET)));
        try (Stream<Path> blobs = Files.list(repoFolder().resolve("blobs"))) {
            assertEquals(expected.size(), blobs.count(), "no leftover .incomplete files, no extra blobs");
        }

        // What the pipeline does not need was never asked for.
        for (String unwanted : Set.of("safety_checker", "feature_extractor", ".bin", ".fp16.", "msgpack", ".onnx",
                "README", "v1-5-pruned", "gitattributes"))
            assertEquals(java.util.List.of(), hub.requestsFor(unwanted), unwanted);
        // LFS files came from the CDN after a redirect; the API was asked for blobs (sizes, sha256).
        assertTrue(hub.requestsFor(FakeHub.sha256(files.get(UNET))).stream().anyMatch(r -> r.server().equals("cdn")));
        assertTrue(hub.requests().getFirst().path().endsWith("/api/models/" + REPO + "/revision/main?blobs=true"));

        // The result is a pipeline folder, found again through the cache by repo id.
        DiffusersFolder.open(snapshot);
        assertEquals(snapshot, new HubCache(cache).resolve(REPO));
        assertEquals(snapshot, ModelLocator.resolve(REPO, new HubCache(cache)));
        assertEquals(snapshot, new HubCache(cache).resolve(REPO + "@" + commit));
    }

    @Test
    void aSecondDownloadAsksForNothingButTheCommit() throws IOException {
        downloader().download(RepoRef.parse(REPO), null);
        int before = hub.requests().size();
        downloader().download(RepoRef.parse(REPO), null);
        var again = hub.requests().subList(before, hub.requests().size());
        assertEquals(1, again.size(), "only the model info: " + again);
    }

    @Test
    void variantFp16IsPreferredAndFallsBackToThePlainWeights() throws IOException {
        Path snapshot = downloader().download(RepoRef.parse(REPO), "fp16").snapshot();
        assertArrayEquals(files.get("unet/diffusion_pytorch_model.fp16.safetensors"),
                Files.readAllBytes(snapshot.resolve("unet/diffusion_pytorch_model.fp16.safetensors")));
        assertFalse(Files.exists(snapshot.resolve(UNET)), "the plain unet is not needed");
        // The VAE and text encoder have no fp16 variant: their plain safetensors, not the .bin.
        assertTrue(Files.exists(snapshot.resolve("vae/diffusion_pytorch_model.safetensors")));
        assertTrue(Files.exists(snapshot.resolve("text_encoder/model.safetensors")));
        assertEquals(java.util.List.of(), hub.requestsFor(".bin"));
    }

    @Test
    void resumesAfterTheConnectionDrops() throws IOException {
        hub.dropHalfwayOnce(UNET);
        Path snapshot = downloader().download(RepoRef.parse(REPO), null).snapshot();

        assertArrayEquals(files.get(UNET), Files.readAllBytes(snapshot.resolve(UNET)));
        var cdnGets = hub.requestsFor(FakeHub.sha256(files.get(UNET))).stream()
                .filter(r -> r.method().equals("GET")).toList();
        assertEquals(2, cdnGets.size(), "the dropped GET, then one for the rest");
        assertNull(cdnGets.get(0).header("Range"));
        // It resumes from what arrived: at most the half that was sent (a reset connection may lose some).
        String range = cdnGets.get(1).header("Range");
        assertTrue(range != null && range.matches("bytes=\\d+-"), range);
        long from = Long.parseLong(range.substring(6, range.length() - 1));
        assertTrue(from > 0 && from <= files.get(UNET).length / 2, range);
    }

    @Test
    void resumesWhatAnEarlierRunLeftInTheIncompleteFile() throws IOException {
        byte[] unet = files.get(UNET);
        String sha = FakeHub.sha256(unet);
        Path incomplete = repoFolder().resolve("blobs").resolve(sha + ".incomplete");
        Files.createDirectories(incomplete.getParent());
        Files.write(incomplete, java.util.Arrays.copyOf(unet, 1000));

        Path snapshot = downloader().download(RepoRef.parse(REPO), null).snapshot();

        assertArrayEquals(unet, Files.readAllBytes(snapshot.resolve(UNET)));
        assertFalse(Files.exists(incomplete));
        var gets = hub.requestsFor(sha).stream().filter(r -> r.method().equals("GET")).toList();
        assertEquals(1, gets.size());
        assertEquals("bytes=1000-", gets.getFirst().header("Range"));
    }

    @Test
    void startsOverWhenTheServerIgnoresTheRange() throws IOException {
        byte[] unet = files.get(UNET);
        Path incomplete = repoFolder().resolve("blobs").resolve(FakeHub.sha256(unet) + ".incomplete");
        Files.createDirectories(incomplete.getParent());
        Files.write(incomplete, java.util.Arrays.copyOf(unet, 1000));
        hub.ignoreRange(true);

        Path snapshot = downloader().download(RepoRef.parse(REPO), null).snapshot();
        assertArrayEquals(unet, Files.readAllBytes(snapshot.resolve(UNET)));
    }

    @Test
    void aCorruptFileIsDetectedReportedAndDeleted() {
        hub.corrupt(UNET);
        HubException e = assertThrows(HubException.class, () -> downloader().download(RepoRef.parse(REPO), null));
        assertTrue(e.getMessage().contains("sha256 mismatch"), e.getMessage());
        assertTrue(e.getMessage().contains(UNET) && e.getMessage().contains(REPO), e.getMessage());

        Path blobs = repoFolder().resolve("blobs");
        String sha = FakeHub.sha256(files.get(UNET));
        assertFalse(Files.exists(blobs.resolve(sha)));
        assertFalse(Files.exists(blobs.resolve(sha + ".incomplete")));
        assertFalse(Files.exists(repoFolder().resolve("snapshots").resolve(commit).resolve(UNET)));
        assertFalse(Files.exists(repoFolder().resolve("refs/main")), "refs/main names complete snapshots only");
    }

    @Test
    void theTokenGoesToTheHubButNotToTheCdn() throws IOException {
        hub.requireToken("hf_secret");
        downloader("hf_secret").download(RepoRef.parse(REPO), null);

        var requests = hub.requests();
        assertTrue(requests.stream().filter(r -> r.server().equals("hub"))
                .allMatch(r -> "Bearer hf_secret".equals(r.header("Authorization"))));
        assertTrue(requests.stream().filter(r -> r.server().equals("cdn"))
                .allMatch(r -> r.header("Authorization") == null));
        assertTrue(requests.stream().anyMatch(r -> r.server().equals("cdn")));
    }

    @Test
    void unauthorizedSaysGatedOrPrivateAndNamesHfToken() {
        hub.requireToken("hf_secret");
        HubException e = assertThrows(HubException.class, () -> downloader().download(RepoRef.parse(REPO), null));
        assertTrue(e.getMessage().contains("gated or private") && e.getMessage().contains("HF_TOKEN")
                && e.getMessage().contains(REPO), e.getMessage());
    }

    @Test
    void unknownRepoAndRevisionAreNamed() {
        HubException e = assertThrows(HubException.class,
                () -> downloader().download(RepoRef.parse("test-org/nothing"), null));
        assertTrue(e.getMessage().contains("test-org/nothing") && e.getMessage().contains("no such model repo"),
                e.getMessage());
        e = assertThrows(HubException.class, () -> downloader().download(RepoRef.parse(REPO + "@v9"), null));
        assertTrue(e.getMessage().contains("no revision 'v9'"), e.getMessage());
    }

    @Test
    void aCommitAsRevisionWritesNoRef() throws IOException {
        // A commit names itself: no refs/ entry is needed (huggingface_hub writes none either).
        downloader().download(new RepoRef(REPO, commit), null);
        assertFalse(Files.exists(repoFolder().resolve("refs")));
        assertTrue(new HubCache(cache).find(new RepoRef(REPO, commit)).isPresent());
    }

    @Test
    void aSingleFileRepoGetsItsCheckpointAndConfigs() throws IOException {
        Path dir = Fixtures.root().resolve("single-file");
        Map<String, byte[]> single = new LinkedHashMap<>();
        single.put("README.md", bytes("# a single-file checkpoint"));
        single.put("tiny-sd15-fp16.safetensors", Files.readAllBytes(dir.resolve("tiny-sd15-fp16.safetensors")));
        single.put("tiny-sd15.safetensors", Files.readAllBytes(dir.resolve("tiny-sd15.safetensors")));
        single.put("tiny-sd15.ckpt", bytes("pickled"));
        single.put("v1-inference.yaml", bytes("model: {}"));
        single.put("samples/cat.safetensors", bytes("not at the root"));
        String singleCommit = hub.addRepo("test-org/tiny-single", single);

        Path snapshot = downloader().download(RepoRef.parse("test-org/tiny-single"), null).snapshot();
        assertEquals(Set.of("tiny-sd15.safetensors", "v1-inference.yaml"), filesUnder(snapshot));
        assertArrayEquals(single.get("tiny-sd15.safetensors"), Files.readAllBytes(snapshot.resolve("tiny-sd15.safetensors")));
        assertEquals(snapshot, new HubCache(cache).resolve("test-org/tiny-single"));
        assertTrue(snapshot.endsWith(singleCommit));

        // With --variant fp16 the fp16 checkpoint, in the same snapshot.
        downloader().download(RepoRef.parse("test-org/tiny-single"), "fp16");
        assertTrue(Files.isSymbolicLink(snapshot.resolve("tiny-sd15-fp16.safetensors")));
        assertArrayEquals(single.get("tiny-sd15-fp16.safetensors"),
                Files.readAllBytes(snapshot.resolve("tiny-sd15-fp16.safetensors")));
        assertEquals(java.util.List.of(), hub.requestsFor(".ckpt"));
    }

    @Test
    void aSingleFileRepoWithOnlyACkptGetsItAndItLoads() throws IOException {
        // Older repos (sd-v1-4-original and the like) hold only a pickled .ckpt, which the loader reads safely.
        byte[] ckpt = Files.readAllBytes(Fixtures.root().resolve("single-file/tiny-sd15.ckpt"));
        hub.addRepo("test-org/ckpt-only", Map.of("README.md", bytes("# old"), "tiny-sd15.ckpt", ckpt,
                "v1-inference.yaml", bytes("model: {}")));
        Path snapshot = downloader().download(RepoRef.parse("test-org/ckpt-only"), null).snapshot();
        assertEquals(Set.of("tiny-sd15.ckpt", "v1-inference.yaml"), filesUnder(snapshot));
        assertArrayEquals(ckpt, Files.readAllBytes(snapshot.resolve("tiny-sd15.ckpt")));
        assertEquals(snapshot, new HubCache(cache).resolve("test-org/ckpt-only"));
        assertEquals(Optional.of(snapshot.resolve("tiny-sd15.ckpt")), HubCache.checkpointIn(snapshot));
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(snapshot.resolve("tiny-sd15.ckpt"), Fixtures.model("tiny-sd15"), null);
        assertEquals(ModelFamily.SD1, cp.family());
        assertInstanceOf(CkptFile.class, cp.file());
    }

    @Test
    void aRepoWithNothingLoadableIsRefused() {
        hub.addRepo("test-org/bin-only", Map.of("README.md", bytes("# x"), "pytorch_model.bin", bytes("pickled")));
        HubException e = assertThrows(HubException.class,
                () -> downloader().download(RepoRef.parse("test-org/bin-only"), null));
        assertEquals("test-org/bin-only: the repo has neither model_index.json (a diffusers pipeline) nor a .safetensors"
                + " or .ckpt checkpoint at its root: nothing jdiffusion can load", e.getMessage());
        assertEquals(java.util.List.of(), hub.requestsFor("/resolve/"), "nothing was fetched");
    }

    @Test
    void aDiffusersPartWithPickledWeightsOnlyIsRefusedBeforeAnyWeightIsFetched() throws IOException {
        Map<String, byte[]> binVae = new LinkedHashMap<>(files);
        binVae.remove("vae/diffusion_pytorch_model.safetensors");   // vae/diffusion_pytorch_model.bin is left
        hub.addRepo("test-org/bin-vae", binVae);
        HubException e = assertThrows(HubException.class,
                () -> downloader().download(RepoRef.parse("test-org/bin-vae"), null));
        assertTrue(e.getMessage().startsWith("test-org/bin-vae: vae: the repo has this part's weights only as pickled"
                + " .bin files (vae/diffusion_pytorch_model.bin), and jdiffusion reads a diffusers folder's weights"
                + " from .safetensors only; nothing was downloaded"), e.getMessage());
        // Only model_index.json was asked for: no weights of any part, and no ref naming a half snapshot.
        assertEquals(java.util.List.of(), hub.requestsFor(".safetensors"));
        assertEquals(java.util.List.of(), hub.requestsFor(".bin"));
        assertEquals(java.util.List.of(), hub.requests().stream().filter(r -> r.server().equals("cdn")).toList());
        assertFalse(Files.exists(cache.resolve("models--test-org--bin-vae/refs/main")));
    }

    // ---- sizes: what the Hub lists, what HEAD announces and what the GET brings must agree ----

    @Test
    void aFileTheHubListsWithAnotherSizeIsRefusedBeforeItIsDownloaded() {
        long size = files.get(UNET).length;
        hub.listSize(UNET, size + 1);
        HubException e = assertThrows(HubException.class, () -> downloader().download(RepoRef.parse(REPO), null));
        assertEquals(REPO + ": " + UNET + ": the Hub lists " + (size + 1) + " bytes but serves " + size, e.getMessage());
        assertEquals(java.util.List.of(), hub.requestsFor(FakeHub.sha256(files.get(UNET))), "the CDN was not asked");
        assertNoBlobLeft(UNET);
    }

    /** The UNet is an LFS file (its sha256 would catch the extra bytes too); a config is not: the size is its only check. */
    @ParameterizedTest
    @ValueSource(strings = {UNET, "unet/config.json"})
    void aServerSendingMoreThanItAnnouncedIsRefusedAndLeavesNoBlob(String file) {
        hub.sendExtraBytes(file, 10);
        HubException e = assertThrows(HubException.class, () -> downloader().download(RepoRef.parse(REPO), null));
        assertEquals(REPO + ": " + file + ": the server sends more than the " + files.get(file).length
                + " bytes announced; the download was deleted", e.getMessage());
        assertNoBlobLeft(file);
    }

    /** Neither the blob nor its partial download, nor a snapshot entry or a ref that would name a broken model. */
    private void assertNoBlobLeft(String file) {
        byte[] content = files.get(file);
        String etag = FakeHub.isLfs(file) ? FakeHub.sha256(content) : FakeHub.gitBlobId(content);
        Path blobs = repoFolder().resolve("blobs");
        assertFalse(Files.exists(blobs.resolve(etag)), "blob of " + file);
        assertFalse(Files.exists(blobs.resolve(etag + ".incomplete")), "partial blob of " + file);
        assertFalse(Files.exists(repoFolder().resolve("snapshots").resolve(commit).resolve(file), java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(repoFolder().resolve("refs/main")), "refs/main names complete snapshots only");
    }

    @Test
    void quoteMatchesUrllib() {
        assertEquals("refs%2Fpr%2F1", HubDownloader.quote("refs/pr/1", ""));
        assertEquals("unet/a%20b%C3%A9.json", HubDownloader.quote("unet/a bé.json", "/"));
        assertEquals("abc", HubDownloader.normalizeEtag("W/\"abc\""));
        assertEquals("abc", HubDownloader.normalizeEtag("\"abc\""));
    }

    private static byte[] bytes(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    private static Set<String> filesUnder(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !Files.isDirectory(p)).map(p -> dir.relativize(p).toString().replace('\\', '/'))
                    .collect(Collectors.toSet());
        }
    }
}
