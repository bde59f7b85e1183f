package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.checkpoint.BuiltinConfigs;
import dev.jdiffusion.io.checkpoint.ModelFamily;
import dev.jdiffusion.io.checkpoint.SingleFileCheckpoint;
import dev.jdiffusion.io.checkpoint.StandaloneVae;
import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.clip.ClipTokenizer;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.tensor.DType;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A loaded Stable Diffusion model: its parts, built once from a diffusers folder, a single-file
 * checkpoint, or (for benchmarks) a published architecture with random weights. Weights stay mapped.
 *
 * @param name            what A1111 calls the model: the folder's or file's name
 * @param schedulerConfig the scheduler_config.json it ships with
 * @param sampleSize      the UNet's sample_size: latents per side at the default image size
 */
public record StableDiffusionModel(String name, ClipTokenizer tokenizer, ClipTextModel textEncoder,
                                   UNet2DConditionModel unet, AutoencoderKL vae, JsonConfig schedulerConfig,
                                   int sampleSize) {

    /** The default image size in pixels: sample_size × the VAE factor (512 for SD 1.x). */
    public int defaultImageSize() { return sampleSize * vae.config().downscaleFactor(); }

    /** Loads a model: a diffusers folder, or a single-file checkpoint (.safetensors or .ckpt) of SD 1.x / 2.x. */
    public static StableDiffusionModel load(Path model) { return load(model, LoadOptions.DEFAULTS); }

    public static StableDiffusionModel load(Path model, LoadOptions options) {
        MissingJvmOptionException.requireVectorApi();
        Path path = singleCheckpointIn(model);
        String name = modelName(path);
        JsonConfig unetConfig, vaeConfig, textConfig, schedulerConfig;
        WeightSource unetWeights, vaeWeights, textWeights;
        Path tokenizerDir;
        if (Files.isDirectory(path)) {
            if (options.configDir() != null)
                throw new IllegalArgumentException("--config applies to single-file checkpoints; " + path + " is a diffusers folder");
            DiffusersFolder f = DiffusersFolder.open(path);
            unetConfig = f.config("unet");
            vaeConfig = f.config("vae");
            textConfig = f.config("text_encoder");
            schedulerConfig = f.schedulerConfig();
            if (options.predictionType() != null) {
                String value = options.predictionType().configValue();
                schedulerConfig = schedulerConfig.edited(o -> o.put("prediction_type", value));
            }
            unetWeights = WeightSource.of(f.weights("unet", false));
            vaeWeights = WeightSource.of(f.weights("vae", false));
            textWeights = WeightSource.of(f.weights("text_encoder", false));
            tokenizerDir = f.part("tokenizer");
        } else {
            SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(path, options.configDir(), options.predictionType());
            unetConfig = ckpt.unetConfig();
            vaeConfig = ckpt.vaeConfig();
            textConfig = ckpt.textEncoderConfig();
            schedulerConfig = ckpt.schedulerConfig();
            unetWeights = ckpt.unetWeights();
            vaeWeights = ckpt.vaeWeights();
            textWeights = ckpt.textEncoderWeights();
            tokenizerDir = ckpt.tokenizerDir();
        }
        if (options.vae() != null) {
            StandaloneVae vae = StandaloneVae.open(options.vae(), vaeConfig);
            vaeConfig = vae.config();
            vaeWeights = vae.weights();
        }
        return new StableDiffusionModel(name, ClipTokenizer.load(tokenizerDir),
                new ClipTextModel(ClipTextConfig.from(textConfig), textWeights),
                new UNet2DConditionModel(UNet2DConditionConfig.from(unetConfig), unetWeights),
                new AutoencoderKL(AutoencoderKLConfig.from(vaeConfig), vaeWeights),
                schedulerConfig, unetConfig.getInt("sample_size", 64));
    }

    /**
     * A Hugging Face snapshot of a single-file repo is a folder holding a checkpoint (or several: fp16 and
     * fp32 copies): use the one the downloader would have chosen.
     */
    private static Path singleCheckpointIn(Path model) {
        return HubCache.checkpointIn(model).orElse(model);
    }

    /**
     * The name A1111 shows: the folder's or the file's name without extension; for a Hugging Face cache snapshot,
     * {@code models--org--name/snapshots/<commit>}, the repo's name rather than the commit hash.
     */
    static String modelName(Path path) {
        Path abs = path.toAbsolutePath().normalize();
        Path snapshots = abs.getParent(), repo = snapshots == null ? null : snapshots.getParent();
        if (Files.isDirectory(abs) && repo != null && repo.getFileName() != null
                && snapshots.getFileName().toString().equals("snapshots") && repo.getFileName().toString().startsWith("models--")) {
            String folder = repo.getFileName().toString();  // repo ids never contain "--" (huggingface_hub refuses them)
            return folder.substring(folder.lastIndexOf("--") + 2);
        }
        String n = abs.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return Files.isDirectory(path) || dot <= 0 ? n : n.substring(0, dot);
    }

    /**
     * The published SD 1.5 or SD 2.1 architecture (built-in configs) with random weights of the given
     * dtype, made in memory: for benchmarks, since random weights cost exactly what real ones cost.
     */
    public static StableDiffusionModel randomWeights(ModelFamily family, DType dtype) {
        MissingJvmOptionException.requireVectorApi();
        JsonConfig unetConfig = BuiltinConfigs.read(family, "unet", "config.json");
        return new StableDiffusionModel(family.builtInConfigs() + " (random weights)",
                ClipTokenizer.load(BuiltinConfigs.tokenizerDir(family)),
                new ClipTextModel(ClipTextConfig.from(BuiltinConfigs.read(family, "text_encoder", "config.json")),
                        new RandomWeights(dtype, 1)),
                new UNet2DConditionModel(UNet2DConditionConfig.from(unetConfig), new RandomWeights(dtype, 2)),
                new AutoencoderKL(AutoencoderKLConfig.from(BuiltinConfigs.read(family, "vae", "config.json")),
                        new RandomWeights(dtype, 3)),
                BuiltinConfigs.read(family, "scheduler", "scheduler_config.json"),
                unetConfig.getInt("sample_size", 64));
    }
}
