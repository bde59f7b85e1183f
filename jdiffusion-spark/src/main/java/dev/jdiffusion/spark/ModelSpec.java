package dev.jdiffusion.spark;

import dev.jdiffusion.io.checkpoint.PredictionType;
import dev.jdiffusion.pipelines.LoadOptions;

import java.io.Serial;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The model a batch runs, as every executor resolves it for itself: what {@code jdiffusion generate --model} takes
 * (a folder or a file on storage that every node mounts at the same path, or a Hugging Face repo id found in each
 * node's Hugging Face cache), and the same load options as {@code --config}, {@code --prediction-type}, {@code --vae}.
 * Text only, so that it travels to the executors.
 *
 * @param model          folder, file, or {@code org/name[@revision]}
 * @param configDir      a diffusers folder describing a single-file checkpoint, or null
 * @param predictionType {@code epsilon} or {@code v_prediction}, or null to keep the model's
 * @param vae            another VAE (folder or file), or null
 */
public record ModelSpec(String model, String configDir, String predictionType, String vae) implements Serializable {
    @Serial private static final long serialVersionUID = 1L;

    /** Checks that a model is named and that the prediction type, when given, is one jdiffusion knows. */
    public ModelSpec {
        Objects.requireNonNull(model, "model");
        if (predictionType != null) PredictionType.parse(predictionType);
    }

    /** Just a model, with its own configs, prediction type and VAE. */
    public static ModelSpec of(String model) { return new ModelSpec(model, null, null, null); }

    /** The options {@link dev.jdiffusion.pipelines.StableDiffusionPipeline#fromPretrained(String, LoadOptions)} takes. */
    public LoadOptions loadOptions() {
        return new LoadOptions(configDir == null ? null : Path.of(configDir),
                predictionType == null ? null : PredictionType.parse(predictionType), vae == null ? null : Path.of(vae));
    }

    /** The model and its options as one string: part of every row's fingerprint. */
    public String key() {
        return String.join("\u0000", model, String.valueOf(configDir), String.valueOf(predictionType), String.valueOf(vae));
    }
}
