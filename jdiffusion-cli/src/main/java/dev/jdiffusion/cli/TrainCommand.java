package dev.jdiffusion.cli;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.GenerationResult;
import dev.jdiffusion.pipelines.StableDiffusionModel;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.training.Trainer;
import dev.jdiffusion.training.TrainingOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** `jdiffusion train unet|vae`: trains a diffusers folder's UNet (and text encoder) or autoencoder. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a model's UNet (train unet) or autoencoder (train vae) on an ImageFolder, as diffusers' train_text_to_image.py.",
        subcommands = {TrainCommand.Unet.class, TrainCommand.Vae.class})
final class TrainCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 0;
    }

    /** Options both kinds of training take. */
    static final class Common {
        @Option(names = "--model", required = true, description = "The diffusers folder to start from (its untrained parts are copied to the output).")
        Path model;

        @Option(names = "--output", required = true, description = "Folder for the trained diffusers model, checkpoint-N/ folders and train_log.jsonl.")
        Path output;

        @Option(names = "--train-data", description = "An ImageFolder: images plus metadata.jsonl lines {\"file_name\": ..., \"text\": ...}.")
        Path trainData;

        @Option(names = "--replay", description = "Take each step's inputs from this safetensors file (pixel_values.K, posterior_noise.K, ...) instead of data and RNG; runs as many steps as it holds.")
        Path replay;

        @Option(names = "--resolution", defaultValue = "0", description = "Training image size (default: the model's).")
        int resolution;

        @Option(names = "--random-crop", description = "Random instead of center crops.")
        boolean randomCrop;

        @Option(names = "--random-flip", description = "Flip images horizontally at random.")
        boolean randomFlip;

        @Option(names = "--batch-size", defaultValue = "1", description = "Images per batch (default: ${DEFAULT-VALUE}).")
        int batchSize;

        @Option(names = "--gradient-accumulation", defaultValue = "1", description = "Batches per optimizer step (default: ${DEFAULT-VALUE}).")
        int gradientAccumulation;

        @Option(names = "--steps", defaultValue = "0", description = "Optimizer steps.")
        int steps;

        @Option(names = "--epochs", defaultValue = "0", description = "Passes over the data (when --steps is not given).")
        int epochs;

        @Option(names = "--seed", defaultValue = "0", description = "Seed of every random choice (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--optimizer", defaultValue = "adamw", description = "sgd or adamw (default: ${DEFAULT-VALUE}; betas 0.9, 0.999, eps 1e-8).")
        String optimizer;

        @Option(names = "--learning-rate", defaultValue = "1e-4", description = "(default: ${DEFAULT-VALUE})")
        double learningRate;

        @Option(names = "--weight-decay", defaultValue = "1e-2", description = "AdamW's decoupled weight decay (default: ${DEFAULT-VALUE}).")
        double weightDecay;

        @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Clip the gradient norm of all trained tensors; 0 = no clipping (default: ${DEFAULT-VALUE}).")
        double maxGradNorm;

        @Option(names = "--lr-scheduler", defaultValue = "constant", description = "constant, constant_with_warmup, linear or cosine (default: ${DEFAULT-VALUE}).")
        String lrScheduler;

        @Option(names = "--lr-warmup-steps", defaultValue = "0", description = "(default: ${DEFAULT-VALUE})")
        int lrWarmupSteps;

        @Option(names = "--ema", description = "Keep an exponential moving average of the weights and save it as the model.")
        boolean ema;

        @Option(names = "--ema-decay", defaultValue = "0.9999", description = "(default: ${DEFAULT-VALUE})")
        double emaDecay;

        @Option(names = "--save-dtype", defaultValue = "fp32", description = "fp32 or fp16 weights in the output (default: ${DEFAULT-VALUE}).")
        String saveDtype;

        @Option(names = "--checkpoint-every", defaultValue = "0", description = "Write a resumable checkpoint-N/ every N steps.")
        int checkpointEvery;

        @Option(names = "--resume", description = "Continue from a checkpoint folder, or 'latest' (the newest under --output).")
        String resume;

        @Option(names = "--gradient-checkpointing", description = "Recompute each block's activations in the backward pass instead of storing them (less memory, ~1/3 more compute).")
        boolean gradientCheckpointing;

        @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
        boolean quiet;

        TrainingOptions options(TrainingOptions.Target target) {
            TrainingOptions o = new TrainingOptions();
            o.target = target;
            o.model = model;
            o.output = output;
            o.trainData = trainData;
            o.replay = replay;
            o.resolution = resolution;
            o.centerCrop = !randomCrop;
            o.randomFlip = randomFlip;
            o.batchSize = batchSize;
            o.gradientAccumulation = gradientAccumulation;
            o.steps = steps;
            o.epochs = epochs;
            o.seed = seed;
            o.optimizer = optimizer;
            o.learningRate = learningRate;
            o.weightDecay = weightDecay;
            o.maxGradNorm = maxGradNorm;
            o.lrScheduler = lrScheduler;
            o.lrWarmupSteps = lrWarmupSteps;
            o.ema = ema;
            o.emaDecay = emaDecay;
            o.saveDtype = saveDtype;
            o.checkpointEvery = checkpointEvery;
            o.resume = resume;
            o.gradientCheckpointing = gradientCheckpointing;
            return o;
        }
    }

    @Command(name = "unet", mixinStandardHelpOptions = true,
            description = "Train the UNet (and optionally the text encoder) to predict the noise (or v) added to the VAE's latents of captioned images.")
    static final class Unet implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Common common;

        @Option(names = "--snr-gamma", defaultValue = "0", description = "Min-SNR loss weighting with this gamma (5 is usual); 0 = plain MSE.")
        double snrGamma;

        @Option(names = "--train-text-encoder", description = "Train the CLIP text encoder jointly.")
        boolean trainTextEncoder;

        @Option(names = "--caption-dropout", defaultValue = "0", description = "Probability of training on the empty caption (for classifier-free guidance), e.g. 0.1.")
        double captionDropout;

        @Option(names = "--validation-prompt", description = "Render this prompt every --validation-every steps into OUTPUT/validation/.")
        String validationPrompt;

        @Option(names = "--validation-every", defaultValue = "0", description = "Steps between validation images.")
        int validationEvery;

        @Override
        public Integer call() {
            TrainingOptions o = common.options(TrainingOptions.Target.UNET);
            o.snrGamma = snrGamma;
            o.trainTextEncoder = trainTextEncoder;
            o.captionDropout = captionDropout;
            o.validationPrompt = validationPrompt;
            o.validationEvery = validationEvery;
            return run(spec, o, common.quiet);
        }
    }

    @Command(name = "vae", mixinStandardHelpOptions = true,
            description = "Train the autoencoder: L1 reconstruction plus a KL term on its latent distribution.")
    static final class Vae implements Callable<Integer> {
        @Spec CommandSpec spec;
        @Mixin Common common;

        @Option(names = "--kl-weight", defaultValue = "1e-6", description = "Weight of the KL term (default: ${DEFAULT-VALUE}).")
        double klWeight;

        @Option(names = "--train-decoder-only", description = "Train only the decoder (and post_quant_conv), the encoder frozen, as sd-vae-ft-mse was fine-tuned: latents, and a UNet trained on them, stay valid.")
        boolean trainDecoderOnly;

        @Override
        public Integer call() {
            TrainingOptions o = common.options(TrainingOptions.Target.VAE);
            o.klWeight = klWeight;
            o.trainDecoderOnly = trainDecoderOnly;
            return run(spec, o, common.quiet);
        }
    }

    static int run(CommandSpec spec, TrainingOptions o, boolean quiet) {
        PrintWriter err = spec.commandLine().getErr(), out = spec.commandLine().getOut();
        Trainer trainer = new Trainer(o);
        ProgressBar bar = new ProgressBar(err, !quiet && ProgressBar.stderrIsTerminal(), "training");
        long start = System.nanoTime();
        Trainer.StepLog last = trainer.run(new Trainer.Listener() {
            @Override
            public void onStep(Trainer.StepLog log, int total) {
                double elapsed = (System.nanoTime() - start) / 1e9;
                bar.update(log.step(), total, String.format(Locale.ROOT, "loss %.4f, %.2f samples/s", log.loss(),
                        (double) log.step() * log.samples() / Math.max(elapsed, 1e-9)));
            }

            @Override
            public void onValidation(int step, StableDiffusionModel model) {
                GenerationResult r = new StableDiffusionPipeline(model).generate(
                        GenerationRequest.builder(o.validationPrompt).seed(o.seed).steps(o.validationSteps).build());
                Path file = o.output.resolve("validation").resolve(String.format(Locale.ROOT, "step-%06d.png", step));
                try {
                    Files.createDirectories(file.getParent());
                    PngFiles.write(file, r.images().get(0), Map.of("parameters", r.parameters().get(0)));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(file + ": " + e.getMessage(), e);
                }
            }
        });
        if (last != null)
            out.printf(Locale.ROOT, "trained %d steps, final loss %.6f; model written to %s%n", last.step(), last.loss(), o.output);
        else out.println("nothing left to train; model written to " + o.output);
        return 0;
    }
}
