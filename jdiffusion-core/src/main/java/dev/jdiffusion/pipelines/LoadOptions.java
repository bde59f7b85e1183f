package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.checkpoint.PredictionType;

import java.nio.file.Path;

/**
 * How to load a model beyond its path.
 *
 * @param configDir      a diffusers folder whose configs describe a single-file checkpoint (as diffusers'
 *                       {@code from_single_file(config=...)}); null for the built-in SD 1.5 / 2.1 configs
 * @param predictionType what the UNet predicts, when it cannot be told from the weights; null to keep the config's
 * @param vae            another VAE to use (a folder or a file, in either layout); null for the model's own
 * @param safetyChecker  whether to run the model's safety checker when it has one (diffusers' default); false
 *                       does not even read it (diffusers' {@code safety_checker=None})
 */
public record LoadOptions(Path configDir, PredictionType predictionType, Path vae, boolean safetyChecker) {
    public static final LoadOptions DEFAULTS = new LoadOptions(null, null, null);

    /** With the model's safety checker, when it has one. */
    public LoadOptions(Path configDir, PredictionType predictionType, Path vae) {
        this(configDir, predictionType, vae, true);
    }

    public LoadOptions withSafetyChecker(boolean on) { return new LoadOptions(configDir, predictionType, vae, on); }
}
