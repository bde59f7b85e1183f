package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.ClipImageProcessor;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.io.checkpoint.BuiltinConfigs;
import dev.jdiffusion.io.checkpoint.ModelFamily;
import dev.jdiffusion.models.safety.StableDiffusionSafetyChecker;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.FlopCounter;

import java.util.Random;
import java.util.function.Consumer;

/**
 * Times the safety checker on one generated image: SD 1.5's checker (CLIP ViT-L/14: 24 layers of width 1024,
 * 257 tokens; built-in config, random weights of the given dtype cost what real ones cost) or a model's own,
 * preprocessing (Pillow-exact bicubic resize to 224, crop, normalisation) and scoring apart; what generate pays
 * per image is the sum ({@link SafetyCheckerStep#score}).
 */
public final class SafetyCheckerBenchmark {
    private SafetyCheckerBenchmark() {}

    /** Medians in seconds per image, and the vision tower's work (2 FLOP per multiply-add). */
    public record Result(double preprocessSeconds, double checkerSeconds, long flops) {
        public double totalSeconds() { return preprocessSeconds + checkerSeconds; }
    }

    /** SD 1.5's safety checker and feature extractor (built-in configs) with random weights. */
    public static SafetyCheckerStep sd15(DType dtype) {
        return new SafetyCheckerStep(
                ClipImageProcessor.from(BuiltinConfigs.read(ModelFamily.SD1, "feature_extractor", "preprocessor_config.json")),
                new StableDiffusionSafetyChecker(BuiltinConfigs.read(ModelFamily.SD1, "safety_checker", "config.json"),
                        new RandomWeights(dtype, 5)));
    }

    /** The checker's cost on one random {@code width × height} image, median of {@code repeat} runs after a warm-up. */
    public static Result run(SafetyCheckerStep step, int width, int height, int repeat, Consumer<String> log) {
        Random random = new Random(0);
        byte[] rgb = new byte[width * height * 3];
        random.nextBytes(rgb);
        RgbImage image = new RgbImage(width, height, rgb);
        float[][] pixels = new float[1][];
        double pre = Benchmark.median(repeat, log, "preprocess", () -> pixels[0] = step.processor().pixelValues(image));
        long before = FlopCounter.total();
        step.checker().forward(pixels[0], 1);
        long flops = FlopCounter.total() - before;
        double checker = Benchmark.median(repeat, log, "safety checker", () -> step.checker().forward(pixels[0], 1));
        return new Result(pre, checker, flops);
    }
}
