package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/** The library's entry points as a Java developer uses them: fromPretrained, generate(String), threads, close. */
class LibraryApiTest {
    static final String MODEL = Fixtures.model("tiny-sd15").toString();
    static final String PROMPT = "a photo of an astronaut riding a horse on the moon";

    /** What the CLI's code path computes for a request: the model loaded by the existing factory. */
    static final StableDiffusionPipeline REFERENCE = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));

    @Test
    void fromPretrainedAndGenerateWithDefaultsGiveTheCliImageForTheRecordedSeed(@TempDir Path dir) throws Exception {
        try (var pipe = StableDiffusionPipeline.fromPretrained(MODEL)) {
            GenerationResult result = pipe.generate(PROMPT);
            GenerationRequest used = result.request();
            // diffusers' defaults as the builder documents them; the model's own scheduler (PNDM) and size.
            assertEquals(20, used.steps());
            assertEquals(7.5, used.guidanceScale());
            assertEquals("pndm", used.sampler());
            int size = REFERENCE.model().defaultImageSize();
            assertEquals(size, used.width());
            assertEquals(size, used.height());
            GenerationResult expected = REFERENCE.generate(GenerationRequest.builder(PROMPT).seed(used.seed()).build());
            assertArrayEquals(expected.images().getFirst().rgb(), result.images().getFirst().rgb(),
                    "same seed, same image as the pipeline the CLI uses");
            assertEquals(expected.parameters().getFirst(), result.parameters().getFirst());
            assertTrue(result.image(0).parameters().contains("Seed: " + used.seed()), result.image(0).parameters());

            Path png = dir.resolve("sub/astronaut.png");
            result.image(0).save(png);
            PngFiles.Read back = PngFiles.read(png);
            assertArrayEquals(result.images().getFirst().rgb(), back.image().rgb(), "PNG is lossless");
            assertEquals(result.parameters().getFirst(), back.text().get("parameters"), "PNG carries its parameters");
            try (var files = Files.list(png.getParent())) {
                assertEquals(List.of(png), files.toList(), "no temporary file left beside it");
            }
        }
    }

    @Test
    void fromPretrainedNamesWhatIsWrong() {
        ModelFormatException missing = assertThrows(ModelFormatException.class,
                () -> StableDiffusionPipeline.fromPretrained("/no/such/model-folder"));
        assertTrue(missing.getMessage().contains("/no/such/model-folder"), missing.getMessage());
        ModelFormatException notCached = assertThrows(ModelFormatException.class,
                () -> StableDiffusionPipeline.fromPretrained("nobody-jdiffusion-test/not-a-model"));
        assertTrue(notCached.getMessage().contains("nobody-jdiffusion-test/not-a-model"), notCached.getMessage());
    }

    @Test
    void loadOptionsChangeWhatIsLoaded() {
        // An SD 1.x folder's scheduler set to v-prediction changes the image (as --prediction-type does).
        GenerationRequest r = GenerationRequest.builder(PROMPT).steps(3).seed(4).sampler("euler").build();
        try (var vpred = StableDiffusionPipeline.fromPretrained(MODEL, LoadOptions.DEFAULTS.withPredictionType(
                dev.jdiffusion.io.checkpoint.PredictionType.parse("v_prediction")))) {
            assertFalse(java.util.Arrays.equals(REFERENCE.generate(r).images().getFirst().rgb(),
                    vpred.generate(r).images().getFirst().rgb()));
        }
        LoadOptions o = LoadOptions.DEFAULTS.withVae(Path.of("v")).withConfigDir(Path.of("c"));
        assertEquals(new LoadOptions(Path.of("c"), null, Path.of("v")), o);
    }

    @Test
    void manyThreadsShareOnePipelineAndGetTheSerialImages() throws Exception {
        List<GenerationRequest> requests = List.of(
                GenerationRequest.builder(PROMPT).steps(4).seed(1).sampler("euler_a").build(),
                GenerationRequest.builder("a red cube").steps(4).seed(2).sampler("dpmpp_2m").build(),
                GenerationRequest.builder("a cat").negativePrompt("blurry").steps(3).seed(3).sampler("ddim").build(),
                GenerationRequest.builder(PROMPT).steps(4).seed(9).sampler("euler_a").size(32, 48).build());
        List<byte[]> serial = requests.stream().map(r -> REFERENCE.generate(r).images().getFirst().rgb()).toList();
        try (var pipe = StableDiffusionPipeline.fromPretrained(MODEL);
             ExecutorService pool = Executors.newFixedThreadPool(4)) {
            for (int round = 0; round < 2; round++) {
                CountDownLatch start = new CountDownLatch(1);
                List<Future<byte[]>> futures = requests.stream().map(r -> pool.submit(() -> {
                    start.await();
                    return pipe.generate(r).images().getFirst().rgb();
                })).toList();
                start.countDown();
                for (int i = 0; i < requests.size(); i++)
                    assertArrayEquals(serial.get(i), futures.get(i).get(60, TimeUnit.SECONDS), "request " + i + " run concurrently");
            }
        }
    }

    @Test
    void interruptingTheThreadCancelsBeforeTheNextStep() throws Exception {
        GenerationRequest r = GenerationRequest.builder(PROMPT).steps(10).seed(3).sampler("euler").build();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        AtomicReference<Integer> lastStep = new AtomicReference<>(0);
        Thread t = new Thread(() -> {
            try {
                REFERENCE.generate(r, (step, total) -> {
                    lastStep.set(step);
                    if (step == 2) Thread.currentThread().interrupt();  // as Future.cancel(true) would, mid-generation
                    return true;
                });
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.start();
        t.join(60_000);
        assertInstanceOf(GenerationCancelledException.class, thrown.get());
        assertEquals(2, lastStep.get(), "no step after the interrupt");
        assertTrue(thrown.get().getMessage().contains("2 of 10"), thrown.get().getMessage());
    }

    @Test
    void closeWaitsForRunningGenerationsThenUnmapsAndRefusesNewOnes() throws Exception {
        var pipe = StableDiffusionPipeline.fromPretrained(MODEL);
        GenerationRequest r = GenerationRequest.builder(PROMPT).steps(4).seed(5).sampler("euler").build();
        byte[] expected = REFERENCE.generate(r).images().getFirst().rgb();
        CountDownLatch inStep = new CountDownLatch(1), release = new CountDownLatch(1);
        try (ExecutorService pool = Executors.newFixedThreadPool(2)) {
            Future<byte[]> running = pool.submit(() -> pipe.generate(r, (step, total) -> {
                if (step == 1) {
                    inStep.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        return false;
                    }
                }
                return true;
            }).images().getFirst().rgb());
            assertTrue(inStep.await(60, TimeUnit.SECONDS));
            Future<?> closing = pool.submit(pipe::close);
            Thread.sleep(200);
            assertFalse(closing.isDone(), "close() waits while a generation runs");
            release.countDown();
            assertArrayEquals(expected, running.get(60, TimeUnit.SECONDS), "the running generation finishes intact");
            closing.get(60, TimeUnit.SECONDS);
        }
        assertTrue(pipe.isClosed());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> pipe.generate(r));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        // The weight files are unmapped: reading a weight now fails (FFM's check) instead of reading freed memory.
        int[] ids = pipe.model().tokenizer().encodePadded("x");
        IllegalStateException unmapped = assertThrows(IllegalStateException.class,
                () -> pipe.model().textEncoder().forward(new int[][]{ids}));
        assertTrue(unmapped.getMessage().contains("closed"), unmapped.getMessage());
        // A pipeline over a model it did not load leaves the model usable after close().
        var borrowed = new StableDiffusionPipeline(REFERENCE.model());
        borrowed.close();
        assertThrows(IllegalStateException.class, () -> borrowed.generate(r));
        assertArrayEquals(expected, REFERENCE.generate(r).images().getFirst().rgb());
        pipe.close();  // twice: nothing happens
    }

    @Test
    void bufferedImagesConvertBothWays() {
        GenerationResult result = REFERENCE.generate(GenerationRequest.builder(PROMPT).steps(2).seed(7).build());
        RgbImage image = result.images().getFirst();
        BufferedImage buffered = result.image(0).toBufferedImage();
        assertEquals(BufferedImage.TYPE_INT_RGB, buffered.getType());
        assertEquals(image.width(), buffered.getWidth());
        int x = image.width() / 3, y = image.height() / 2;
        int rgb = buffered.getRGB(x, y);
        assertEquals(image.get(x, y, 0), (rgb >> 16) & 0xff);
        assertEquals(image.get(x, y, 1), (rgb >> 8) & 0xff);
        assertEquals(image.get(x, y, 2), rgb & 0xff);
        assertArrayEquals(image.rgb(), RgbImage.fromBufferedImage(buffered).rgb());
        // Other layouts (here 4-byte ABGR with opaque alpha, as ImageIO reads many PNGs) convert to the same pixels.
        BufferedImage abgr = new BufferedImage(image.width(), image.height(), BufferedImage.TYPE_4BYTE_ABGR);
        abgr.getGraphics().drawImage(buffered, 0, 0, null);
        assertArrayEquals(image.rgb(), RgbImage.fromBufferedImage(abgr).rgb());
        // An init image from a BufferedImage: img2img from it equals img2img from the same RgbImage.
        GenerationRequest img2img = GenerationRequest.builder("a cat").steps(4).seed(2).sampler("euler")
                .initImage(RgbImage.fromBufferedImage(abgr), 0.6).build();
        assertArrayEquals(REFERENCE.generate(img2img.toBuilder().initImage(image, 0.6).build()).images().getFirst().rgb(),
                REFERENCE.generate(img2img).images().getFirst().rgb());
    }
}
