package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.clip.ClipTokenizer;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.pipelines.StableDiffusionModel;
import dev.jdiffusion.schedulers.DDPMScheduler;
import dev.jdiffusion.schedulers.TorchGenerator;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The training loop of {@code jdiffusion train}: builds the models over trainable float32 parameters, takes
 * batches from an {@link ImageFolder} (or a replay file), runs the recipe's forward and backward
 * ({@link UNetRecipe}, {@link VaeRecipe}), clips, steps the optimizer and the EMA, logs every optimizer step
 * to {@code train_log.jsonl}, writes resumable checkpoints, and finally a complete diffusers folder.
 *
 * <p>Every random choice is addressed by (seed, counters) ({@link SampleRandom}), so the state to resume
 * from is the weights, the optimizer's moments, the EMA and the step: a run stopped and resumed ends with
 * the same bytes as one that was not.
 */
public final class Trainer {
    /** What the caller hears about a run. */
    public interface Listener {
        /** After optimizer step {@code log.step()} of {@code total}. */
        default void onStep(StepLog log, int total) {}

        /** After a checkpoint was written. */
        default void onCheckpoint(Path dir) {}

        /** Every --validation-every steps, with the model as it is now (EMA weights when EMA is on). */
        default void onValidation(int step, StableDiffusionModel model) {}
    }

    /** One line of train_log.jsonl; grad_norm is before clipping. */
    public record StepLog(int step, double loss, double gradNorm, double lr, int samples, double seconds) {}

    private final TrainingOptions o;
    private final DiffusersFolder folder;
    private final Parameters params = new Parameters();
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final UNetRecipe unetRecipe;
    private final VaeRecipe vaeRecipe;
    private final ImageFolder data;
    private final Replay replay;
    private final int resolution, totalSteps;
    private final Optimizer optimizer;
    private final Ema ema;
    private final LearningRateSchedule schedule;
    private final LatentCache latentCache;
    private int step;

    public Trainer(TrainingOptions options) {
        this.o = options.validate();
        folder = DiffusersFolder.open(o.model);
        boolean unetTarget = o.target == TrainingOptions.Target.UNET;
        tokenizer = ClipTokenizer.load(folder.part("tokenizer"));
        WeightSource teBase = WeightSource.of(folder.weights("text_encoder", false));
        WeightSource unetBase = WeightSource.of(folder.weights("unet", false));
        WeightSource vaeBase = WeightSource.of(folder.weights("vae", false));
        textEncoder = new ClipTextModel(ClipTextConfig.from(folder.config("text_encoder")),
                unetTarget && o.trainTextEncoder ? params.source("text_encoder", teBase, n -> true) : teBase);
        unet = new UNet2DConditionModel(UNet2DConditionConfig.from(folder.config("unet")),
                unetTarget ? params.source("unet", unetBase, n -> true) : unetBase);
        vae = new AutoencoderKL(AutoencoderKLConfig.from(folder.config("vae")),
                unetTarget ? vaeBase : params.source("vae", vaeBase, o.trainDecoderOnly ? Trainer::isDecoderWeight : n -> true));
        if (unetTarget) {
            DDPMScheduler ddpm = new DDPMScheduler(folder.schedulerConfig());
            unetRecipe = new UNetRecipe(vae, textEncoder, unet, ddpm.alphasCumprod(), ddpm.predictionType(), o.snrGamma,
                    o.trainTextEncoder);
            vaeRecipe = null;
        } else {
            unetRecipe = null;
            vaeRecipe = new VaeRecipe(vae, o.klWeight);
        }
        if (o.replay != null) {
            replay = Replay.open(o.replay, unetTarget);
            checkReplayFitsModel();
            data = null;
            totalSteps = replay.steps();
            resolution = 0;
        } else {
            replay = null;
            data = ImageFolder.open(o.trainData);
            resolution = o.resolution > 0 ? o.resolution
                    : folder.config("unet").getInt("sample_size", 64) * vae.config().downscaleFactor();
            int perStep = o.batchSize * o.gradientAccumulation;
            totalSteps = o.steps > 0 ? o.steps : (int) Math.ceil((double) o.epochs * data.size() / perStep);
        }
        optimizer = Optimizer.create(o.optimizer, o.weightDecay);
        ema = o.ema ? new Ema(o.emaDecay) : null;
        schedule = LearningRateSchedule.of(o.lrScheduler, o.learningRate, o.lrWarmupSteps, totalSteps);
        latentCache = unetTarget && data != null && o.centerCrop && !o.randomFlip ? new LatentCache() : null;
    }

