package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The infotext's {@code Model:}: what A1111 would call the model, never a cache's commit hash. */
class ModelNameTest {
    @TempDir Path dir;

    @Test
    void aHubSnapshotIsNamedByItsRepo() throws IOException {
        String commit = "39593d5650112b4cc580433f6b0435385882d819";
        Path repo = dir.resolve("hub").resolve("models--some-org--tiny-model.v2");
        Fixtures.copyModel("tiny-sd15", repo.resolve("snapshots").resolve(commit));
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs").resolve("main"), commit);

        Path snapshot = ModelLocator.resolve("some-org/tiny-model.v2", new HubCache(dir.resolve("hub")));
        assertEquals(commit, snapshot.getFileName().toString());
        StableDiffusionModel model = StableDiffusionModel.load(snapshot);
        assertEquals("tiny-model.v2", model.name());
        GenerationResult r = new StableDiffusionPipeline(model).generate(
                GenerationRequest.builder("x").steps(1).seed(1).size(64, 64).build());
        assertTrue(r.parameters().getFirst().contains(", Model: tiny-model.v2,"), r.parameters().getFirst());
    }

    @Test
    void foldersAndFilesAreNamedAsA1111NamesThem() throws IOException {
        assertEquals("tiny-sd15", StableDiffusionModel.modelName(Fixtures.model("tiny-sd15")));
        Path file = Files.createFile(dir.resolve("v1-5-pruned-emaonly.safetensors"));
        assertEquals("v1-5-pruned-emaonly", StableDiffusionModel.modelName(file));
        // A folder merely called "snapshots/<x>" outside a cache keeps its own name.
        Path plain = Files.createDirectories(dir.resolve("work").resolve("snapshots").resolve("my-model"));
        assertEquals("my-model", StableDiffusionModel.modelName(plain));
    }
}
