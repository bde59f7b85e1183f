package dev.jdiffusion.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.image.ClipImageProcessor;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.models.safety.StableDiffusionSafetyChecker;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * diffusers' {@code run_safety_checker}: a model's {@code feature_extractor} (CLIPImageProcessor) prepares each
 * finished 8-bit image, its {@code safety_checker} scores it, and a flagged image is replaced by an all-black one.
 * Loaded from a diffusers folder whose model_index.json names a safety checker; a folder that names one but
 * lacks its files, or holds broken ones, is an error — never an image silently left unchecked.
 */
public final class SafetyCheckerStep {
    /** Accepted model_index.json classes of the two parts (CLIPFeatureExtractor is the processor's old name). */
    private static final List<String> CHECKER_CLASSES = List.of("StableDiffusionSafetyChecker"),
            PROCESSOR_CLASSES = List.of("CLIPImageProcessor", "CLIPFeatureExtractor");

    /** What the step did to a batch: the images to keep (black where flagged), the flags and every score. */
    public record Checked(List<RgbImage> images, List<Boolean> nsfw, List<StableDiffusionSafetyChecker.Scores> scores) {}

    private final ClipImageProcessor processor;
    private final StableDiffusionSafetyChecker checker;

    public SafetyCheckerStep(ClipImageProcessor processor, StableDiffusionSafetyChecker checker) {
        this.processor = processor;
        this.checker = checker;
        if (processor.doCenterCrop() ? processor.cropHeight() != checker.imageSize() || processor.cropWidth() != checker.imageSize()
                : !processor.doResize() || processor.shortestEdge() != 0
                  || processor.resizeHeight() != checker.imageSize() || processor.resizeWidth() != checker.imageSize())
            throw new IllegalArgumentException("the feature extractor makes images of another size than the safety checker's "
                    + checker.imageSize() + "x" + checker.imageSize());
    }

    public ClipImageProcessor processor() { return processor; }

    public StableDiffusionSafetyChecker checker() { return checker; }

    /**
     * The safety checker of a model (a diffusers folder, a Hugging Face cache snapshot, or a single-file checkpoint),
     * as diffusers' from_pretrained loads it: empty when model_index.json names none (or the model is a single
     * file, which carries none); a {@link ModelFormatException} naming the file when it names one that is missing
     * or broken.
     */
    public static Optional<SafetyCheckerStep> forModel(Path model) {
        Path path = HubCache.checkpointIn(model).orElse(model);
        if (!Files.isDirectory(path)) return Optional.empty();
        DiffusersFolder folder = DiffusersFolder.open(path);
        Path index = folder.root().resolve("model_index.json");
        if (!named(folder, index, "safety_checker", CHECKER_CLASSES)) return Optional.empty();
        if (!named(folder, index, "feature_extractor", PROCESSOR_CLASSES))
            throw new ModelFormatException(index, "feature_extractor", "the pipeline has a safety checker but no feature"
                    + " extractor to prepare its images (expected [\"transformers\", \"CLIPImageProcessor\"])");
        Path checkerDir = folder.part("safety_checker"), processorFile = folder.part("feature_extractor").resolve("preprocessor_config.json");
        if (!Files.isDirectory(checkerDir))
            throw new ModelFormatException(checkerDir, null, "model_index.json names a safety checker but this folder is"
                    + " missing: download the model with it (jdiffusion download) or turn the checker off (--no-safety-checker)");
        if (!Files.isRegularFile(processorFile))
            throw new ModelFormatException(processorFile, null, "file not found: the safety checker's image preprocessing"
                    + " is missing (download the model with its safety checker, or turn the checker off: --no-safety-checker)");
        ClipImageProcessor processor = ClipImageProcessor.from(JsonConfig.read(processorFile));
        JsonConfig config = folder.config("safety_checker");
        StableDiffusionSafetyChecker checker = new StableDiffusionSafetyChecker(config,
                WeightSource.of(folder.weights("safety_checker", false)));
        try {
            return Optional.of(new SafetyCheckerStep(processor, checker));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(processorFile, "crop_size", e.getMessage() + " (" + config.file() + ")");
        }
    }

    /** Whether model_index.json lists the part with a class (diffusers writes [null, null] for an absent one). */
    private static boolean named(DiffusersFolder folder, Path index, String part, List<String> classes) {
        JsonNode entry = folder.modelIndex().root().get(part);
        if (entry == null || entry.isNull() || (entry.isArray() && entry.size() == 2 && entry.get(1).isNull())) return false;
        if (!entry.isArray() || entry.size() != 2 || !entry.get(1).isTextual())
            throw new ModelFormatException(index, part, "expected [\"library\", \"ClassName\"] or [null, null] but found " + entry);
        String cls = entry.get(1).asText();
        if (!classes.contains(cls))
            throw new ModelFormatException(index, part, "unsupported class " + cls + " (supported: " + String.join(", ", classes) + ")");
        return true;
    }

    /** The scores of each image (the 8-bit pixels as they are written). */
    public List<StableDiffusionSafetyChecker.Scores> score(List<RgbImage> images) {
        int n = images.size(), s = checker.imageSize();
        float[] pixels = new float[n * 3 * s * s];
        for (int i = 0; i < n; i++) {
            float[] one = processor.pixelValues(images.get(i));
            System.arraycopy(one, 0, pixels, i * one.length, one.length);
        }
        return checker.forward(pixels, n);
    }

    /** Scores the images and blacks out the flagged ones, as diffusers' pipelines return them. */
    public Checked apply(List<RgbImage> images) {
        List<StableDiffusionSafetyChecker.Scores> scores = score(images);
        List<RgbImage> kept = new ArrayList<>(images.size());
        List<Boolean> nsfw = new ArrayList<>(images.size());
        for (int i = 0; i < images.size(); i++) {
            RgbImage image = images.get(i);
            boolean flagged = scores.get(i).nsfw();
            nsfw.add(flagged);
            kept.add(flagged ? new RgbImage(image.width(), image.height(), new byte[image.rgb().length]) : image);
        }
        return new Checked(List.copyOf(kept), List.copyOf(nsfw), List.copyOf(scores));
    }
}
