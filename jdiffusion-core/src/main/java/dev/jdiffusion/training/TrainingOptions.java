package dev.jdiffusion.training;

import java.nio.file.Path;

/**
 * What {@code jdiffusion train} does, with the defaults of diffusers' train_text_to_image.py where it has
 * one. Set the fields, then {@link #validate()}.
 */
public final class TrainingOptions {
    /** What is trained: the UNet (text encoder optionally) or the autoencoder. */
    public enum Target { UNET, VAE }

    public Target target = Target.UNET;
    /** The diffusers folder to start from; its untrained parts are copied to the output. */
    public Path model;
    /** Where the trained diffusers folder, checkpoints and train_log.jsonl go. */
    public Path output;
    /** An ImageFolder with metadata.jsonl; or null with {@link #replay}. */
    public Path trainData;
    /** Each step's inputs from this file instead of the data and the random generator. */
    public Path replay;

    public int resolution = 0;          // 0: the model's default image size
    public boolean centerCrop = true;   // else random crop
    public boolean randomFlip = false;
    public int batchSize = 1;
    public int gradientAccumulation = 1;
    public int steps = 0;               // optimizer steps; 0: from epochs
    public int epochs = 0;
    public long seed = 0;

    public String optimizer = "adamw";
    public double learningRate = 1e-4;
    public double weightDecay = 1e-2;
    public double maxGradNorm = 1.0;
    public String lrScheduler = "constant";
    public int lrWarmupSteps = 0;

    public boolean ema = false;
    public double emaDecay = 0.9999;

    public double snrGamma = 0;
    public boolean trainTextEncoder = false;
    public double captionDropout = 0;
    public double klWeight = 1e-6;
    /**
     * VAE only: train the decoder (and post_quant_conv) with the encoder frozen, as Stability's sd-vae-ft-mse was
     * fine-tuned: the latents, and so a UNet trained on them, stay valid.
     */
    public boolean trainDecoderOnly = false;

    /** Weights of the trained parts in the output: "fp32" or "fp16". */
    public String saveDtype = "fp32";
    public int checkpointEvery = 0;
    /** A checkpoint folder to continue from, or "latest" (the newest under the output). */
    public String resume;
    public boolean gradientCheckpointing = false;

    public String validationPrompt;
    public int validationEvery = 0;
    public int validationSteps = 20;

    /** Refuses combinations that cannot work, naming the option. */
    public TrainingOptions validate() {
        if (model == null) throw new IllegalArgumentException("--model is required: the diffusers folder to start from");
        if (output == null) throw new IllegalArgumentException("--output is required");
        if ((trainData == null) == (replay == null))
            throw new IllegalArgumentException("give exactly one of --train-data DIR and --replay FILE");
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be at least 1, got " + batchSize);
        if (gradientAccumulation < 1)
            throw new IllegalArgumentException("--gradient-accumulation must be at least 1, got " + gradientAccumulation);
        if (replay == null && steps <= 0 && epochs <= 0) throw new IllegalArgumentException("give --steps N or --epochs N");
        if (steps < 0 || epochs < 0) throw new IllegalArgumentException("--steps and --epochs must not be negative");
        if (resolution < 0 || resolution % 8 != 0)
            throw new IllegalArgumentException("--resolution must be a positive multiple of 8, got " + resolution);
        if (!(learningRate >= 0) || Double.isInfinite(learningRate))
            throw new IllegalArgumentException("--learning-rate must be a non-negative number, got " + learningRate);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("--weight-decay must not be negative, got " + weightDecay);
        if (!(maxGradNorm >= 0)) throw new IllegalArgumentException("--max-grad-norm must not be negative (0 = no clipping), got " + maxGradNorm);
        if (!(snrGamma >= 0)) throw new IllegalArgumentException("--snr-gamma must not be negative, got " + snrGamma);
        if (!(captionDropout >= 0 && captionDropout <= 1))
            throw new IllegalArgumentException("--caption-dropout must be in [0, 1], got " + captionDropout);
        if (!(klWeight >= 0)) throw new IllegalArgumentException("--kl-weight must not be negative, got " + klWeight);
        if (!(emaDecay > 0 && emaDecay < 1)) throw new IllegalArgumentException("--ema-decay must be in (0, 1), got " + emaDecay);
        if (!saveDtype.equals("fp32") && !saveDtype.equals("fp16"))
            throw new IllegalArgumentException("--save-dtype must be fp32 or fp16, not " + saveDtype);
        if (checkpointEvery < 0) throw new IllegalArgumentException("--checkpoint-every must not be negative");
        if (lrWarmupSteps < 0) throw new IllegalArgumentException("--lr-warmup-steps must not be negative");
        LearningRateSchedule.of(lrScheduler, 1, lrWarmupSteps, 1);
        Optimizer.create(optimizer, weightDecay);
        if (target == Target.VAE && (trainTextEncoder || snrGamma > 0 || captionDropout > 0))
            throw new IllegalArgumentException("--train-text-encoder, --snr-gamma and --caption-dropout apply to train unet, not train vae");
        if (target != Target.VAE && trainDecoderOnly)
            throw new IllegalArgumentException("--train-decoder-only applies to train vae, not train unet");
        if (replay != null && gradientAccumulation != 1)
            throw new IllegalArgumentException("--gradient-accumulation does not apply with --replay (each step of the file is one batch)");
        if (validationEvery < 0) throw new IllegalArgumentException("--validation-every must not be negative");
        return this;
    }
}
