package dev.jdiffusion.cli;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.io.hub.HubDownloader;
import dev.jdiffusion.io.hub.HubSettings;
import dev.jdiffusion.io.hub.RepoRef;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.testing.FakeHub;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --model org/name} end to end, as a user runs it: models are downloaded (from a fake Hub on loopback,
 * which is then shut down) into a temporary Hugging Face cache, and the packaged jar, a separate process, finds
 * them through HF_HUB_CACHE in its environment, offline.
 */
class HubCacheCliIT {
    private static final String PIPELINE = "test-org/tiny-sd15";
    /** A single-file repo of which both the plain and the fp16-named copy were fetched (as Python tools often do). */
    private static final String SINGLE = "test-org/tiny-sd2-single";
    private static final String NOCFG_PROMPT = "4k 8K 1080p 3.14159 2024-11-24 #1 100%";

    @TempDir static Path cache;
    /** The fake Hub's address once it is closed: anything that tried the network would fail. */
    private static String deadEndpoint;
    @TempDir Path dir;

    @BeforeAll
    static void downloadIntoATemporaryCache() throws IOException {
        try (FakeHub hub = new FakeHub()) {
            hub.addRepo(PIPELINE, FakeHub.folder(Fixtures.model("tiny-sd15")));
            byte[] sd2 = Files.readAllBytes(Fixtures.root().resolve("single-file/tiny-sd2.safetensors"));
            hub.addRepo(SINGLE, Map.of("README.md", "# tiny".getBytes(StandardCharsets.UTF_8),
                    "tiny-sd2.safetensors", sd2, "tiny-sd2-fp16.safetensors", sd2));
            HubDownloader downloader = new HubDownloader(new HubSettings(cache, hub.endpoint(), null));
            downloader.download(RepoRef.parse(PIPELINE), null);
            downloader.download(RepoRef.parse(SINGLE), null);
            Path snapshot = downloader.download(RepoRef.parse(SINGLE), "fp16").snapshot();
            assertTrue(Files.exists(snapshot.resolve("tiny-sd2.safetensors")) && Files.exists(snapshot.resolve("tiny-sd2-fp16.safetensors")));
            deadEndpoint = hub.endpoint();
        }
    }

    record Run(int code, String stdout, String stderr) {}

    /** The jar with HF_HUB_CACHE (and nothing else of the Hugging Face environment) naming the temporary cache. */
    private Run jdiffusion(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-jar", System.getProperty("jdiffusion.jar")));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(dir.resolve("stdout").toFile())
                .redirectError(dir.resolve("stderr").toFile());
        Map<String, String> env = pb.environment();
        for (String v : List.of("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "HF_TOKEN",
                "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT"))
            env.remove(v);
        env.put("HF_HUB_CACHE", cache.toString());
        env.put("HF_HUB_OFFLINE", "1");
        env.put("HF_ENDPOINT", deadEndpoint);
        int code = pb.start().waitFor();
        return new Run(code, Files.readString(dir.resolve("stdout")), Files.readString(dir.resolve("stderr")));
    }

    private static List<String> ourLines(String stderr) {
        return stderr.lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
    }

    @Test
    void generateWithARepoIdMakesTheFoldersImage() throws Exception {
        Path png = dir.resolve("hub.png");
        Run r = jdiffusion("generate", "--model", PIPELINE, "--prompt", NOCFG_PROMPT, "--sampler", "euler",
                "--steps", "25", "--guidance", "1.0", "--seed", "0", "--output", png.toString());
        assertEquals(0, r.code(), r.stderr());
        assertEquals(png.toString(), r.stdout().strip());
        assertEquals(List.of(), ourLines(r.stderr()));

        // The same request in this process, from the fixture folder the fake Hub served: the same pixels.
        GenerationRequest request = GenerationRequest.builder(NOCFG_PROMPT).sampler("euler").steps(25).guidanceScale(1.0)
                .seed(0).build();
        byte[] expected = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15")).generate(request).images().getFirst().rgb();
        assertArrayEquals(expected, PngFiles.read(png).image().rgb());
        GenerateCommandTest.assertPixelsMatch(png, Fixtures.expected("tiny-sd15", "pipeline/euler_nocfg_seed0.safetensors"), 0);
    }

    @Test
    void aRepoNotInTheCacheNamesTheCacheOfTheEnvironment() throws Exception {
        Run r = jdiffusion("generate", "--model", "test-org/absent", "--prompt", "x", "--seed", "0");
        assertEquals(Main.EXIT_USAGE, r.code());
        assertEquals(List.of("jdiffusion: test-org/absent: not in the Hugging Face cache at " + cache.toAbsolutePath().normalize()
                + "; run `jdiffusion download test-org/absent`"), ourLines(r.stderr()));
    }

    @Test
    void tokenizeWithRepoIds() throws Exception {
        // A diffusers snapshot: its tokenizer/.
        String prompt = Fixtures.tokenizerPrompts("tiny-sd15").get(11);
        Run r = jdiffusion("tokenize", "--prompt-syntax", "plain", "--model", PIPELINE, "--json", prompt);
        assertEquals(0, r.code(), r.stderr());
        assertArrayEquals(Fixtures.expected("tiny-sd15", "tokenizer.safetensors").tensor("ids_11").toLongArray(),
                TokenizeCommandTest.inputIds(r.stdout()));

        // A single-file snapshot with two checkpoints: the built-in SD 2.x tokenizer (pads with '!').
        prompt = Fixtures.tokenizerPrompts("tiny-sd2").get(1);
        r = jdiffusion("tokenize", "--prompt-syntax", "plain", "--model", SINGLE, "--json", prompt);
        assertEquals(0, r.code(), r.stderr());
        assertArrayEquals(Fixtures.expected("tiny-sd2", "tokenizer.safetensors").tensor("ids_01").toLongArray(),
                TokenizeCommandTest.inputIds(r.stdout()));
    }
}
