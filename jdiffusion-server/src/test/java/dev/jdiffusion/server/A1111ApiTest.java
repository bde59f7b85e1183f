package dev.jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

import static dev.jdiffusion.server.ServerFixtures.assertMatchesReference;
import static dev.jdiffusion.server.ServerFixtures.assertSamePixels;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The A1111 API as a client sees it, over HTTP on loopback with an A1111 client written from A1111's schema:
 * images equal diffusers' references and the library's own images for the same request, batch seeds, progress,
 * interrupt/skip, png-info, listings, model switching, errors naming the field, output confinement.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class A1111ApiTest {
    @TempDir static Path outputs;
    JDiffusionServer server;
    A1111Client client;
    StableDiffusionPipeline direct;

    @BeforeAll
    void start() throws Exception {
        server = JDiffusionServer.start(ServerFixtures.options(outputs));
        client = new A1111Client("127.0.0.1", server.port());
        direct = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));
    }

    @AfterAll
    void stop() {
        if (server != null) server.close();
    }

    static ObjectNode small(long seed) {
        return A1111Client.request().put("prompt", "a red cube on a table").put("sampler_name", "Euler a")
                .put("steps", 3).put("cfg_scale", 7).put("width", 32).put("height", 32).put("seed", seed);
    }

    /** The library's image for the same request: what `jdiffusion generate` writes. */
    GenerationResult generateDirectly(StableDiffusionPipeline pipeline, String prompt, String sampler, int steps, long seed, int size) {
        return pipeline.generate(GenerationRequest.builder(prompt).sampler(sampler).steps(steps).guidanceScale(7)
                .seed(seed).size(size, size).build());
    }

    @Test
    void txt2imgEqualsDiffusersAndTheLibrary() {
        ObjectNode req = A1111Client.request().put("prompt", "A Photo Of An Astronaut, Riding a HORSE!!")
                .put("negative_prompt", "blurry, low quality, watermark").put("sampler_name", "DDIM").put("steps", 20)
                .put("cfg_scale", 7.5).put("seed", 1).put("width", 64).put("height", 64);
        A1111Client.Result r = client.txt2img(req);
        assertEquals(1, r.images().size());
        RgbImage image = r.images().getFirst().image();
        assertMatchesReference(image, "pipeline/ddim_neg_seed1.safetensors", 0);
        GenerationResult lib = direct.generate(GenerationRequest.builder("A Photo Of An Astronaut, Riding a HORSE!!")
                .negativePrompt("blurry, low quality, watermark").sampler("ddim").steps(20).guidanceScale(7.5).seed(1)
                .size(64, 64).build());
        assertSamePixels(lib.images().getFirst(), image);
        assertEquals(lib.parameters().getFirst(), r.images().getFirst().text().get("parameters"), "PNG parameters chunk");
        JsonNode info = r.info();
        assertEquals(1, info.get("seed").asLong());
        assertEquals("[1]", info.get("all_seeds").toString());
        assertEquals("DDIM", info.get("sampler_name").asText());
        assertEquals(20, info.get("steps").asInt());
        assertEquals(7.5, info.get("cfg_scale").asDouble());
        assertEquals(64, info.get("width").asInt());
        assertEquals("A Photo Of An Astronaut, Riding a HORSE!!", info.get("all_prompts").get(0).asText());
        assertEquals(lib.parameters().getFirst(), info.get("infotexts").get(0).asText());
        assertEquals("tiny-sd15", info.get("sd_model_name").asText());
        assertEquals("DDIM", r.parameters().get("sampler_name").asText(), "parameters echo the request");
        assertEquals(-1, r.parameters().get("subseed").asInt(), "A1111's defaults filled in");
    }

    @Test
    void dpmpp2mWithKarrasScheduleEqualsDiffusers() {
        ObjectNode req = A1111Client.request().put("prompt", "a cat 🐱 with a hat 🎩 and 👍🏽").put("sampler_name", "DPM++ 2M")
                .put("scheduler", "karras").put("steps", 15).put("cfg_scale", 5).put("seed", 7).put("width", 96).put("height", 64);
        A1111Client.Result r = client.txt2img(req);
        assertMatchesReference(r.images().getFirst().image(), "pipeline/dpmpp_2m_karras_96x64_seed7.safetensors", 0);
        assertTrue(r.info().get("infotexts").get(0).asText().contains("Sampler: DPM++ 2M, Schedule type: Karras"));
    }

    @Test
    void img2imgEqualsDiffusers() {
        String ref = "pipeline/img2img_euler_a_s0.6_seed3.safetensors";
        RgbImage init = ServerFixtures.initImage(ref);
        ObjectNode req = A1111Client.request().put("prompt", "a photo of an astronaut riding a horse on the moon")
                .put("sampler_name", "Euler a").put("steps", 20).put("cfg_scale", 7.5).put("seed", 3)
                .put("denoising_strength", 0.6).put("width", init.width()).put("height", init.height());
        req.putArray("init_images").add(Base64.getEncoder().encodeToString(PngFiles.encode(init, Map.of())));
        A1111Client.Result r = client.img2img(req);
        assertMatchesReference(r.images().getFirst().image(), ref, 0);
        assertEquals(0.6, r.info().get("denoising_strength").asDouble());
        assertTrue(r.parameters().get("init_images").isNull(), "init images are not echoed unless include_init_images");
    }

    @Test
    void img2imgEqualsTheLibraryForADataUriImage() {
        RgbImage init = ServerFixtures.initImage("pipeline/img2img_euler_a_s0.6_seed3.safetensors").resized(32, 32);
        ObjectNode req = small(21).put("denoising_strength", 0.5).put("sampler_name", "Euler");
        req.putArray("init_images").add("data:image/png;base64," + Base64.getEncoder().encodeToString(PngFiles.encode(init, Map.of())));
        RgbImage served = client.img2img(req).images().getFirst().image();
        GenerationResult lib = direct.generate(GenerationRequest.builder("a red cube on a table").sampler("euler").steps(3)
                .guidanceScale(7).seed(21).size(32, 32).initImage(init, 0.5).build());
        assertSamePixels(lib.images().getFirst(), served);
    }

    @Test
    void batchImageIUsesSeedPlusIAndEqualsThatSingleRequest() {
        A1111Client.Result batch = client.txt2img(small(100).put("batch_size", 2).put("n_iter", 2));
        assertEquals(4, batch.images().size());
        assertEquals("[100,101,102,103]", batch.info().get("all_seeds").toString());
        for (int i : new int[]{0, 3}) {
            RgbImage single = client.txt2img(small(100 + i)).images().getFirst().image();
            assertSamePixels(single, batch.images().get(i).image());
            assertTrue(batch.info().get("infotexts").get(i).asText().contains("Seed: " + (100 + i)));
        }
        assertSamePixels(generateDirectly(direct, "a red cube on a table", "euler_a", 3, 103, 32).images().getFirst(),
                batch.images().get(3).image());
        assertFalse(java.util.Arrays.equals(batch.images().get(0).image().rgb(), batch.images().get(1).image().rgb()));
    }

    @Test
    void progressMovesWithPreviewsAndSkipThenInterruptStopTheJob() throws Exception {
        ObjectNode req = small(5).put("steps", 400).put("batch_size", 3).put("sampler_name", "Euler");
        CompletableFuture<A1111Client.Result> running = CompletableFuture.supplyAsync(() -> client.txt2img(req));
        JsonNode p = waitFor(() -> client.progress(false), q -> q.get("state").get("sampling_step").asInt() >= 2);
        assertEquals(3, p.get("state").get("job_count").asInt());
        assertEquals(400, p.get("state").get("sampling_steps").asInt());
        assertTrue(p.get("progress").asDouble() > 0.01 && p.get("progress").asDouble() < 0.4, p.toString());
        assertTrue(p.get("current_task").asText().startsWith("task("));
        RgbImage preview = PngFiles.decode(Base64.getDecoder().decode(p.get("current_image").asText()), 1 << 20).image();
        assertEquals(16, preview.width(), "cheap previews are at latent size (32 / 2 for the tiny VAE)");
        int step = p.get("state").get("sampling_step").asInt();
        JsonNode later = waitFor(() -> client.progress(true), q -> q.get("state").get("sampling_step").asInt() > step);
        assertTrue(later.get("progress").asDouble() >= p.get("progress").asDouble(), "progress moves forward");
        assertTrue(later.get("current_image").isNull(), "skip_current_image");

        A1111Client.ok(client.post("/sdapi/v1/skip", A1111Client.request()));
        waitFor(() -> client.progress(true), q -> q.get("state").get("job_no").asInt() == 1 && q.get("state").get("sampling_step").asInt() >= 1);
        A1111Client.ok(client.post("/sdapi/v1/interrupt", A1111Client.request()));
        A1111Client.Result r = running.get(120, java.util.concurrent.TimeUnit.SECONDS);
        assertEquals(2, r.images().size(), "the skipped image and the interrupted one; the third never started");
        assertEquals(0.0, client.progress(true).get("progress").asDouble(), "idle again");
        // The server goes on serving, unaffected: the next request is the same as ever.
        assertSamePixels(generateDirectly(direct, "a red cube on a table", "euler_a", 3, 6, 32).images().getFirst(),
                client.txt2img(small(6)).images().getFirst().image());
    }

    @Test
    void pngInfoReadsTheParametersBack() throws Exception {
        A1111Client.Result r = client.txt2img(small(42).put("negative_prompt", "blurry, dark"));
        byte[] png = PngFiles.encode(r.images().getFirst().image(), r.images().getFirst().text());
        JsonNode info = client.pngInfo(png);
        String infotext = r.info().get("infotexts").get(0).asText();
        assertEquals(infotext, info.get("info").asText());
        JsonNode p = info.get("parameters");
        assertEquals("a red cube on a table", p.get("Prompt").asText());
        assertEquals("blurry, dark", p.get("Negative prompt").asText());
        assertEquals("3", p.get("Steps").asText());
        assertEquals("Euler a", p.get("Sampler").asText());
        assertEquals("42", p.get("Seed").asText());
        assertEquals("32", p.get("Size-1").asText());
        assertEquals("1", p.get("Clip skip").asText());
        // The infotext field of a request fills what the request leaves unset: the same image again.
        ObjectNode again = A1111Client.request().put("infotext", infotext);
        assertSamePixels(r.images().getFirst().image(), client.txt2img(again).images().getFirst().image());
        assertEquals("", client.pngInfo(PngFiles.encode(r.images().getFirst().image(), Map.of())).get("info").asText());
    }

    @Test
    void listingsAnswerAsA1111() {
        JsonNode models = client.get("/sdapi/v1/sd-models").json();
        List<String> titles = new ArrayList<>();
        models.forEach(m -> titles.add(m.get("title").asText()));
        assertEquals("tiny-sd15", titles.getFirst());
        assertTrue(titles.containsAll(List.of("tiny-sd2", "single-file/tiny-sd15.safetensors", "single-file/tiny-sd15.ckpt")), titles.toString());
        assertTrue(models.get(0).has("model_name") && models.get(0).has("hash") && models.get(0).has("filename"));
        List<String> samplers = new ArrayList<>();
        client.get("/sdapi/v1/samplers").json().forEach(s -> samplers.add(s.get("name").asText()));
        assertTrue(samplers.containsAll(List.of("Euler a", "Euler", "LMS", "Heun", "DPM++ 2M", "DDIM", "PLMS", "UniPC")), samplers.toString());
        JsonNode schedulers = client.get("/sdapi/v1/schedulers").json();
        assertEquals("automatic", schedulers.get(0).get("name").asText());
        assertEquals("Karras", schedulers.get(2).get("label").asText());
        assertEquals(7.0, schedulers.get(2).get("default_rho").asDouble());
        JsonNode options = client.get("/sdapi/v1/options").json();
        assertEquals("tiny-sd15", options.get("sd_model_checkpoint").asText());
        assertEquals(1, options.get("CLIP_stop_at_last_layers").asInt());
        assertEquals("[]", client.get("/sdapi/v1/loras").json().toString());
        assertEquals("{\"loaded\":{},\"skipped\":{}}", client.get("/sdapi/v1/embeddings").json().toString());
        assertEquals("[]", client.get("/sdapi/v1/sd-vae").json().toString());
        assertEquals("{\"txt2img\":[],\"img2img\":[]}", client.get("/sdapi/v1/scripts").json().toString());
        JsonNode memory = client.get("/sdapi/v1/memory").json();
        long used = memory.get("ram").get("used").asLong(), total = memory.get("ram").get("total").asLong();
        assertTrue(used > 10 << 20 && used < total, memory.toString());
        assertEquals(total, used + memory.get("ram").get("free").asLong());
        assertEquals("unavailable", memory.get("cuda").get("error").asText());
        assertEquals("{}", client.get("/internal/ping").json().toString());
        assertEquals(200, client.post("/sdapi/v1/refresh-checkpoints", A1111Client.request()).status());
    }

    @Test
    void modelsSwitchByOptionsOrForOneRequest() {
        StableDiffusionPipeline sd2 = StableDiffusionPipeline.load(Fixtures.model("tiny-sd2"));
        RgbImage expected = generateDirectly(sd2, "a red cube on a table", "euler_a", 3, 9, 32).images().getFirst();
        ObjectNode once = small(9);
        once.putObject("override_settings").put("sd_model_checkpoint", "tiny-sd2");
        A1111Client.Result r = client.txt2img(once);
        assertSamePixels(expected, r.images().getFirst().image());
        assertEquals("tiny-sd2", r.info().get("sd_model_name").asText());
        assertEquals("tiny-sd15", client.get("/sdapi/v1/options").json().get("sd_model_checkpoint").asText(), "restored afterwards");
        try {
            A1111Client.ok(client.post("/sdapi/v1/options", A1111Client.request().put("sd_model_checkpoint", "tiny-sd2")));
            assertEquals("tiny-sd2", client.get("/sdapi/v1/options").json().get("sd_model_checkpoint").asText());
            assertSamePixels(expected, client.txt2img(small(9)).images().getFirst().image());
        } finally {
            A1111Client.ok(client.post("/sdapi/v1/options", A1111Client.request().put("sd_model_checkpoint", "tiny-sd15")));
        }
        A1111Client.Answer missing = client.post("/sdapi/v1/options", A1111Client.request().put("sd_model_checkpoint", "nope"));
        assertEquals(404, missing.status());
        assertEquals("sd_model_checkpoint", missing.json().get("field").asText());
    }

    /** Bad requests: 4xx JSON naming the field, and the server keeps serving. */
    @Test
    void badRequestsAreRefusedNamingTheField() {
        record Bad(String path, String body, int status, String field) {}
        String tooBig = "{\"prompt\":\"" + "x".repeat(Limits.DEFAULTS.maxBodyBytes()) + "\"}";
        for (Bad b : List.of(
                new Bad("/sdapi/v1/txt2img", "{\"prompt\": \"a\", ", 400, null),
                new Bad("/sdapi/v1/txt2img", "[1, 2]", 422, null),
                new Bad("/sdapi/v1/txt2img", "{\"width\": 100}", 422, "width"),
                new Bad("/sdapi/v1/txt2img", "{\"height\": 8192}", 422, "height"),
                new Bad("/sdapi/v1/txt2img", "{\"sampler_name\": \"Euler z\"}", 400, "sampler_name"),
                new Bad("/sdapi/v1/txt2img", "{\"sampler_name\": \"Euler a\", \"scheduler\": \"karras\"}", 400, "scheduler"),
                new Bad("/sdapi/v1/txt2img", "{\"steps\": -3}", 422, "steps"),
                new Bad("/sdapi/v1/txt2img", "{\"steps\": \"many\"}", 422, "steps"),
                new Bad("/sdapi/v1/txt2img", "{\"cfg_scale\": \"high\"}", 422, "cfg_scale"),
                new Bad("/sdapi/v1/txt2img", "{\"batch_size\": 100, \"n_iter\": 100}", 422, "batch_size"),
                new Bad("/sdapi/v1/txt2img", "{\"enable_hr\": true}", 422, "enable_hr"),
                new Bad("/sdapi/v1/txt2img", "{\"script_name\": \"x/y/z plot\"}", 422, "script_name"),
                new Bad("/sdapi/v1/txt2img", "{\"override_settings\": {\"sd_model_checkpoint\": \"../../etc/passwd\"}}", 404, "override_settings.sd_model_checkpoint"),
                new Bad("/sdapi/v1/img2img", "{\"init_images\": [\"%%%not base64%%%\"]}", 422, "init_images[0]"),
                new Bad("/sdapi/v1/img2img", "{\"init_images\": [\"aGVsbG8gd29ybGQ=\"]}", 422, "init_images[0]"),
                new Bad("/sdapi/v1/img2img", "{\"init_images\": [\"http://127.0.0.1/x.png\"]}", 422, "init_images[0]"),
                new Bad("/sdapi/v1/img2img", "{\"prompt\": \"no image\"}", 422, "init_images"),
                new Bad("/sdapi/v1/png-info", "{\"image\": 5}", 422, "image"),
                new Bad("/sdapi/v1/options", "{\"CLIP_stop_at_last_layers\": 0}", 422, "CLIP_stop_at_last_layers"),
                new Bad("/sdapi/v1/txt2img", tooBig, 413, null),
                new Bad("/sdapi/v1/nothing", "{}", 404, null))) {
            A1111Client.Answer a = client.send("POST", b.path(), b.body());
            String what = b.path() + " " + b.body().substring(0, Math.min(80, b.body().length()));
            assertEquals(b.status(), a.status(), what + " → " + a.body());
            JsonNode json = a.json();
            assertTrue(json.get("detail").asText().length() > 5, a.body());
            if (b.field() != null) assertEquals(b.field(), json.get("field").asText(), what);
        }
        assertEquals(405, client.get("/sdapi/v1/txt2img").status());
        assertEquals(1, client.txt2img(small(1)).images().size(), "still serving");
    }

    /** save_images writes only under the output folder, with server-made names; clients never name files. */
    @Test
    void savedImagesStayInTheOutputFolder() throws Exception {
        A1111Client.Result r = client.txt2img(small(77).put("save_images", true).put("prompt", "../../../../tmp/evil, /etc/passwd"));
        List<Path> files;
        try (Stream<Path> s = Files.walk(outputs)) {
            files = s.filter(Files::isRegularFile).toList();
        }
        assertEquals(1, files.size(), files.toString());
        Path f = files.getFirst();
        assertTrue(f.startsWith(outputs.resolve("txt2img-images")), f.toString());
        assertTrue(f.getFileName().toString().matches("\\d{5}-77\\.png"), f.toString());
        PngFiles.Read saved = PngFiles.read(f);
        assertSamePixels(r.images().getFirst().image(), saved.image());
        assertEquals(r.info().get("infotexts").get(0).asText(), saved.text().get("parameters"));
        assertTrue(client.txt2img(small(78).put("send_images", false)).images().isEmpty(), "send_images false");
    }

    static <T> T waitFor(java.util.function.Supplier<T> poll, java.util.function.Predicate<T> done) throws InterruptedException {
        long deadline = System.nanoTime() + 120_000_000_000L;
        T last = null;
        while (System.nanoTime() < deadline) {
            last = poll.get();
            if (done.test(last)) return last;
            Thread.sleep(20);
        }
        throw new AssertionError("timed out; last: " + last);
    }
}
