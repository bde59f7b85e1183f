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
    /** The model as it is: its own configs, prediction type and VAE, and its safety checker when it has one. */
    public static final LoadOptions DEFAULTS = new LoadOptions(null, null, null);

    /** With the model's safety checker, when it has one. */
    public LoadOptions(Path configDir, PredictionType predictionType, Path vae) {
        this(configDir, predictionType, vae, true);
    }

    /** These options with another config folder (for a single-file checkpoint of non-standard size). */
    public LoadOptions withConfigDir(Path dir) { return new LoadOptions(dir, predictionType, vae, safetyChecker); }

    /** These options with the prediction type set (what SD 2.x single files cannot tell by their weights). */
    public LoadOptions withPredictionType(PredictionType type) { return new LoadOptions(configDir, type, vae, safetyChecker); }

    /** These options with another VAE (a diffusers folder or a single file, in either layout). */
    public LoadOptions withVae(Path vaePath) { return new LoadOptions(configDir, predictionType, vaePath, safetyChecker); }

    /** These options with the model's safety checker on or off. */
    public LoadOptions withSafetyChecker(boolean on) { return new LoadOptions(configDir, predictionType, vae, on); }
}
