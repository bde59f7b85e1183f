package dev.jdiffusion.io.checkpoint;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFiles;
import dev.jdiffusion.io.ckpt.CkptFile;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.WeightSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A whole SD 1.x / 2.x pipeline in one file, in the original Stable Diffusion layout that most community
 * checkpoints use ({@code model.diffusion_model.*}, {@code first_stage_model.*}, {@code cond_stage_model.*}),
 * seen as diffusers' parts: a config and a {@link WeightSource} under diffusers' names for the UNet, the
 * VAE and the text encoder, the tokenizer files and the scheduler config — what diffusers'
 * {@code from_single_file} builds. No tensor is copied.
 *
 * <p>Configs come from a diffusers config folder when one is given ({@code from_single_file(config=...)}),
 * else from the built-in SD 1.5 / SD 2.1 configs, which must then fit the weights.
 */
public final class SingleFileCheckpoint {
    /** The global step of Stability's SD 2.x 512-base checkpoints; diffusers takes it to mean epsilon prediction. */
    static final long SD2_BASE_GLOBAL_STEP = 875000;

    private final TensorFile file;
    private final FamilyDetector.Detection detection;
    private final Path configDir;
    private final JsonConfig unetConfig, vaeConfig, textEncoderConfig, schedulerConfig;
    private final MappedWeights unet, vae, textEncoder;

    private SingleFileCheckpoint(TensorFile file, FamilyDetector.Detection detection, Path configDir,
                                 JsonConfig unetConfig, JsonConfig vaeConfig, JsonConfig textEncoderConfig,
                                 JsonConfig schedulerConfig) {
        this.file = file;
        this.detection = detection;
        this.configDir = configDir;
        this.unetConfig = unetConfig;
        this.vaeConfig = vaeConfig;
        this.textEncoderConfig = textEncoderConfig;
        this.schedulerConfig = schedulerConfig;
        this.unet = new MappedWeights(file, LdmKeyMaps.unet(unetConfig), "unet");
        this.vae = new MappedWeights(file, LdmKeyMaps.vae(vaeConfig, file), "vae");
        this.textEncoder = new MappedWeights(file, detection.family() == ModelFamily.SD2
                ? LdmKeyMaps.openClip(textEncoderConfig) : LdmKeyMaps.clip(file), "text_encoder");
    }

    /**
     * Opens a single-file checkpoint.
     *
     * @param file           a .safetensors file, or a pickled PyTorch .ckpt (read safely, never executed)
     * @param configDir      a diffusers folder whose unet/, vae/, text_encoder/, tokenizer/ and scheduler/
     *                       configs describe the weights; null for the built-in SD 1.5 / SD 2.1 configs
     * @param predictionType what the UNet predicts, overriding the scheduler config; null to keep the
     *                       config's (built-in: epsilon for SD 1.x, v_prediction for SD 2.x)
     */
    public static SingleFileCheckpoint open(Path file, Path configDir, PredictionType predictionType) {
        TensorFile tensors = TensorFiles.open(file);
        Long globalStep = tensors instanceof CkptFile ckpt ? ckpt.globalStep() : null;
        return open(tensors, globalStep, configDir, predictionType);
    }

