package dev.jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.GenerationResult;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import static dev.jdiffusion.server.ServerFixtures.assertSamePixels;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The library's LoRA tags, embeddings, inpainting and safety checker through the A1111 API: a served image equals
 * the library's own image for the same request (pixel for pixel) and, where a diffusers reference exists, that
 * reference (2 levels, mean below 0.05); the listings show what the library finds; errors name the field.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LibraryFeaturesApiTest {
    static final Path LORAS = Fixtures.root().resolve("prompt-control/loras");
    static final Path EMBEDDINGS = Fixtures.root().resolve("prompt-control/embeddings");
    static final Path IMAGE_CONTROL = Fixtures.root().resolve("image-control");
    static final Path INPAINT_MODEL = IMAGE_CONTROL.resolve("tiny-sd15-inpaint");
    static final Path SAFE_MODEL = Fixtures.root().resolve("safety/tiny-sd15-safe");

    @TempDir static Path outputs;
    @TempDir static Path embeddingsDir;
    JDiffusionServer server;
    A1111Client client;
    StableDiffusionPipeline sd15, inpaint;

    @BeforeAll
    void start() throws Exception {
        // The fixture embeddings (width 32, tiny-sd15's) and one made for a wider text encoder (48).
        for (String f : List.of("vividstyle.pt", "softgrain.safetensors", "learned_embeds.safetensors"))
            Files.copy(EMBEDDINGS.resolve(f), embeddingsDir.resolve(f));
        writeA1111Embedding(embeddingsDir.resolve("wide48.safetensors"), 2, 48);
        server = JDiffusionServer.start(ServerFixtures.options(outputs).withAdapterFolders(LORAS, embeddingsDir));
        client = new A1111Client("127.0.0.1", server.port());
        sd15 = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));
        inpaint = StableDiffusionPipeline.load(INPAINT_MODEL);
    }

    @AfterAll
    void stop() {
        if (server != null) server.close();
    }

    // ------------------------------------------------------------------------------------------ LoRA tags

    /** prompt-control's lora_tag case: {@code <lora:locon_style:0.7>} found in --lora-dir, as A1111 reads the tag. */
    @Test
    void loraTagInThePromptEqualsTheLibraryAndDiffusers() throws IOException {
        String prompt = "a bowl of fruit on a table <lora:locon_style:0.7>, still life";
        ObjectNode req = A1111Client.request().put("prompt", prompt).put("sampler_name", "DPM++ 2M").put("scheduler", "karras")
                .put("steps", 15).put("cfg_scale", 7.5).put("seed", 24).put("width", 64).put("height", 64);
        A1111Client.Result served = client.txt2img(req);
        RgbImage image = served.images().getFirst().image();

        GenerationResult lib = sd15.generate(GenerationRequest.builder(prompt).sampler("dpmpp_2m_karras").steps(15)
                .guidanceScale(7.5).seed(24).size(64, 64).loraDirectory(LORAS).embeddingsDirectory(embeddingsDir).build());
        assertSamePixels(lib.images().getFirst(), image);  // max difference 0
        assertEquals(lib.parameters().getFirst(), served.info().get("infotexts").get(0).asText());
        assertTrue(lib.parameters().getFirst().contains("locon_style"), lib.parameters().getFirst());

        // diffusers' load_lora_weights + fuse_lora at 0.7 (tools/refgen/gen_prompt_control.py); measured: max 0.
        RgbImage reference = u8(Fixtures.root().resolve("prompt-control/cases/lora_tag.safetensors"));
        double[] ref = diff(reference, image);
        assertTrue(ref[0] <= 2 && ref[1] < 0.05, "vs diffusers: max " + ref[0] + ", mean " + ref[1]);

        // Without the tag: max 147, mean 21.33 levels (as the manifest's effect_of_feature.no_lora).
        RgbImage plain = client.txt2img(req.put("prompt", "a bowl of fruit on a table , still life")).images().getFirst().image();
        double[] effect = diff(plain, image);
        assertTrue(effect[0] >= 140 && effect[1] >= 20, "the LoRA changes the image: max " + effect[0] + ", mean " + effect[1]);
    }

    @Test
    void loraTagWithoutThatFileIsAFieldlessError() {
        A1111Client.Answer a = client.post("/sdapi/v1/txt2img", A1111ApiTest.small(5).put("prompt", "x <lora:no_such_lora:1>"));
        assertTrue(a.status() >= 400 && a.status() < 500, a.status() + " " + a.body());
        assertTrue(a.json().get("detail").asText().contains("no_such_lora"), a.body());
    }

    /** An embedding's trigger in the prompt uses the --embeddings-dir vectors, as the library's own request does. */
    @Test
    void embeddingTriggerEqualsTheLibrary() {
        String prompt = "a vividstyle photo of a house";
        RgbImage served = client.txt2img(A1111ApiTest.small(9).put("prompt", prompt)).images().getFirst().image();
        GenerationRequest.Builder b = GenerationRequest.builder(prompt).sampler("euler_a").steps(3).guidanceScale(7).seed(9).size(32, 32);
        RgbImage with = sd15.generate(b.embeddingsDirectory(embeddingsDir).build()).images().getFirst();
        RgbImage without = sd15.generate(b.embeddingsDirectory(null).build()).images().getFirst();
        assertSamePixels(with, served);
        double[] effect = diff(without, served);  // measured: max 98, mean 18.3 levels
        assertTrue(effect[0] >= 50 && effect[1] >= 10, "the embedding changes the image: max " + effect[0] + ", mean " + effect[1]);
    }

    // ------------------------------------------------------------------------------------------ listings

    @Test
    void lorasListTheFilesOfTheLoraFolder() throws IOException {
        JsonNode list = client.get("/sdapi/v1/loras").json();
        assertEquals(3, list.size(), list.toString());
        List<String> names = new ArrayList<>();
        list.forEach(l -> names.add(l.get("name").asText()));
        assertEquals(List.of("locon_style", "peft_detail", "te_only"), names);
        JsonNode locon = list.get(0);
        assertEquals("locon_style", locon.get("alias").asText());
        Path file = LORAS.resolve("locon_style.safetensors").toAbsolutePath().normalize();
        assertEquals(file.toString(), locon.get("path").asText());
        assertTrue(Files.isRegularFile(Path.of(locon.get("path").asText())));
        // The header's __metadata__ read independently of the library (8-byte length, then JSON).
        JsonNode header = safetensorsHeader(file);
        JsonNode expected = header.has("__metadata__") ? header.get("__metadata__") : A1111Client.JSON.createObjectNode();
        assertTrue(locon.get("metadata").isObject());
        assertEquals(expected.size(), locon.get("metadata").size(), locon.get("metadata").toString());
        expected.properties().forEach(e -> {
            JsonNode got = locon.get("metadata").get(e.getKey());
            assertNotNull(got, e.getKey());
            if (got.isTextual()) assertEquals(e.getValue().asText(), got.asText(), e.getKey());
        });
    }

    @Test
    void embeddingsListLoadedAndSkippedByWidth() {
        JsonNode e = client.get("/sdapi/v1/embeddings").json();
        JsonNode loaded = e.get("loaded"), skipped = e.get("skipped");
        assertEquals(3, loaded.size(), e.toString());
        // tiny-sd15's text encoder is 32 wide: the fixtures' vectors (manifest: 3, 2 and 1 vectors of width 32).
        assertEmbedding(loaded.get("vividstyle"), 32, 3);
        assertEmbedding(loaded.get("softgrain"), 32, 2);
        assertEmbedding(loaded.get("<glow-toy>"), 32, 1);  // a diffusers file: its token is the trigger
        assertEquals(1, skipped.size(), e.toString());
        assertEmbedding(skipped.get("wide48"), 48, 2);
    }

    static void assertEmbedding(JsonNode e, int shape, int vectors) {
        assertNotNull(e);
        assertTrue(e.get("step").isNull() && e.get("sd_checkpoint").isNull() && e.get("sd_checkpoint_name").isNull(), e.toString());
        assertEquals(shape, e.get("shape").asInt());
        assertEquals(vectors, e.get("vectors").asInt());
    }

    // ------------------------------------------------------------------------------------------ inpainting

    static ObjectNode inpaintRequest(String prompt, String sampler, long seed, int w, int h, String init, String mask) throws IOException {
        ObjectNode req = A1111Client.request().put("prompt", prompt).put("sampler_name", sampler).put("steps", 15)
                .put("cfg_scale", 7.5).put("seed", seed).put("width", w).put("height", h).put("denoising_strength", 1.0)
                .put("mask", b64(IMAGE_CONTROL.resolve("inputs").resolve(mask)))
                .put("mask_blur", 4).put("inpainting_fill", 1)  // accepted, ignored
                .put("inpaint_full_res", false)  // "whole picture" (A1111's API defaults to "only masked", padding 0)
                .put("override_settings_restore_afterwards", true);
        req.putObject("override_settings").put("sd_model_checkpoint", "image-control/tiny-sd15-inpaint");
        req.putArray("init_images").add(b64(IMAGE_CONTROL.resolve("inputs").resolve(init)));
        return req;
    }

    /** image-control's inpaint9_euler_a_seed1: the 9-channel model, the ellipse mask, whole picture. */
    @Test
    void maskEqualsTheLibrarysInpaintingAndDiffusers() throws IOException {
        String prompt = "a photo of a red fox sitting in a snowy forest";
        A1111Client.Result served = client.img2img(inpaintRequest(prompt, "Euler a", 1, 64, 64, "scene_a_64.png", "mask_ellipse_64.png"));
        RgbImage image = served.images().getFirst().image();
        RgbImage init = PngFiles.read(IMAGE_CONTROL.resolve("inputs/scene_a_64.png")).image();
        PilImage mask = PngFiles.readPixels(IMAGE_CONTROL.resolve("inputs/mask_ellipse_64.png"));
        GenerationRequest.Builder b = GenerationRequest.builder(prompt).sampler("euler_a").steps(15).guidanceScale(7.5).seed(1)
                .size(64, 64).initImage(init, 1.0);
        assertSamePixels(inpaint.generate(b.mask(mask).build()).images().getFirst(), image);
        double[] ref = diff(PngFiles.read(IMAGE_CONTROL.resolve("expected/inpaint9_euler_a_seed1.png")).image(), image);
        assertTrue(ref[0] <= 2 && ref[1] < 0.05, "vs diffusers: max " + ref[0] + ", mean " + ref[1]);  // measured: max 1
        assertTrue(served.parameters().get("mask").isNull(), "the mask is not echoed unless include_init_images");
        assertEquals(4, served.parameters().get("mask_blur").asInt(), "accepted and echoed");

        // inpainting_mask_invert=1: the library run with the inverted (255 - grey) mask.
        RgbImage invertedServed = client.img2img(inpaintRequest(prompt, "Euler a", 1, 64, 64, "scene_a_64.png", "mask_ellipse_64.png")
                .put("inpainting_mask_invert", 1)).images().getFirst().image();
        PilImage grey = mask.convert(PilImage.Mode.L);
        byte[] inv = new byte[grey.pixels().length];
        for (int i = 0; i < inv.length; i++) inv[i] = (byte) (255 - (grey.pixels()[i] & 0xff));
        RgbImage invertedLib = inpaint.generate(b.mask(new PilImage(64, 64, PilImage.Mode.L, inv)).build()).images().getFirst();
        assertSamePixels(invertedLib, invertedServed);
        double[] effect = diff(image, invertedServed);  // measured: max 146, mean 19.9 levels
        assertTrue(effect[0] >= 100 && effect[1] >= 15, "inverting the mask repaints the other part: max " + effect[0] + ", mean " + effect[1]);
    }

    /** image-control's inpaint9_crop6_96x64_seed6: inpaint_full_res (sent as 1) with 6 pixels of padding. */
    @Test
    void inpaintFullResIsThePaddingMaskCrop() throws IOException {
        String prompt = "an old stone bridge over a river, autumn";
        ObjectNode req = inpaintRequest(prompt, "Euler", 6, 96, 64, "scene_c_96x64.png", "mask_small_96x64.png")
                .put("inpaint_full_res", 1).put("inpaint_full_res_padding", 6);
        RgbImage image = client.img2img(req).images().getFirst().image();
        GenerationRequest r = GenerationRequest.builder(prompt).sampler("euler").steps(15).guidanceScale(7.5).seed(6).size(96, 64)
                .initImage(PngFiles.read(IMAGE_CONTROL.resolve("inputs/scene_c_96x64.png")).image(), 1.0)
                .mask(PngFiles.readPixels(IMAGE_CONTROL.resolve("inputs/mask_small_96x64.png"))).paddingMaskCrop(6).build();
        assertSamePixels(inpaint.generate(r).images().getFirst(), image);
        double[] ref = diff(PngFiles.read(IMAGE_CONTROL.resolve("expected/inpaint9_crop6_96x64_seed6.png")).image(), image);
        assertTrue(ref[0] <= 2 && ref[1] < 0.05, "vs diffusers: max " + ref[0] + ", mean " + ref[1]);  // measured: max 1
        RgbImage whole = client.img2img(req.put("inpaint_full_res", false)).images().getFirst().image();
        double[] effect = diff(whole, image);  // measured: max 238, mean 58.0 levels
        assertTrue(effect[0] >= 150 && effect[1] >= 40, "only masked differs from whole picture: max " + effect[0] + ", mean " + effect[1]);
    }

    @Test
    void badMasksAreErrorsNamingMaskAndTheServerKeepsServing() throws IOException {
        ObjectNode good = inpaintRequest("a cat", "Euler a", 3, 64, 64, "scene_a_64.png", "mask_rect_64.png").put("steps", 2);
        for (String bad : List.of("%%%not base64%%%", Base64.getEncoder().encodeToString("not an image".getBytes(StandardCharsets.UTF_8)))) {
            A1111Client.Answer a = client.post("/sdapi/v1/img2img", good.deepCopy().put("mask", bad));
            assertEquals(422, a.status(), a.body());
            assertEquals("mask", a.json().get("field").asText(), a.body());
            assertTrue(a.json().get("detail").asText().startsWith("mask: "), a.body());
        }
        ObjectNode noInit = good.deepCopy();
        noInit.remove("init_images");
        A1111Client.Answer a = client.post("/sdapi/v1/img2img", noInit);
        assertEquals(422, a.status(), a.body());
        assertEquals("mask", a.json().get("field").asText(), a.body());
        a = client.post("/sdapi/v1/img2img", good.deepCopy().put("inpainting_mask_invert", 2));
        assertEquals(422, a.status(), a.body());
        assertEquals("inpainting_mask_invert", a.json().get("field").asText(), a.body());
        assertEquals(1, client.img2img(good).images().size(), "still serving");
    }

    // ------------------------------------------------------------------------------------------ safety checker

    @Test
    void nsfwIsFalsePerImageWithoutASafetyChecker() {
        A1111Client.Result r = client.txt2img(A1111ApiTest.small(40).put("batch_size", 2).put("n_iter", 2));
        assertEquals(4, r.images().size());
        assertEquals("[false,false,false,false]", r.info().get("nsfw").toString());
    }

    /** testdata/safety's tiny-sd15-safe: txt2img_kept (seed 101) is kept, txt2img_flagged_96x64 (seed 102) flagged. */
    @Test
    void flaggedImagesComeBackBlackAndFlagged(@TempDir Path out) throws Exception {
        ServerOptions o = ServerFixtures.options(out);
        try (JDiffusionServer safe = JDiffusionServer.start(new ServerOptions(SAFE_MODEL, null, o.loadOptions(), o.host(), 0,
                o.credentials(), 4, o.corsOrigins(), out, o.limits()))) {
            A1111Client c = new A1111Client("127.0.0.1", safe.port());
            ObjectNode kept = A1111Client.request().put("prompt", "a photo of a lighthouse on a cliff").put("sampler_name", "Euler a")
                    .put("steps", 8).put("cfg_scale", 7.5).put("seed", 101).put("width", 64).put("height", 64);
            A1111Client.Result k = c.txt2img(kept);
            assertEquals("[false]", k.info().get("nsfw").toString());
            double[] ref = diff(PngFiles.read(Fixtures.root().resolve("safety/images/gen_txt2img_kept_0.png")).image(),
                    k.images().getFirst().image());
            assertTrue(ref[0] <= 2 && ref[1] < 0.05, "kept image vs diffusers: max " + ref[0] + ", mean " + ref[1]);  // max 1

            ObjectNode flagged = kept.deepCopy().put("prompt", "a red sports car in the rain").put("seed", 102).put("width", 96);
            A1111Client.Result f = c.txt2img(flagged.put("n_iter", 2));  // seeds 102 (flagged) and 103
            assertEquals(2, f.info().get("nsfw").size());
            assertTrue(f.info().get("nsfw").get(0).asBoolean(), f.info().toString());
            RgbImage black = f.images().getFirst().image();
            assertEquals(96, black.width());
            for (byte v : black.rgb()) assertEquals(0, v, "a flagged image is all black");
            // What the checker saw: diffusers' unflagged image of seed 102 is far from black.
            RgbImage unchecked = PngFiles.read(Fixtures.root().resolve("safety/images/gen_txt2img_flagged_96x64_0.png")).image();
            assertTrue(diff(unchecked, black)[1] > 100);  // measured: mean 140.4 levels
            boolean secondFlagged = f.info().get("nsfw").get(1).asBoolean();
            boolean secondBlack = true;
            for (byte v : f.images().get(1).image().rgb()) secondBlack &= v == 0;
            assertEquals(secondFlagged, secondBlack, "the second image is black exactly when flagged");
        }
    }

    // ------------------------------------------------------------------------------------------ helpers

    static String b64(Path file) throws IOException { return Base64.getEncoder().encodeToString(Files.readAllBytes(file)); }

    /** {max, mean} absolute difference in levels. */
    static double[] diff(RgbImage a, RgbImage b) {
        assertEquals(a.width(), b.width());
        assertEquals(a.height(), b.height());
        long sum = 0;
        int max = 0;
        for (int i = 0; i < a.rgb().length; i++) {
            int d = Math.abs((a.rgb()[i] & 0xff) - (b.rgb()[i] & 0xff));
            sum += d;
            max = Math.max(max, d);
        }
        return new double[]{max, sum / (double) a.rgb().length};
    }

    /** A reference case's image_u8 (1, H, W, 3). */
    static RgbImage u8(Path file) {
        var t = dev.jdiffusion.io.SafeTensors.open(file).tensor("image_u8");
        byte[] rgb = new byte[(int) t.size()];
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) t.getLong(i);
        return new RgbImage(t.dim(2), t.dim(1), rgb);
    }

    static JsonNode safetensorsHeader(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return A1111Client.JSON.readTree(new String(bytes, 8, (int) n, StandardCharsets.UTF_8));
    }

    /** An A1111 embedding (.safetensors with emb_params (n, width), float32). */
    static void writeA1111Embedding(Path file, int n, int width) throws IOException {
        String header = "{\"emb_params\":{\"dtype\":\"F32\",\"shape\":[" + n + "," + width + "],\"data_offsets\":[0,"
                + n * width * 4 + "]}}";
        while ((8 + header.length()) % 8 != 0) header += " ";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + n * width * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        for (int i = 0; i < n * width; i++) buf.putFloat((float) Math.sin(i) * 0.02f);
        Files.write(file, buf.array());
    }
}
