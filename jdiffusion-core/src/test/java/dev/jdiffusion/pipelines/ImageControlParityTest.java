package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.testing.Fixtures;
import dev.jdiffusion.testing.ImageControlFixtures;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The image-control fixture's 14 cases (diffusers' StableDiffusionInpaintPipeline with 9- and 4-channel UNets,
 * strengths, padding crop, resized RGB masks; StableDiffusionControlNetPipeline with windows, scales, guess mode,
 * Canny, multi-ControlNet, resizing) and the 9 of testdata/image-control-extra (made by diffusers 0.30 with
 * scripts/reference/image_control_extra.py: heun, unipc, dpmpp_2m_karras, ddpm; batches; soft, RGBA and
 * other-size masks; crops at the border and filled either way; guess mode without CFG; multi-ControlNet in the
 * other order; ControlNet with img2img and with 9- and 4-channel inpainting) through
 * {@link StableDiffusionPipeline#generate}: every pixel within 2 levels, mean below 0.05.
 */
class ImageControlParityTest {
    static final Map<String, StableDiffusionPipeline> PIPELINES = new HashMap<>();
    static final Map<String, ControlNetModel> NETS = new HashMap<>();

    static StableDiffusionPipeline pipeline(String model) {
        return PIPELINES.computeIfAbsent(model, m -> StableDiffusionPipeline.load(m.equals("inpaint")
                ? ImageControlFixtures.path("tiny-sd15-inpaint") : Fixtures.model("tiny-sd15")));
    }

    static ControlNetModel net(String name) {
        return NETS.computeIfAbsent(name, n -> ControlNets.load(ImageControlFixtures.path(n),
                pipeline("base").model().unet().config(), "tiny-sd15"));
    }

    static PilImage input(Path folder, String name) {
        try {
            return PngFiles.readPixels(folder.resolve("inputs").resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path extra() { return Fixtures.root().resolve("image-control-extra"); }

    static Stream<Arguments> fixtureCases() {
        return Stream.concat(ImageControlFixtures.cases("inpaint").stream(),
                ImageControlFixtures.cases("controlnet").stream()).map(c -> Arguments.of(Named.of(c.get("name").asText(), c),
                ImageControlFixtures.root()));
    }

    static Stream<Arguments> moreCases() {
        List<Arguments> more = new ArrayList<>();
        try {
            for (JsonNode c : JsonMapper.builder().build().readTree(extra().resolve("manifest.json").toFile()).get("cases"))
                more.add(Arguments.of(Named.of(c.get("name").asText(), c), extra()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return more.stream();
    }

    /** The request the manifest's command line makes (pictures under {@code folder}/inputs). */
    static GenerationRequest request(JsonNode c, Path folder) {
        GenerationRequest.Builder b = GenerationRequest.builder(c.has("prompt_text") ? c.get("prompt_text").asText() : c.get("prompt").asText())
                .negativePrompt(c.path("negative").asText(""))
                .steps(c.get("steps").asInt()).guidanceScale(c.get("guidance").asDouble())
                .sampler(c.get("sampler").asText()).seed(c.get("seed").asLong())
                .size(c.path("width").asInt(0), c.path("height").asInt(0)).batchSize(c.path("batch").asInt(1));
        if (c.has("init")) b.initImage(input(folder, c.get("init").asText()).toRgb(), c.get("strength").asDouble());
        if (c.has("mask")) b.mask(input(folder, c.get("mask").asText()));
        if (c.has("padding_mask_crop")) b.paddingMaskCrop(c.get("padding_mask_crop").asInt());
        if (c.has("nets"))
            for (JsonNode n : c.get("nets"))
                b.controlNet(new ControlNetUnit(net(n.get("model").asText()), input(folder, n.get("image").asText()),
                        n.path("scale").asDouble(1.0), n.path("start").asDouble(0.0), n.path("end").asDouble(1.0),
                        n.has("preprocess") ? n.get("preprocess").asText()
                                : n.has("canny") ? "canny:" + n.get("canny").get(0).asInt() + ":" + n.get("canny").get(1).asInt() : null));
        b.guessMode(c.path("guess_mode").asBoolean(false));
        return b.build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtureCases")
    void fixtureCasesMatchDiffusers(JsonNode c, Path folder) { matchesDiffusers(c, folder); }

    @ParameterizedTest(name = "{0}")
    @MethodSource("moreCases")
    void moreCasesMatchDiffusers(JsonNode c, Path folder) { matchesDiffusers(c, folder); }

    private static void matchesDiffusers(JsonNode c, Path folder) {
        boolean fixture = folder.equals(ImageControlFixtures.root());
        SafeTensors ref = fixture ? ImageControlFixtures.expected(c.get("name").asText())
                : SafeTensors.open(folder.resolve(c.get("expected").asText()));
        GenerationResult result = pipeline(c.path("model").asText("base")).generate(request(c, folder));
        PipelineParityTest.assertImagesMatch(ref, result, 2, 0.05, c.get("name").asText(), fixture);
    }
}
