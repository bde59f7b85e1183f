package dev.jdiffusion.training;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The training loop's contracts: exact resume, checkpointing, the output folder's layout, and bad input. */
public class TrainerBehaviourTest {
    @TempDir Path tmp;

    /** A small ImageFolder of coloured squares and discs, 16×16, captioned by colour and shape. */
    public static Path shapes(Path dir, int count) throws IOException {
        Files.createDirectories(dir);
        String[] names = {"red", "green", "blue", "yellow"};
        Color[] colors = {new Color(220, 30, 30), new Color(30, 180, 40), new Color(30, 60, 220), new Color(240, 210, 20)};
        java.util.Random rnd = new java.util.Random(5);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int c = rnd.nextInt(4);
            boolean disc = rnd.nextBoolean();
            BufferedImage img = new BufferedImage(16 + 4 * (i % 3), 16, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = img.createGraphics();
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, img.getWidth(), 16);
            g.setColor(colors[c]);
            int r = 3 + rnd.nextInt(4), x = r + rnd.nextInt(img.getWidth() - 2 * r), y = r + rnd.nextInt(16 - 2 * r);
            if (disc) g.fillOval(x - r, y - r, 2 * r, 2 * r);
            else g.fillRect(x - r, y - r, 2 * r, 2 * r);
            g.dispose();
            String file = String.format("%04d.png", i);
            ImageIO.write(img, "png", dir.resolve(file).toFile());
            String caption = "a " + names[c] + (disc ? " disc" : " square");
            lines.add(i % 5 == 0 ? "{\"file_name\": \"" + file + "\", \"text\": [\"" + caption + "\", \"" + names[c] + "\"]}"
                    : "{\"file_name\": \"" + file + "\", \"text\": \"" + caption + "\"}");
        }
        Files.write(dir.resolve("metadata.jsonl"), lines);
        return dir;
    }

    private TrainingOptions unetOptions(Path data, Path out, int steps) {
        TrainingOptions o = new TrainingOptions();
        o.model = Fixtures.model("tiny-sd15");
        o.trainData = data;
        o.output = out;
        o.resolution = 16;
        o.batchSize = 2;
        o.steps = steps;
        o.learningRate = 1e-3;
        o.seed = 7;
        return o;
    }

    private static Map<String, byte[]> weightFiles(Path out) throws IOException {
        Map<String, byte[]> files = new LinkedHashMap<>();
        try (Stream<Path> s = Files.walk(out)) {
            for (Path p : s.filter(p -> p.toString().endsWith(".safetensors") && !p.toString().contains("checkpoint-")).sorted().toList())
                files.put(out.relativize(p).toString(), Files.readAllBytes(p));
        }
        return files;
    }

    @Test
    void resumedRunEndsByteIdenticalToAnUninterruptedOne() throws IOException {
        Path data = shapes(tmp.resolve("data"), 12);
        TrainingOptions full = unetOptions(data, tmp.resolve("full"), 4);
        full.ema = true;
        full.gradientAccumulation = 2;
        full.randomFlip = true;
        full.captionDropout = 0.3;
        full.trainTextEncoder = true;
        new Trainer(full).run(new Trainer.Listener() {});

        TrainingOptions first = unetOptions(data, tmp.resolve("split"), 2);
        first.ema = true;
        first.gradientAccumulation = 2;
        first.randomFlip = true;
        first.captionDropout = 0.3;
        first.trainTextEncoder = true;
        first.checkpointEvery = 1;
        first.steps = 4;
        // Stop after step 2 as a killed process would: the listener throws once the checkpoint of step 2 exists.
        assertThrows(IllegalStateException.class, () -> new Trainer(first).run(new Trainer.Listener() {
            @Override public void onCheckpoint(Path dir) { if (dir.endsWith("checkpoint-2")) throw new IllegalStateException("killed"); }
        }));
        first.resume = "latest";
        first.checkpointEvery = 0;
        new Trainer(first).run(new Trainer.Listener() {});

        Map<String, byte[]> a = weightFiles(tmp.resolve("full")), b = weightFiles(tmp.resolve("split"));
        assertEquals(a.keySet(), b.keySet());
        for (String f : a.keySet()) assertArrayEquals(a.get(f), b.get(f), f + " differs after resume");
        assertEquals(Files.readAllLines(tmp.resolve("full/train_log.jsonl")), Files.readAllLines(tmp.resolve("split/train_log.jsonl")));
        assertEquals(4, Files.readAllLines(tmp.resolve("full/train_log.jsonl")).size());
    }

    @Test
    void gradientCheckpointingGivesTheSameGradients() {
        Path replay = Fixtures.root().resolve("training/unet_text_encoder_adamw_snr/replay.safetensors");
        Parameters[] trained = new Parameters[2];
        List<List<Double>> losses = new ArrayList<>();
        for (int run = 0; run < 2; run++) {
            TrainingOptions o = new TrainingOptions();
            o.model = Fixtures.model("tiny-sd15");
            o.replay = replay;
            o.output = tmp.resolve("ckpt" + run);
            o.trainTextEncoder = true;
            o.gradientCheckpointing = run == 1;
            o.optimizer = "sgd";
            o.learningRate = 1;  // the weights' change is the sum of the two steps' gradients
            o.maxGradNorm = 0;
            Trainer t = new Trainer(o);
            List<Double> l = new ArrayList<>();
            t.run(new Trainer.Listener() {
                @Override public void onStep(Trainer.StepLog log, int total) { l.add(log.loss()); }
            });
            losses.add(l);
            trained[run] = t.parameters();
        }
        // The recomputed blocks run the same kernels on the same inputs: the same losses exactly; gradients agree to
        // float rounding (a block's input gradient is summed inside the block before it meets the skip connection's).
        assertEquals(losses.get(0).get(0), losses.get(1).get(0));
        double worst = 0, scale = 0;
        for (Parameters.Parameter p : trained[0].all()) {
            float[] a = p.value(), b = trained[1].get(p.name()).value();
            for (int i = 0; i < a.length; i++) {
                worst = Math.max(worst, Math.abs(a[i] - b[i]));
                scale = Math.max(scale, Math.abs(a[i]));
            }
        }
        assertTrue(worst <= 1e-6 * Math.max(1, scale), "checkpointing changed a weight by " + worst);
    }

    @Test
    void decoderOnlyTrainingTakesTheFullRunsDecoderStepAndLeavesTheEncoderAsItWas() throws IOException {
        Path data = shapes(tmp.resolve("data"), 6);
        Map<String, Parameters> trained = new LinkedHashMap<>();
        Map<String, Double> loss = new LinkedHashMap<>();
        for (String run : List.of("full", "decoder")) {
            TrainingOptions o = unetOptions(data, tmp.resolve(run), 1);
            o.target = TrainingOptions.Target.VAE;
            o.trainDecoderOnly = run.equals("decoder");
            o.optimizer = "sgd";
            o.learningRate = 0.5;
            o.maxGradNorm = 0;  // a global norm over the encoder too would scale the decoder's step differently
            Trainer t = new Trainer(o);
            double[] l = new double[1];
            t.run(new Trainer.Listener() {
                @Override public void onStep(Trainer.StepLog log, int total) { l[0] = log.loss(); }
            });
            trained.put(run, t.parameters());
            loss.put(run, l[0]);
        }
        // One SGD step from the same batch and posterior noise: the decoder's gradient does not depend on whether
        // the encoder's is taken, so its weights come out bit for bit the same; only the decoder's are trained.
        assertEquals(loss.get("full"), loss.get("decoder"));
        List<Parameters.Parameter> decoder = trained.get("decoder").all();
        assertEquals(trained.get("full").all().stream().filter(p -> Trainer.isDecoderWeight(p.name().substring(4))).count(),
                decoder.size());
        assertTrue(decoder.stream().allMatch(p -> p.name().startsWith("vae.decoder.") || p.name().startsWith("vae.post_quant_conv.")));
        for (Parameters.Parameter p : decoder)
            assertArrayEquals(trained.get("full").get(p.name()).value(), p.value(), p.name());
        // In the written folder the encoder is the starting model's, tensor for tensor; the full run changed it.
        SafeTensors start = SafeTensors.open(Fixtures.model("tiny-sd15").resolve("vae/diffusion_pytorch_model.safetensors"));
        SafeTensors full = SafeTensors.open(tmp.resolve("full/vae/diffusion_pytorch_model.safetensors"));
        SafeTensors dec = SafeTensors.open(tmp.resolve("decoder/vae/diffusion_pytorch_model.safetensors"));
        int encoderTensors = 0;
        for (String n : start.names()) {
            if (Trainer.isDecoderWeight(n)) continue;
            encoderTensors++;
            assertArrayEquals(start.tensor(n).toFloatArray(), dec.tensor(n).toFloatArray(), n);
        }
        assertTrue(encoderTensors > 0);
        assertFalse(Arrays.equals(start.tensor("encoder.conv_in.weight").toFloatArray(), full.tensor("encoder.conv_in.weight").toFloatArray()));
        assertFalse(Arrays.equals(start.tensor("decoder.conv_out.weight").toFloatArray(), dec.tensor("decoder.conv_out.weight").toFloatArray()));
    }

    @Test
    void outputIsADiffusersFolderAsSavePretrainedWritesIt() throws IOException {
        Path out = tmp.resolve("out");
        TrainingOptions o = unetOptions(shapes(tmp.resolve("data"), 6), out, 1);
        o.trainTextEncoder = true;
        o.saveDtype = "fp16";
        new Trainer(o).run(new Trainer.Listener() {});
        Path src = Fixtures.model("tiny-sd15");
        for (String f : List.of("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
                "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt"))
            assertArrayEquals(Files.readAllBytes(src.resolve(f)), Files.readAllBytes(out.resolve(f)), f + " is copied unchanged");
        assertFalse(Files.exists(out.resolve("expected")), "only the pipeline's parts are copied");
        for (String part : List.of("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors")) {
            SafeTensors a = SafeTensors.open(src.resolve(part)), b = SafeTensors.open(out.resolve(part));
            assertEquals(new ArrayList<>(a.names()), new ArrayList<>(b.names()), part + ": same tensors in the same order");
            for (String n : a.names()) {
                assertArrayEquals(a.entry(n).shape(), b.entry(n).shape(), n);
                DType want = part.startsWith("vae") ? a.entry(n).dtype() : a.entry(n).dtype().isFloatingPoint() ? DType.F16 : a.entry(n).dtype();
                assertEquals(want, b.entry(n).dtype(), part + " " + n);
            }
            assertEquals(a.metadata(), b.metadata(), part + " metadata");
        }
        // The untrained VAE is copied byte for byte; the trained UNet changed.
        assertArrayEquals(Files.readAllBytes(src.resolve("vae/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(out.resolve("vae/diffusion_pytorch_model.safetensors")));
    }

    @Test
    void badImageFoldersAreOneLineNamingTheProblem() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        var e1 = assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(empty));
        assertTrue(e1.getMessage().contains("metadata.jsonl is missing"), e1.getMessage());

        Path bad = shapes(tmp.resolve("bad"), 3);
        Files.writeString(bad.resolve("metadata.jsonl"), "{\"file_name\": \"0000.png\", \"text\": \"x\"}\n{not json\n");
        var e2 = assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(bad));
        assertTrue(e2.getMessage().contains("metadata.jsonl line 2: not JSON"), e2.getMessage());

        Files.writeString(bad.resolve("metadata.jsonl"), "{\"file_name\": \"0000.png\"}\n");
        var e3 = assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(bad));
        assertTrue(e3.getMessage().contains("line 1: \"text\""), e3.getMessage());

        Files.writeString(bad.resolve("metadata.jsonl"), "{\"file_name\": \"missing.png\", \"text\": \"x\"}\n");
        var e4 = assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(bad));
        assertTrue(e4.getMessage().contains("missing.png does not exist"), e4.getMessage());

        Files.writeString(bad.resolve("broken.png"), "not a png");
        Files.writeString(bad.resolve("metadata.jsonl"), "{\"file_name\": \"broken.png\", \"text\": \"x\"}\n");
        var e5 = assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(bad));
        assertTrue(e5.getMessage().contains("broken.png is not a readable image"), e5.getMessage());

        Files.writeString(bad.resolve("metadata.jsonl"), "{\"file_name\": \"../x.png\", \"text\": \"x\"}\n");
        var e6 = assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(bad));
        assertTrue(e6.getMessage().contains("points outside"), e6.getMessage());
    }

    @Test
    void aReplayFileThatDoesNotFitTheModelIsRefusedBeforeTraining() throws IOException {
        SafeTensors good = SafeTensors.open(Fixtures.root().resolve("training/unet_sgd/replay.safetensors"));
        Map<String, WeightTensor> t = new LinkedHashMap<>();
        for (String n : good.names()) t.put(n, good.tensor(n));
        float[] wrong = new float[2 * 3 * 32 * 32];
        t.put("noise.1", WeightTensor.ofFloats("noise.1", wrong, 2, 3, 32, 32));
        Path file = tmp.resolve("replay.safetensors");
        SafeTensorsWriter.write(file, t, Map.of());
        TrainingOptions o = new TrainingOptions();
        o.model = Fixtures.model("tiny-sd15");
        o.replay = file;
        o.output = tmp.resolve("out");
        var e = assertThrows(IllegalArgumentException.class, () -> new Trainer(o));
        assertTrue(e.getMessage().contains("noise.1 has shape [2, 3, 32, 32]"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("out")), "nothing written");

        // A 4-channel noise of the wrong spatial size passes the file check but not the model: still before step 1.
        t.put("noise.1", good.tensor("noise.1"));
        t.put("pixel_values.1", WeightTensor.ofFloats("pixel_values.1", new float[2 * 3 * 48 * 48], 2, 3, 48, 48));
        SafeTensorsWriter.write(file, t, Map.of());
        var e2 = assertThrows(IllegalArgumentException.class, () -> new Trainer(o));
        assertTrue(e2.getMessage().contains("posterior_noise.1"), e2.getMessage());
    }

    @Test
    void aDivergingRunStopsAtTheStepItDivergedKeepingTheLastGoodCheckpoint() throws IOException {
        Path out = tmp.resolve("out");
        TrainingOptions o = unetOptions(shapes(tmp.resolve("data"), 6), out, 6);
        o.optimizer = "sgd";
        o.learningRate = 1e18;
        o.maxGradNorm = 0;
        o.checkpointEvery = 1;
        var e = assertThrows(TrainingDivergedException.class, () -> new Trainer(o).run(new Trainer.Listener() {}));
        assertTrue(e.getMessage().matches("the loss became .* at step \\d+; .*checkpoint.*"), e.getMessage());
        int step = Integer.parseInt(e.getMessage().replaceAll(".* at step (\\d+);.*", "$1"));
        assertTrue(step >= 2, "diverged at step " + step);
        assertTrue(e.getMessage().contains("checkpoint-" + (step - 1)), e.getMessage());
        assertTrue(Files.isRegularFile(out.resolve("checkpoint-" + (step - 1)).resolve("parameters.safetensors")));
        assertFalse(Files.exists(out.resolve("unet")), "no model folder for a diverged run");
        assertEquals(step - 1, Files.readAllLines(out.resolve("train_log.jsonl")).size(), "the log holds the good steps");
    }

    @Test
    void optionsAreCheckedByName() {
        TrainingOptions o = new TrainingOptions();
        o.model = Fixtures.model("tiny-sd15");
        o.output = tmp.resolve("o");
        var e = assertThrows(IllegalArgumentException.class, o::validate);
        assertTrue(e.getMessage().contains("--train-data"), e.getMessage());
        o.replay = tmp.resolve("r");
        o.optimizer = "lion";
        assertTrue(assertThrows(IllegalArgumentException.class, o::validate).getMessage().contains("--optimizer"));
        o.optimizer = "adamw";
        o.lrScheduler = "onecycle";
        assertTrue(assertThrows(IllegalArgumentException.class, o::validate).getMessage().contains("--lr-scheduler"));
        o.lrScheduler = "cosine";
        o.captionDropout = 1.5;
        assertTrue(assertThrows(IllegalArgumentException.class, o::validate).getMessage().contains("--caption-dropout"));
        o.captionDropout = 0;
        o.trainDecoderOnly = true;
        assertTrue(assertThrows(IllegalArgumentException.class, o::validate).getMessage().contains("--train-decoder-only"));
    }

    @Test
    void learningRateSchedulesAsDiffusers() {
        // diffusers.optimization, LambdaLR at steps 0..: warmup 2 of 10 total, base 1.
        assertEquals(List.of(0.0, 0.5, 1.0, 1.0), List.of(at("constant_with_warmup", 0), at("constant_with_warmup", 1), at("constant_with_warmup", 2), at("constant_with_warmup", 9)));
        assertEquals(0.75, at("linear", 4), 1e-15);
        assertEquals(0.5 * (1 + Math.cos(Math.PI * 0.25)), at("cosine", 4), 1e-15);
        assertEquals(0.0, at("linear", 10), 0);
        assertEquals(1.0, at("constant", 0), 0);
    }

    private static double at(String name, int step) { return LearningRateSchedule.of(name, 1, 2, 10).at(step); }

    @Test
    void emaFollowsDiffusersDecaySchedule() {
        Parameters params = new Parameters();
        float[] v = {1f};
        Parameters.Parameter p = new Parameters.Parameter("x", new int[]{1}, v, new float[1]);
        Ema ema = new Ema(0.5);
        ema.update(List.of(p));                 // step 1: decay 0 → a copy
        assertEquals(1f, ema.shadow().get("x")[0]);
        v[0] = 3f;
        ema.update(List.of(p));                 // step 2: decay min(0.5, 2/11) = 2/11
        assertEquals(1f - (1f - 2f / 11f) * (1f - 3f), ema.shadow().get("x")[0], 1e-6);
        v[0] = 0f;
        ema.update(List.of(p));                 // step 3: min(0.5, 3/12) = 0.25
        float prev = 1f - (1f - 2f / 11f) * (1f - 3f);
        assertEquals(prev - 0.75f * prev, ema.shadow().get("x")[0], 1e-6);
        assertEquals(0, params.count());
    }

    @Test
    void adamWFollowsTorchOnAHandComputedStep() {
        float[] v = {1f, -2f}, g = {0.5f, -0.25f};
        Parameters.Parameter p = new Parameters.Parameter("w", new int[]{2}, v, g);
        new AdamW(0.9, 0.999, 1e-8, 0.1).step(List.of(p), 0.01);
        // Step 1: m̂ = g, v̂ = g², update = lr·g/(|g| + eps) = ±lr, after decay p·(1 − lr·wd).
        assertEquals(1f * (1 - 0.001f) - 0.01f, v[0], 1e-6);
        assertEquals(-2f * (1 - 0.001f) + 0.01f, v[1], 1e-6);
        assertEquals(0.5, GradientClipping.clip(List.of(new Parameters.Parameter("a", new int[]{2}, new float[2], new float[]{0.3f, 0.4f})), 1.0), 1e-7);
        float[] big = {3f, 4f};
        assertEquals(5.0, GradientClipping.clip(List.of(new Parameters.Parameter("b", new int[]{2}, new float[2], big)), 1.0), 1e-7);
        assertArrayEquals(new float[]{(float) (3 / (5 + 1e-6)), (float) (4 / (5 + 1e-6))}, big, 1e-7f);
        assertTrue(Arrays.equals(new float[]{0.5f, -0.25f}, g));
    }
}