    /** Every step's shapes against the model: the latents its images make, the text encoder's length, the timesteps. */
    private void checkReplayFitsModel() {
        int f = vae.config().downscaleFactor(), lc = vae.config().latentChannels();
        for (int k = 0; k < replay.steps(); k++) {
            Replay.Step s = replay.step(k);
            if (s.height() % f != 0 || s.width() % f != 0)
                throw new IllegalArgumentException(o.replay + ": pixel_values." + k + " is " + s.height() + "x" + s.width()
                        + ", not a multiple of the VAE's factor " + f);
            int expected = s.n() * lc * (s.height() / f) * (s.width() / f);
            if (s.posteriorNoise().length != expected)
                throw new IllegalArgumentException(o.replay + ": posterior_noise." + k + " does not fit pixel_values." + k + " ("
                        + s.height() + "x" + s.width() + "): the model's latents are [" + s.n() + ", " + lc + ", " + s.height() / f
                        + ", " + s.width() / f + "]");
            if (unetRecipe == null) continue;
            int max = textEncoder.config().maxPositionEmbeddings();
            if (s.inputIds()[0].length > max)
                throw new IllegalArgumentException(o.replay + ": input_ids." + k + " has " + s.inputIds()[0].length
                        + " tokens, the text encoder takes " + max);
            for (int t : s.timesteps())
                if (t < 0 || t >= unetRecipe.numTrainTimesteps())
                    throw new IllegalArgumentException(o.replay + ": timesteps." + k + " holds " + t + ", outside [0, "
                            + unetRecipe.numTrainTimesteps() + ")");
        }
    }

    public Parameters parameters() { return params; }

    public int totalSteps() { return totalSteps; }

    /** Images seen per optimizer step. */
    public int samplesPerStep() { return replay != null ? replay.batch(0) : o.batchSize * o.gradientAccumulation; }

