package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The single-file checkpoints (diffusers' own conversion of the tiny models to the original SD layout),
 * loaded with --config pointing at the matching folder, make the reference images: fp32 .safetensors
 * and .ckpt within the pipeline tolerance (2 levels, mean below 0.05), fp16 within 3 levels per pixel.
 */
class SingleFilePipelineTest {
    private static final Map<String, StableDiffusionPipeline> PIPELINES = new HashMap<>();

    record Variant(String file, String model, int maxLevels, double maxMean) {}

    static final List<Variant> VARIANTS = List.of(
            new Variant("tiny-sd15.safetensors", "tiny-sd15", 2, 0.05),
            new Variant("tiny-sd15.ckpt", "tiny-sd15", 2, 0.05),
            new Variant("tiny-sd15-fp16.safetensors", "tiny-sd15", 3, 1.0),
            new Variant("tiny-sd2.safetensors", "tiny-sd2", 2, 0.05));

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Variant v : VARIANTS) {
            JsonNode files = Fixtures.manifest(v.model()).get("files");
            files.fieldNames().forEachRemaining(f -> {
                if (f.startsWith("pipeline/") && f.endsWith(".safetensors"))
                    out.add(Arguments.of(Named.of(v.file() + " " + files.get(f).get("name").asText(), v), files.get(f), f));
            });
        }
        return out.stream();
    }

    /**
     * A Hugging Face snapshot of a single-file repo in which Python fetched both the fp16 and the fp32 copy (and a
     * .ckpt): the loader takes the fp32 safetensors, as the downloader would have fetched, bit for bit.
     */
    @Test
    void aSnapshotFolderWithSeveralCheckpointsLoadsTheOneTheDownloaderPicks(@TempDir Path dir) throws IOException {
        Path fixtures = Fixtures.root().resolve("single-file");
        for (String f : List.of("tiny-sd15-fp16.safetensors", "tiny-sd15.safetensors", "tiny-sd15.ckpt"))
            Files.createSymbolicLink(dir.resolve(f), fixtures.resolve(f));
        LoadOptions config = new LoadOptions(Fixtures.model("tiny-sd15"), null, null);
        float[] fromFolder = encode(StableDiffusionModel.load(dir, config));
        assertArrayEquals(encode(StableDiffusionModel.load(fixtures.resolve("tiny-sd15.safetensors"), config)), fromFolder);
        assertFalse(Arrays.equals(encode(StableDiffusionModel.load(fixtures.resolve("tiny-sd15-fp16.safetensors"), config)),
                fromFolder), "the fp16 copy encodes differently, so the comparison tells the files apart");
    }

    /** The text encoder's last hidden state for one prompt: cheap, and it depends on every text encoder weight. */
    private static float[] encode(StableDiffusionModel model) {
        return model.textEncoder().forward(new int[][]{model.tokenizer().encodePadded("a photo of a cat")}).lastHiddenState().data();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void singleFileMakesTheReferenceImage(Variant v, JsonNode m, String file) {
        SafeTensors ref = SafeTensors.open(Fixtures.model(v.model()).resolve("expected").resolve(file));
        StableDiffusionPipeline pipe = PIPELINES.computeIfAbsent(v.file(), f -> StableDiffusionPipeline.load(
                Fixtures.root().resolve("single-file").resolve(f), new LoadOptions(Fixtures.model(v.model()), null, null)));
        GenerationResult result = pipe.generate(PipelineParityTest.request(m, ref));
        PipelineParityTest.assertImagesMatch(ref, result, v.maxLevels(), v.maxMean(), v.file() + " " + file);
    }
}
