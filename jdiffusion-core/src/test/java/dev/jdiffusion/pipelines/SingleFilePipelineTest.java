package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The single-file checkpoints (diffusers' own conversion of the tiny models to the original SD layout),
 * loaded with --config pointing at the matching folder, make the reference images: fp32 .safetensors
 * and .ckpt within the pipeline tolerance (2 levels, mean below 0.05), fp16 within 3 levels per pixel, and a
 * BF16 copy made here within 4.
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

    /** Max and mean level differences of the BF16 file's image; see {@link #bf16SingleFileMakesTheReferenceImage}. */
    static final int BF16_MAX_LEVELS = 4;
    static final double BF16_MAX_MEAN = 0.55;

    /**
     * BF16 single files (as many fine-tunes are saved): a BF16 copy of the fp32 fixture, rounded to nearest even
     * as torch's {@code .bfloat16()} does, loaded with --config, makes the reference image of ddim_neg_seed1
     * (20 DDIM steps at CFG 7.5, which amplifies weight error more than a run without guidance). BF16 keeps 8
     * significant bits (fp16: 11), so its weights are about 8x coarser than the fp16 file's, which is allowed 3
     * levels; measured here: max 3 levels, mean 0.442 levels per channel value, so the bounds are 4 levels and a mean
     * below 0.55 (a small margin for other CPUs' vector widths), looser than fp32's 2 and 0.05 because of the rounding.
     */
    @Test
    void bf16SingleFileMakesTheReferenceImage(@TempDir Path dir) throws IOException {
        assertEquals((short) 0x3F80, bf16(1.00390625f), "halfway, to even (down)");
        assertEquals((short) 0x3F82, bf16(1.01171875f), "halfway, to even (up)");
        assertEquals((short) 0x3F81, bf16(1.0048828f), "above halfway: up");
        SafeTensors fp32 = SafeTensors.open(Fixtures.root().resolve("single-file/tiny-sd15.safetensors"));
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        for (String name : fp32.names()) {
            WeightTensor t = fp32.tensor(name);
            assertEquals(DType.F32, t.dtype(), name);
            MemorySegment seg = Arena.ofAuto().allocate(t.size() * 2);
            for (long i = 0; i < t.size(); i++) seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, bf16(t.getFloat(i)));
            entries.add(SafeTensorsWriter.Entry.of(name, new WeightTensor(name, DType.BF16, t.shape(), seg)));
        }
        Path file = dir.resolve("tiny-sd15-bf16.safetensors");
        SafeTensorsWriter.write(file, entries, Map.of("format", "pt"));
        assertTrue(SafeTensors.open(file).names().stream().allMatch(n -> SafeTensors.open(file).tensor(n).dtype() == DType.BF16));

        String ref = "pipeline/ddim_neg_seed1.safetensors";
        SafeTensors expected = Fixtures.expected("tiny-sd15", ref);
        StableDiffusionPipeline pipe = StableDiffusionPipeline.load(file, new LoadOptions(Fixtures.model("tiny-sd15"), null, null));
        GenerationResult result = pipe.generate(PipelineParityTest.request(Fixtures.manifest("tiny-sd15").get("files").get(ref), expected));
        PipelineParityTest.assertImagesMatch(expected, result, BF16_MAX_LEVELS, BF16_MAX_MEAN, "BF16 " + ref);
    }

    /** float32 to bfloat16, rounding to nearest even (torch's c10::BFloat16); NaN stays a quiet NaN. */
    static short bf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) 0x7FC0;
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
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