    /**
     * Runs (or, after {@code --resume}, continues) the training to its last step, then writes the diffusers
     * folder. Returns the last step's log.
     */
    public StepLog run(Listener listener) {
        try {
            Files.createDirectories(o.output);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + o.output + ": " + e.getMessage(), e);
        }
        Path log = o.output.resolve("train_log.jsonl");
        Path lastCheckpoint = null;
        if (o.resume != null) {
            lastCheckpoint = TrainingCheckpoint.locate(o.output, o.resume);
            step = TrainingCheckpoint.load(lastCheckpoint, params, optimizer, ema, fingerprint());
            truncateLog(log, step);
        } else {
            truncateLog(log, 0);
        }
        StepLog last = null;
        while (step < totalSteps) {
            long t0 = System.nanoTime();
            double lr = schedule.at(step);
            double loss = 0;
            int micro = replay != null ? 1 : o.gradientAccumulation;
            for (int m = 0; m < micro; m++) loss += microBatch(step, m) / micro;
            if (micro > 1) for (Parameters.Parameter p : params.all()) {
                float[] g = p.grad();
                for (int i = 0; i < g.length; i++) g[i] /= micro;
            }
            double norm = GradientClipping.clip(params.all(), o.maxGradNorm);
            if (!Double.isFinite(loss) || !Double.isFinite(norm))
                throw new TrainingDivergedException("the loss became " + (Double.isFinite(loss) ? "finite but the gradient norm " + norm : String.valueOf(loss))
                        + " at step " + (step + 1) + "; nothing was written for it"
                        + (lastCheckpoint != null ? "; the last good checkpoint is " + lastCheckpoint : "; no checkpoint was written yet")
                        + " (try a lower --learning-rate)");
            optimizer.step(params.all(), lr);
            params.zeroGrad();
            if (ema != null) ema.update(params.all());
            step++;
            last = new StepLog(step, loss, norm, lr, samplesPerStep(), (System.nanoTime() - t0) / 1e9);
            appendLog(log, last);
            listener.onStep(last, totalSteps);
            if (o.checkpointEvery > 0 && step % o.checkpointEvery == 0 && step < totalSteps) {
                lastCheckpoint = TrainingCheckpoint.save(o.output, step, params, optimizer, ema, fingerprint());
                listener.onCheckpoint(lastCheckpoint);
            }
            if (o.validationEvery > 0 && o.validationPrompt != null && step % o.validationEvery == 0)
                withExportedWeights(() -> listener.onValidation(step, currentModel()));
        }
        withExportedWeights(() -> ModelExport.write(folder, o.output, params, o.saveDtype.equals("fp16")));
        return last;
    }

    /** One micro-batch: forward and backward, gradients added; returns its loss. */
    private double microBatch(int step, int micro) {
        Tape tape = new Tape(params, o.gradientCheckpointing);
        if (replay != null) {
            Replay.Step s = replay.step(step);
            if (vaeRecipe != null) return vaeRecipe.step(tape, s.pixels(), s.n(), s.height(), s.width(), s.posteriorNoise());
            float[] latents = unetRecipe.latents(s.pixels(), s.n(), s.height(), s.width(), s.posteriorNoise());
            int[] ls = unetRecipe.latentShape(s.height(), s.width());
            return unetRecipe.step(tape, latents, s.n(), ls[0], ls[1], ls[2], s.inputIds(), s.noise(), s.timesteps());
        }
        int n = o.batchSize, res = resolution, plane = 3 * res * res;
        long first = ((long) step * o.gradientAccumulation + micro) * n;
        float[] pixels = new float[n * plane];
        int[][] ids = new int[n][];
        int[] index = new int[n];
        for (int b = 0; b < n; b++) {
            long sample = first + b;
            int epoch = (int) (sample / data.size());
            index[b] = new SampleRandom(o.seed, 1, epoch).permutation(data.size())[(int) (sample % data.size())];
            SampleRandom r = new SampleRandom(o.seed, 2, sample);
            boolean flip = o.randomFlip && r.nextDouble() < 0.5;
            if (latentCache == null) System.arraycopy(data.pixels(index[b], res, o.centerCrop, flip, r), 0, pixels, b * plane, plane);
            List<String> captions = data.item(index[b]).captions();
            String caption = captions.get(r.nextInt(captions.size()));
            if (o.captionDropout > 0 && r.nextDouble() < o.captionDropout) caption = "";
            ids[b] = tokenizer.encodePadded(caption);
        }
        TorchGenerator g = new TorchGenerator(new SampleRandom(o.seed, 3, step, micro).nextLong() >>> 1);
        if (vaeRecipe != null) {
            int f = vae.config().downscaleFactor();
            float[] eps = g.randn(n, vae.config().latentChannels(), res / f, res / f);
            return vaeRecipe.step(tape, pixels, n, res, res, eps);
        }
        int[] ls = unetRecipe.latentShape(res, res);
        float[] eps = g.randn(n, ls[0], ls[1], ls[2]);
        float[] latents = latentCache != null ? latentCache.latents(index, eps) : unetRecipe.latents(pixels, n, res, res, eps);
        float[] noise = g.randn(n, ls[0], ls[1], ls[2]);
        float[] u = g.rand(n);
        int[] ts = new int[n];
        for (int b = 0; b < n; b++) ts[b] = Math.min(unetRecipe.numTrainTimesteps() - 1, (int) (u[b] * unetRecipe.numTrainTimesteps()));
        return unetRecipe.step(tape, latents, n, ls[0], ls[1], ls[2], ids, noise, ts);
    }

    /**
     * The VAE weights that {@code --train-decoder-only} trains: the decoder and post_quant_conv, the path from the
     * latents to pixels. The encoder and quant_conv stay frozen, so the latent of every image stays the same.
     */
    static boolean isDecoderWeight(String name) {
        return name.startsWith("decoder.") || name.startsWith("post_quant_conv.");
    }

    /**
     * Latent distributions of the frozen VAE, computed once per image (the crop is the center and there is no
     * flip, so an image always gives the same pixels); each use samples z = (μ + σ·ε)·scaling_factor anew.
     */
    private final class LatentCache {
        private final Map<Integer, UNetRecipe.Posterior> dist = new java.util.concurrent.ConcurrentHashMap<>();

        float[] latents(int[] index, float[] eps) {
            int per = eps.length / index.length;
            float[] mean = new float[eps.length], std = new float[eps.length];
            for (int b = 0; b < index.length; b++) {
                UNetRecipe.Posterior d = dist.computeIfAbsent(index[b],
                        i -> unetRecipe.encode(data.pixels(i, resolution, true, false, null), 1, resolution, resolution));
                System.arraycopy(d.mean(), 0, mean, b * per, per);
                System.arraycopy(d.std(), 0, std, b * per, per);
            }
            return unetRecipe.latents(new UNetRecipe.Posterior(mean, std), eps);
        }
    }

    /** Runs {@code body} with the EMA weights in place of the trained ones (when EMA is on), then puts them back. */
    private void withExportedWeights(Runnable body) {
        if (ema == null) {
            body.run();
            return;
        }
        List<float[]> saved = new ArrayList<>();
        for (Parameters.Parameter p : params.all()) {
            saved.add(p.value().clone());
            System.arraycopy(ema.shadow().get(p.name()), 0, p.value(), 0, p.size());
        }
        try {
            body.run();
        } finally {
            List<Parameters.Parameter> all = params.all();
            for (int i = 0; i < all.size(); i++) System.arraycopy(saved.get(i), 0, all.get(i).value(), 0, all.get(i).size());
        }
    }

    /** The model being trained, with its current weights, as a pipeline takes it (for validation images). */
    public StableDiffusionModel currentModel() {
        return new StableDiffusionModel(o.output.getFileName().toString(), tokenizer, textEncoder, unet, vae,
                folder.schedulerConfig(), folder.config("unet").getInt("sample_size", 64));
    }

    /** What a checkpoint must agree with to be resumed by this run. */
    private String fingerprint() {
        return String.join("|", o.target.name(), o.optimizer, String.valueOf(o.trainTextEncoder), String.valueOf(o.ema),
                String.valueOf(params.count()));
    }

    private static void truncateLog(Path log, int keepSteps) {
        try {
            if (!Files.exists(log)) return;
            List<String> kept = new ArrayList<>();
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                int s = line.indexOf("\"step\":"), e = line.indexOf(',', s);
                if (s >= 0 && e > s && Integer.parseInt(line.substring(s + 7, e).trim()) <= keepSteps) kept.add(line);
            }
            Path tmp = dev.jdiffusion.io.TempFiles.beside(log);
            try {
                Files.write(tmp, kept, StandardCharsets.UTF_8);
                Files.move(tmp, log, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } finally {
                dev.jdiffusion.io.TempFiles.release(tmp);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(log + ": " + e.getMessage(), e);
        }
    }

    private static void appendLog(Path log, StepLog s) {
        String line = String.format(Locale.ROOT, "{\"step\": %d, \"loss\": %s, \"grad_norm\": %s, \"lr\": %s}%n",
                s.step(), json(s.loss()), json(s.gradNorm()), json(s.lr()));
        try {
            Files.writeString(log, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(log + ": " + e.getMessage(), e);
        }
    }

    private static String json(double v) { return Double.isFinite(v) ? Double.toString(v) : "NaN"; }
}
