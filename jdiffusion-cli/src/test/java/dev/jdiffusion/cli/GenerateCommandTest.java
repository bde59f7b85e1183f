package dev.jdiffusion.cli;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.checkpoint.PredictionType;
import dev.jdiffusion.io.ckpt.Pickle;
import dev.jdiffusion.io.ckpt.TestZip;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** `jdiffusion generate` end to end: arguments in, PNG files out, read back and compared with diffusers. */
class GenerateCommandTest {
    @TempDir Path dir;
    final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    /** Asserts the PNG's pixels are those of diffusers' image_u8 (entry {@code index}) within the pipeline tolerance. */
    static void assertPixelsMatch(Path png, SafeTensors ref, int index) throws IOException {
        PngFiles.Read read = PngFiles.read(png);
        WeightTensor expected = ref.tensor("image_u8");
        int h = expected.dim(1), w = expected.dim(2);
        assertEquals(w, read.image().width());
        assertEquals(h, read.image().height());
        long sum = 0;
        int worst = 0;
        for (int i = 0; i < h * w * 3; i++) {
            int d = Math.abs((read.image().rgb()[i] & 0xff) - (int) expected.getLong((long) index * h * w * 3 + i));
            sum += d;
            worst = Math.max(worst, d);
        }
        assertTrue(worst <= 2, "max difference " + worst + " levels");
        assertTrue(sum / (double) (h * w * 3) < 0.05, "mean difference " + sum / (double) (h * w * 3));
    }

