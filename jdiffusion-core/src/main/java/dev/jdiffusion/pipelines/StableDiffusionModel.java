package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.adapters.LoraFile;
import dev.jdiffusion.io.adapters.LoraMerge;
import dev.jdiffusion.io.adapters.RecordingWeights;
import dev.jdiffusion.pipelines.prompt.TextualInversions;
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
import java.util.Map;

/**
 * A loaded Stable Diffusion model: its parts, built once from a diffusers folder, a single-file
 * checkpoint, or (for benchmarks) a published architecture with random weights. Weights stay mapped.
 *
 * @param name            what A1111 calls the model: the folder's or file's name
 * @param schedulerConfig the scheduler_config.json it ships with
 * @param sampleSize      the UNet's sample_size: latents per side at the default image size
 * @param adapters        the LoRAs and embeddings applied ({@link Adapters#NONE} as loaded)
 * @param embeddings      the textual-inversion embeddings the text encoder knows
 * @param base            the parts as loaded and the weights they read, from which {@link #withAdapters} derives models
 */
public record StableDiffusionModel(String name, ClipTokenizer tokenizer, ClipTextModel textEncoder,
                                   UNet2DConditionModel unet, AutoencoderKL vae, JsonConfig schedulerConfig,
                                   int sampleSize, Adapters adapters, TextualInversions embeddings, BaseParts base) {

    /**
     * The text encoder and UNet as loaded, with the weights they were built from and the names and shapes of the
     * tensors they read (null weights: built elsewhere, so LoRAs cannot be applied).
     */
    public record BaseParts(ClipTextModel textEncoder, UNet2DConditionModel unet, RecordingWeights textEncoderWeights,
                            RecordingWeights unetWeights) {}

    /** A model without adapters, from its parts (LoRAs cannot be applied to it: its weights are not known here). */
    public StableDiffusionModel(String name, ClipTokenizer tokenizer, ClipTextModel textEncoder, UNet2DConditionModel unet,
                                AutoencoderKL vae, JsonConfig schedulerConfig, int sampleSize) {
        this(name, tokenizer, textEncoder, unet, vae, schedulerConfig, sampleSize, Adapters.NONE,
                TextualInversions.none(tokenizer, textEncoder.config().hiddenSize()), new BaseParts(textEncoder, unet, null, null));
    }

    /** A model as loaded, remembering the weights its text encoder and UNet read (what {@link #withAdapters} needs). */
    private static StableDiffusionModel loaded(String name, ClipTokenizer tokenizer, ClipTextConfig textConfig, WeightSource textWeights,
                                               UNet2DConditionConfig unetConfig, WeightSource unetWeights, AutoencoderKL vae,
                                               JsonConfig schedulerConfig, int sampleSize) {
        RecordingWeights te = new RecordingWeights(textWeights), un = new RecordingWeights(unetWeights);
        ClipTextModel textEncoder = new ClipTextModel(textConfig, te);
        UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig, un);
        return new StableDiffusionModel(name, tokenizer, textEncoder, unet, vae, schedulerConfig, sampleSize, Adapters.NONE,
                TextualInversions.none(tokenizer, textConfig.hiddenSize()), new BaseParts(textEncoder, unet, te, un));
    }

    /**
     * This model's base (as loaded) with exactly these adapters: LoRAs merged into the weights they adapt (merged
     * copies of those tensors only; everything else, and the VAE, is shared with this model), embeddings added to the
     * text encoder. Costs what the LoRAs touch, not the model. Adapters are not cumulative: {@code withAdapters(NONE)}
     * is the base model again.
     */
    public StableDiffusionModel withAdapters(Adapters adapters) {
        if (adapters.key().equals(this.adapters.key())) return this;
        ClipTextModel te = base.textEncoder();
        UNet2DConditionModel un = base.unet();
        if (!adapters.loras().isEmpty()) {
            if (base.textEncoderWeights() == null)
                throw new IllegalStateException("this model was built from parts without their weights; load it with "
                        + "StableDiffusionModel.load to apply LoRAs");
            LoraMerge.Plan plan = LoraMerge.plan(adapters.scaled(), Map.of(
                    LoraFile.Part.TEXT_ENCODER, base.textEncoderWeights().shapes(), LoraFile.Part.UNET, base.unetWeights().shapes()));
            if (plan.touches(LoraFile.Part.TEXT_ENCODER))
                te = new ClipTextModel(te.config(), LoraMerge.apply(base.textEncoderWeights().base(), plan.of(LoraFile.Part.TEXT_ENCODER)));
            if (plan.touches(LoraFile.Part.UNET))
                un = new UNet2DConditionModel(un.config(), LoraMerge.apply(base.unetWeights().base(), plan.of(LoraFile.Part.UNET)));
        }
        TextualInversions ti = TextualInversions.of(tokenizer, te.config().hiddenSize(), adapters.embeddings(), adapters.folderEmbeddings());
        if (!ti.entries().isEmpty()) te = te.withExtraTokens(ti.firstId(), ti.rows());
        return new StableDiffusionModel(name, tokenizer, te, un, vae, schedulerConfig, sampleSize, adapters, ti, base);
    }

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
        return loaded(name, ClipTokenizer.load(tokenizerDir), ClipTextConfig.from(textConfig), textWeights,
                UNet2DConditionConfig.from(unetConfig), unetWeights,
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
        return loaded(family.builtInConfigs() + " (random weights)",
                ClipTokenizer.load(BuiltinConfigs.tokenizerDir(family)),
                ClipTextConfig.from(BuiltinConfigs.read(family, "text_encoder", "config.json")), new RandomWeights(dtype, 1),
                UNet2DConditionConfig.from(unetConfig), new RandomWeights(dtype, 2),
                new AutoencoderKL(AutoencoderKLConfig.from(BuiltinConfigs.read(family, "vae", "config.json")),
                        new RandomWeights(dtype, 3)),
                BuiltinConfigs.read(family, "scheduler", "scheduler_config.json"),
                unetConfig.getInt("sample_size", 64));
    }
}