    /**
     * Opens a single-file checkpoint from any tensor file reader.
     *
     * @param globalStep the training step the checkpoint records (a .ckpt's {@code global_step}), or null:
     *                   as in diffusers, an SD 2.x checkpoint at step 875000 is the 512-base model (epsilon),
     *                   any other the 768-v model (v_prediction)
     */
    public static SingleFileCheckpoint open(TensorFile file, Long globalStep, Path configDir, PredictionType predictionType) {
        FamilyDetector.Detection detection = FamilyDetector.detect(file);
        ModelFamily family = detection.family();
        JsonConfig unet, vae, text, scheduler;
        if (configDir != null) {
            if (!Files.isDirectory(configDir))
                throw new ModelFormatException(configDir, null, "config folder not found");
            unet = JsonConfig.read(configDir.resolve("unet").resolve("config.json"));
            vae = JsonConfig.read(configDir.resolve("vae").resolve("config.json"));
            text = JsonConfig.read(configDir.resolve("text_encoder").resolve("config.json"));
            scheduler = JsonConfig.read(configDir.resolve("scheduler").resolve("scheduler_config.json"));
            if (!Files.isDirectory(configDir.resolve("tokenizer")))
                throw new ModelFormatException(configDir.resolve("tokenizer"), null, "tokenizer folder not found");
        } else {
            if (!detection.standardSize())
                throw new ModelFormatException(file.file(), null, "a " + family.label() + " checkpoint whose sizes differ"
                        + " from the published model (" + String.join("; ", detection.nonStandard()) + "): the built-in "
                        + family.builtInConfigs() + " configs do not fit; give the diffusers config folder of this model");
            unet = BuiltinConfigs.read(family, "unet", "config.json");
            vae = BuiltinConfigs.read(family, "vae", "config.json");
            text = BuiltinConfigs.read(family, "text_encoder", "config.json");
            scheduler = BuiltinConfigs.read(family, "scheduler", "scheduler_config.json");
            if (predictionType == null && family == ModelFamily.SD2 && globalStep != null && globalStep == SD2_BASE_GLOBAL_STEP)
                predictionType = PredictionType.EPSILON;
            if (FamilyDetector.isInpainting(file)) {
                // runwayml/stable-diffusion-inpainting, stabilityai/stable-diffusion-2-inpainting: 9 input channels; the
                // SD 2 one is a 512 px epsilon model (diffusers' "inpainting_v2" config).
                unet = unet.edited(o -> o.put("in_channels", FamilyDetector.INPAINTING_CHANNELS));
                if (predictionType == null && family == ModelFamily.SD2) predictionType = PredictionType.EPSILON;
            }
            if (family == ModelFamily.SD2 && predictionType == PredictionType.EPSILON) {
                // SD 2.1 512-base: trained at 512 px (sample_size 64), no attention upcast in its config.
                unet = unet.edited(o -> o.put("sample_size", 64).put("upcast_attention", false));
                vae = vae.edited(o -> o.put("sample_size", 512));
            }
        }
        if (predictionType != null) {
            String value = predictionType.configValue();
            scheduler = scheduler.edited(o -> o.put("prediction_type", value));
        }
        return new SingleFileCheckpoint(file, detection, configDir, unet, vae, text, scheduler);
    }

    public TensorFile file() { return file; }

    public ModelFamily family() { return detection.family(); }

    public FamilyDetector.Detection detection() { return detection; }

    /** True when the configs are the built-in SD 1.5 / SD 2.1 ones (no config folder was given). */
    public boolean builtInConfigs() { return configDir == null; }

    public JsonConfig unetConfig() { return unetConfig; }

    public JsonConfig vaeConfig() { return vaeConfig; }

    public JsonConfig textEncoderConfig() { return textEncoderConfig; }

    /** scheduler_config.json, with the prediction type override applied. */
    public JsonConfig schedulerConfig() { return schedulerConfig; }

    /** The prediction type the scheduler config now says. */
    public PredictionType predictionType() {
        return PredictionType.parse(schedulerConfig.getString("prediction_type", "epsilon"));
    }

    /** The UNet's weights under diffusers' names (UNet2DConditionModel). */
    public WeightSource unetWeights() { return unet; }

    /** The VAE's weights under diffusers' names (AutoencoderKL). */
    public WeightSource vaeWeights() { return vae; }

    /** The text encoder's weights under transformers' CLIPTextModel names. */
    public WeightSource textEncoderWeights() { return textEncoder; }

    /** A part's weights with the key map behind them, for the converter. */
    MappedWeights mappedWeights(String part) { return (MappedWeights) weights(part); }

    /** A config by diffusers' part name: "unet", "vae", "text_encoder" or "scheduler". */
    public JsonConfig config(String part) {
        return switch (part) {
            case "unet" -> unetConfig;
            case "vae" -> vaeConfig;
            case "text_encoder" -> textEncoderConfig;
            case "scheduler" -> schedulerConfig;
            default -> throw new IllegalArgumentException("no config for part '" + part + "'");
        };
    }

    /** Weights by diffusers' part name: "unet", "vae" or "text_encoder". */
    public WeightSource weights(String part) {
        return switch (part) {
            case "unet" -> unet;
            case "vae" -> vae;
            case "text_encoder" -> textEncoder;
            default -> throw new IllegalArgumentException("no weights for part '" + part + "'");
        };
    }

    /**
     * A folder with the tokenizer's files, as in a diffusers folder (vocab.json, merges.txt,
     * tokenizer_config.json, special_tokens_map.json): the config folder's tokenizer/, or the built-in
     * CLIP tokenizer (padding with {@code <|endoftext|>} for SD 1.x, {@code !} for SD 2.x).
     */
    public Path tokenizerDir() {
        return configDir != null ? configDir.resolve("tokenizer") : BuiltinConfigs.tokenizerDir(family());
    }

    @Override
    public String toString() { return file.file() + ": " + detection.describe(); }
}