    @Test
    void writesTheReferenceImageWithItsParameters() throws IOException {
        Path png = dir.resolve("astronaut.png");
        int code = run("generate", "--model", Fixtures.model("tiny-sd15").toString(),
                "--prompt", "A Photo Of An Astronaut, Riding a HORSE!!", "--negative-prompt", "blurry, low quality, watermark",
                "--sampler", "ddim", "--steps", "20", "--guidance", "7.5", "--seed", "1", "--output", png.toString());
        assertEquals(0, code, err.toString());
        assertTrue(out.toString().contains(png.toString()));
        assertPixelsMatch(png, Fixtures.expected("tiny-sd15", "pipeline/ddim_neg_seed1.safetensors"), 0);
        assertEquals("""
                A Photo Of An Astronaut, Riding a HORSE!!
                Negative prompt: blurry, low quality, watermark
                Steps: 20, Sampler: DDIM, Schedule type: Automatic, CFG scale: 7.5, Seed: 1, Size: 64x64, Model: tiny-sd15, Version: jdiffusion""",
                PngFiles.read(png).text().get("parameters"));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary files left behind");
        }
    }

    @Test
    void batchWritesNumberedFilesAndRandomSeedIsReported() throws IOException {
        Path png = dir.resolve("b.png");
        int code = run("generate", "--model", Fixtures.model("tiny-sd2").toString(),
                "--prompt", "a photo of an astronaut riding a horse on the moon", "--sampler", "euler_a", "--steps", "12",
                "--seed", "11", "--batch", "2", "--output", png.toString(), "--quiet");
        assertEquals(0, code, err.toString());
        SafeTensors ref = Fixtures.expected("tiny-sd2", "pipeline/batch2_euler_a_seed11.safetensors");
        assertPixelsMatch(png, ref, 0);
        assertPixelsMatch(dir.resolve("b-1.png"), ref, 1);
        assertTrue(PngFiles.read(dir.resolve("b-1.png")).text().get("parameters").contains("Batch size: 2, Batch pos: 1"));

        Path r = dir.resolve("r.png");
        assertEquals(0, run("generate", "--model", Fixtures.model("tiny-sd2").toString(), "--prompt", "x", "--steps", "1",
                "--output", r.toString()), err.toString());
        var m = java.util.regex.Pattern.compile("seed: (\\d+)").matcher(err.toString());
        assertTrue(m.find(), err.toString());
        assertTrue(PngFiles.read(r).text().get("parameters").contains("Seed: " + m.group(1) + ","));
    }

    @Test
    void imageToImage() throws IOException {
        SafeTensors ref = Fixtures.expected("tiny-sd15", "pipeline/img2img_euler_a_s0.6_seed3.safetensors");
        WeightTensor init = ref.tensor("init_image_u8");
        byte[] rgb = new byte[(int) init.size()];
        for (int i = 0; i < rgb.length; i++) rgb[i] = (byte) init.getLong(i);
        Path initPng = dir.resolve("init.png");
        PngFiles.write(initPng, new dev.jdiffusion.image.RgbImage(init.dim(1), init.dim(0), rgb), java.util.Map.of());
        Path png = dir.resolve("i2i.png");
        int code = run("generate", "--model", Fixtures.model("tiny-sd15").toString(),
                "--prompt", "a photo of an astronaut riding a horse on the moon", "--sampler", "euler_a", "--steps", "20",
                "--seed", "3", "--init-image", initPng.toString(), "--strength", "0.6", "--output", png.toString());
        assertEquals(0, code, err.toString());
        assertPixelsMatch(png, ref, 0);
        assertTrue(PngFiles.read(png).text().get("parameters").contains("Denoising strength: 0.6"));
    }

    // ---- loading options: --config, --prediction-type, --vae, and a hostile .ckpt ----

    /** euler_nocfg_seed0 of the fixtures: 25 Euler steps, no guidance (one UNet pass a step), seed 0. */
    private static final String NOCFG_PROMPT = "4k 8K 1080p 3.14159 2024-11-24 #1 100%";
    private static final String NOCFG_REF = "pipeline/euler_nocfg_seed0.safetensors";

    private int generateNoCfg(String model, Path png, String... more) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", model, "--prompt", NOCFG_PROMPT,
                "--sampler", "euler", "--steps", "25", "--guidance", "1.0", "--seed", "0", "--output", png.toString(), "-q"));
        args.addAll(List.of(more));
        return run(args.toArray(String[]::new));
    }

    /** The same request in process, with the options given as LoadOptions: what the CLI must have passed on. */
    private static RgbImage generateInProcess(Path model, LoadOptions options) {
        GenerationRequest request = GenerationRequest.builder(NOCFG_PROMPT).sampler("euler").steps(25).guidanceScale(1.0)
                .seed(0).build();
        return StableDiffusionPipeline.load(model, options).generate(request).images().getFirst();
    }

    /** Mean absolute difference in levels between a PNG and the reference's image_u8. */
    private static double meanLevels(Path png, SafeTensors ref) throws IOException {
        byte[] rgb = PngFiles.read(png).image().rgb();
        WeightTensor expected = ref.tensor("image_u8");
        long sum = 0;
        for (int i = 0; i < rgb.length; i++) sum += Math.abs((rgb[i] & 0xff) - expected.getLong(i));
        return (double) sum / rgb.length;
    }

    @Test
    void aSingleFileWithConfigGivesTheFoldersImage() throws IOException {
        Path single = Fixtures.root().resolve("single-file/tiny-sd15.safetensors");
        Path fromFile = dir.resolve("file.png"), fromFolder = dir.resolve("folder.png");
        assertEquals(0, generateNoCfg(single.toString(), fromFile, "--config", Fixtures.model("tiny-sd15").toString()), err.toString());
        assertEquals(0, generateNoCfg(Fixtures.model("tiny-sd15").toString(), fromFolder), err.toString());
        assertPixelsMatch(fromFile, Fixtures.expected("tiny-sd15", NOCFG_REF), 0);
        assertArrayEquals(PngFiles.read(fromFolder).image().rgb(), PngFiles.read(fromFile).image().rgb(),
                "the same weights make the same image, bit for bit");

        // Without --config the tiny model does not fit the built-in SD 1.5 configs: one line that says what to do.
        err.getBuffer().setLength(0);
        assertEquals(2, generateNoCfg(single.toString(), dir.resolve("none.png")));
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertTrue(err.toString().contains("give the diffusers config folder of this model"), err.toString());
        assertFalse(Files.exists(dir.resolve("none.png")));
    }

    @Test
    void predictionTypeVPredictionChangesTheImage() throws IOException {
        SafeTensors ref = Fixtures.expected("tiny-sd15", NOCFG_REF);
        Path eps = dir.resolve("eps.png"), v = dir.resolve("v.png");
        String model = Fixtures.model("tiny-sd15").toString();
        assertEquals(0, generateNoCfg(model, eps, "--prediction-type", "epsilon"), err.toString());
        assertEquals(0, generateNoCfg(model, v, "--prediction-type", "v_prediction"), err.toString());
        assertPixelsMatch(eps, ref, 0);   // the model's own prediction type: diffusers' image
        double mean = meanLevels(v, ref);
        assertTrue(mean > 5, "v_prediction must change the image: mean difference " + mean + " levels");
        assertArrayEquals(generateInProcess(Fixtures.model("tiny-sd15"), new LoadOptions(null, PredictionType.V_PREDICTION, null)).rgb(),
                PngFiles.read(v).image().rgb());
    }

    @Test
    void vaeFolderDecodesTheImage() throws IOException {
        SafeTensors ref = Fixtures.expected("tiny-sd15", NOCFG_REF);
        Path png = dir.resolve("vae.png"), vae = Fixtures.model("tiny-sd2").resolve("vae");
        assertEquals(0, generateNoCfg(Fixtures.model("tiny-sd15").toString(), png, "--vae", vae.toString()), err.toString());
        double mean = meanLevels(png, ref);
        assertTrue(mean > 5, "another VAE decodes the same latents differently: mean difference " + mean + " levels");
        assertArrayEquals(generateInProcess(Fixtures.model("tiny-sd15"), new LoadOptions(null, null, vae)).rgb(),
                PngFiles.read(png).image().rgb());
    }

    /** A .ckpt whose pickle calls os.system, as --model and as --vae: refused by name, never run, nothing written. */
    @Test
    void aHostileCkptIsOneLineNamingOsSystemAndNeverRuns() throws IOException {
        Path marker = dir.resolve("pwned");
        byte[] pickle = new Pickle().proto(2).global("os", "system").str("touch " + marker).tuple1().reduce().stop().bytes();
        Path evil = TestZip.write(dir.resolve("evil.ckpt"), Map.of("evil/data.pkl", pickle), false, Set.of());
        Path png = dir.resolve("out.png");
        for (String[] how : new String[][]{{"--model", evil.toString()},
                {"--model", Fixtures.model("tiny-sd15").toString(), "--vae", evil.toString()}}) {
            err.getBuffer().setLength(0);
            List<String> args = new ArrayList<>(List.of("generate", "--prompt", "x", "--steps", "1", "--seed", "0", "--output", png.toString()));
            args.addAll(List.of(how));
            assertEquals(2, run(args.toArray(String[]::new)), err.toString());
            String msg = err.toString();
            assertEquals(1, msg.lines().count(), msg);
            assertTrue(msg.startsWith("jdiffusion: " + evil + ": "), msg);
            assertTrue(msg.contains("refusing to load: the pickle calls os.system") && msg.contains("nothing was executed"), msg);
            assertFalse(Files.exists(marker), "the pickle's command ran");
            assertFalse(Files.exists(png));
        }
    }

    /** Runs generate on the tiny model (64x64, 3 steps) with the launcher's terminal flag set to {@code tty}. */
    private int generateWithTty(boolean tty, String... extra) {
        String before = System.getProperty("jdiffusion.stderr.tty");
        System.setProperty("jdiffusion.stderr.tty", Boolean.toString(tty));
        try {
            List<String> args = new java.util.ArrayList<>(List.of("generate", "--model", Fixtures.model("tiny-sd15").toString(),
                    "--prompt", "x", "--steps", "3", "--seed", "4", "--width", "64", "--height", "64",
                    "--output", dir.resolve("bar.png").toString()));
            args.addAll(List.of(extra));
            return run(args.toArray(String[]::new));
        } finally {
            if (before == null) System.clearProperty("jdiffusion.stderr.tty");
            else System.setProperty("jdiffusion.stderr.tty", before);
        }
    }

    @Test
    void progressBarOnATerminalShowsStepRateAndTimeLeft() {
        assertEquals(0, generateWithTty(true), err.toString());
        String e = err.toString();
        // redrawn in place: one \r per step, then a newline when done
        assertEquals(3, e.chars().filter(c -> c == '\r').count(), e);
        assertTrue(e.contains(" 1/3 [") && e.contains(" 2/3 ["), e);
        var last = java.util.regex.Pattern.compile(
                "\rgenerating 100% \\|█{30}\\| 3/3 \\[(\\d\\d:\\d\\d)<(\\d\\d:\\d\\d), \\d+\\.\\d\\d (it/s|s/it)]\n$").matcher(e);
        assertTrue(last.find(), "step 3/3, elapsed<left, rate: " + e);
        assertEquals("00:00", last.group(2), "nothing left when done");
    }

    @Test
    void noProgressBarWhenQuietOrNotATerminal() {
        assertEquals(0, generateWithTty(true, "--quiet"), err.toString());
        assertEquals("", err.toString(), "--quiet on a terminal");
        assertEquals(0, generateWithTty(false), err.toString());
        assertEquals("", err.toString(), "stderr not a terminal");
    }

    @Test
    void clockFormatsAsTqdmDoes() {
        assertEquals("00:00", ProgressBar.clock(0.2));
        assertEquals("01:05", ProgressBar.clock(65));
        assertEquals("1:02:05", ProgressBar.clock(3725));
    }

    /** stderr's lines, less the JVM's notice about the incubating Vector API should it be there. */
    private List<String> errLines() {
        return err.toString().lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
    }

    @Test
    void aTruncatedWeightsFileIsOneLineNamingItAndStatus2() throws IOException {
        Path model = Fixtures.copyModel("tiny-sd15", dir.resolve("model"));
        Path weights = model.resolve("unet").resolve("diffusion_pytorch_model.safetensors");
        try (var ch = java.nio.channels.FileChannel.open(weights, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 2);
        }
        Path png = dir.resolve("t.png");
        assertEquals(2, run("generate", "--model", model.toString(), "--prompt", "x", "--steps", "1", "--seed", "1",
                "--output", png.toString()));
        List<String> lines = errLines();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.getFirst().startsWith("jdiffusion: " + weights) && lines.getFirst().contains("truncated"), lines.getFirst());
        assertFalse(Files.exists(png));
    }

    @Test
    void aNonsenseConfigValueIsOneLineNamingFileAndKeyAndStatus2() throws IOException {
        Path model = Fixtures.copyModel("tiny-sd15", dir.resolve("model"));
        Path config = model.resolve("unet").resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"attention_head_dim\": 8", "\"attention_head_dim\": 0"));
        assertEquals(2, run("generate", "--model", model.toString(), "--prompt", "x", "--steps", "1", "--seed", "1",
                "--output", dir.resolve("c.png").toString()));
        List<String> lines = errLines();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.getFirst().startsWith("jdiffusion: " + config + ": 'attention_head_dim': "), lines.getFirst());

        err.getBuffer().setLength(0);
        Files.writeString(config, "{\"block_out_channels\": [32, 64],,}");
        assertEquals(2, run("generate", "--model", model.toString(), "--prompt", "x", "--steps", "1", "--seed", "2"));
        lines = errLines();
        assertEquals(1, lines.size(), err.toString());
        assertTrue(lines.getFirst().startsWith("jdiffusion: " + config + ": not valid JSON at line 1"), lines.getFirst());
    }

    @Test
    void badArgumentsGetOneLineAndStatus2() {
        String model = Fixtures.model("tiny-sd15").toString();
        assertEquals(2, run("generate", "--model", model, "--prompt", "x", "--sampler", "k_euler"));
        String msg = err.toString().strip();
        assertFalse(msg.contains("\n"), msg);
        assertTrue(msg.contains("unknown sampler 'k_euler'") && msg.contains("euler_a") && msg.contains("dpmpp_2m_karras"), msg);

        err.getBuffer().setLength(0);
        assertEquals(2, run("generate", "--model", model, "--prompt", "x", "--width", "63", "--output", dir.resolve("w.png").toString()));
        assertTrue(err.toString().contains("multiples of 2") && err.toString().contains("63x64"), err.toString());
        assertFalse(Files.exists(dir.resolve("w.png")));

        err.getBuffer().setLength(0);
        assertEquals(2, run("generate", "--model", dir.resolve("missing").toString(), "--prompt", "x"));
        assertTrue(err.toString().contains("missing") && !err.toString().contains("\tat "), err.toString());

        err.getBuffer().setLength(0);
        assertEquals(2, run("generate", "--model", model));
        assertTrue(err.toString().contains("--prompt"), err.toString());
    }
}
