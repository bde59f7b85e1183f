package dev.jdiffusion.examples;

import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;

import java.nio.file.Path;

/**
 * Text to image in a few lines, as diffusers' documentation shows it in Python.
 * Arguments: a model (Hugging Face repo id in the local cache, diffusers folder or single file) and the output PNG.
 */
public final class GenerateImage {
    public static void main(String[] args) {
        String model = args.length > 0 ? args[0] : "stable-diffusion-v1-5/stable-diffusion-v1-5";
        Path output = Path.of(args.length > 1 ? args[1] : "astronaut.png");

        try (var pipe = StableDiffusionPipeline.fromPretrained(model)) {
            // The defaults (20 steps, CFG 7.5, the model's scheduler and size); a fixed seed makes it reproducible.
            var request = GenerationRequest.builder("A photo of an astronaut riding a horse on the moon").seed(42).build();
            var result = pipe.generate(request, (step, total) -> {
                System.out.printf("step %d/%d%n", step, total);
                return true;                                  // false cancels
            });
            var image = result.image(0);
            image.save(output);                               // PNG with its parameters
            System.out.println(output + " (" + image.width() + "x" + image.height() + ")");
            System.out.println(image.parameters());
        }
    }
}
