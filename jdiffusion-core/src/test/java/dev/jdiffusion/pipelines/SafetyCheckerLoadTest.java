package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.hub.HubDownloader;
import dev.jdiffusion.io.hub.HubSettings;
import dev.jdiffusion.io.hub.RepoRef;
import dev.jdiffusion.testing.FakeHub;
import dev.jdiffusion.testing.Fixtures;
import dev.jdiffusion.testing.SafetyFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Which models have a safety checker, and how a broken one is reported: never an image left unchecked in silence,
 * always one message naming the file (or model_index.json entry) and what was expected.
 */
class SafetyCheckerLoadTest {
    @TempDir Path dir;

    private static String message(Path model) {
        return assertThrows(ModelFormatException.class, () -> SafetyCheckerStep.forModel(model)).getMessage();
    }

    @Test
    void foldersWithoutACheckerAndSingleFilesHaveNone() {
        assertTrue(SafetyCheckerStep.forModel(Fixtures.model("tiny-sd15")).isEmpty(), "model_index.json: [null, null]");
        assertTrue(SafetyCheckerStep.forModel(Fixtures.root().resolve("single-file/tiny-sd15.safetensors")).isEmpty());
        SafetyCheckerStep step = SafetyCheckerStep.forModel(SafetyFixtures.model()).orElseThrow();
        assertEquals(224, step.checker().imageSize());
        assertEquals(224, step.processor().cropHeight());
    }

    @Test
    void brokenIndexEntriesAndConfigsAreNamed() throws IOException {
        Path index = SafetyFixtures.copyModel(dir.resolve("a")).resolve("model_index.json");
        String original = Files.readString(index);

        Files.writeString(index, original.replace("\"CLIPImageProcessor\"", "\"SiglipImageProcessor\""));
        assertEquals(index + ": 'feature_extractor': unsupported class SiglipImageProcessor (supported: CLIPImageProcessor,"
                + " CLIPFeatureExtractor)", message(index.getParent()));

        Files.writeString(index, original.replace("[\n    \"transformers\",\n    \"CLIPImageProcessor\"\n  ]", "[null, null]"));
        assertTrue(message(index.getParent()).startsWith(index + ": 'feature_extractor': the pipeline has a safety checker"
                + " but no feature extractor"), message(index.getParent()));

        Files.writeString(index, original.replace("\"StableDiffusionSafetyChecker\"", "\"PaintByExampleImageEncoder\""));
        assertTrue(message(index.getParent()).contains("'safety_checker': unsupported class PaintByExampleImageEncoder"));
        Files.writeString(index, original);

        Path model = index.getParent();
        Path pre = model.resolve("feature_extractor/preprocessor_config.json");
        Files.writeString(pre, Files.readString(pre).replace("\"crop_size\": 224", "\"crop_size\": {\"height\": 200, \"width\": 224}"));
        assertEquals(pre + ": 'crop_size': the feature extractor makes images of another size than the safety checker's 224x224 ("
                + model.resolve("safety_checker/config.json") + ")", message(model));
        Files.writeString(pre, Files.readString(pre).replace("{\"height\": 200, \"width\": 224}", "224").replace("\"resample\": 3", "\"resample\": 0"));
        assertEquals(pre + ": 'resample': unsupported Pillow filter 0 (supported: 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING)",
                message(model));
        Files.delete(pre);
        assertTrue(message(model).startsWith(pre + ": file not found"), message(model));

        Path cfg = model.resolve("safety_checker/config.json");
        Files.writeString(cfg, Files.readString(cfg).replace("\"num_attention_heads\": 4,\n    \"num_hidden_layers\": 2",
                "\"num_attention_heads\": 5,\n    \"num_hidden_layers\": 2"));
        Files.copy(SafetyFixtures.model().resolve("feature_extractor/preprocessor_config.json"), pre);
        assertEquals(cfg + ": 'vision_config.num_attention_heads': 5 heads do not divide hidden_size 32", message(model));
    }

    /** The Hub download takes the checker with the pipeline, unless told not to; without it, loading says how to go on. */
    @Test
    void downloadFetchesTheCheckerUnlessTurnedOff() throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>(FakeHub.folder(Fixtures.model("tiny-sd15")));
        files.putAll(FakeHub.folder(SafetyFixtures.model()));   // model_index.json naming the checker, and its files
        files.put("safety_checker/pytorch_model.bin", "pickled checker".getBytes());
        try (FakeHub hub = new FakeHub()) {
            hub.addRepo("org/safe", files);
            Path cache = dir.resolve("cache");
            HubDownloader downloader = new HubDownloader(new HubSettings(cache, hub.endpoint(), null), HubDownloader.Listener.NONE,
                    2, Duration.ZERO);

            Path with = downloader.download(RepoRef.parse("org/safe"), null).snapshot();
            Set<String> got = filesUnder(with);
            assertTrue(got.containsAll(Set.of("safety_checker/config.json", "safety_checker/model.safetensors",
                    "feature_extractor/preprocessor_config.json")), got.toString());
            assertFalse(got.contains("safety_checker/pytorch_model.bin"));
            assertTrue(StableDiffusionPipeline.load(with).safetyChecker().isPresent());

            int checkerRequests = hub.requestsFor("safety_checker").size() + hub.requestsFor("feature_extractor").size();
            assertTrue(checkerRequests > 0);
            Path cache2 = dir.resolve("cache2");
            Path without = new HubDownloader(new HubSettings(cache2, hub.endpoint(), null), HubDownloader.Listener.NONE,
                    2, Duration.ZERO).download(RepoRef.parse("org/safe"), null, false).snapshot();
            assertTrue(filesUnder(without).stream().noneMatch(f -> f.startsWith("safety_checker") || f.startsWith("feature_extractor")));
            assertEquals(checkerRequests, hub.requestsFor("safety_checker").size() + hub.requestsFor("feature_extractor").size(),
                    "nothing of the checker asked for without it");
            // model_index.json still names the checker: loading says what is missing and how to go on.
            String m = message(without);
            assertTrue(m.startsWith(without.resolve("safety_checker") + ": model_index.json names a safety checker but this"
                    + " folder is missing") && m.contains("--no-safety-checker"), m);
            assertTrue(StableDiffusionPipeline.load(without, LoadOptions.DEFAULTS.withSafetyChecker(false)).safetyChecker().isEmpty());
        }
    }

    private static Set<String> filesUnder(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            Set<String> out = new TreeSet<>();
            s.filter(Files::isRegularFile).forEach(p -> out.add(root.relativize(p).toString().replace('\\', '/')));
            return out;
        }
    }
}
