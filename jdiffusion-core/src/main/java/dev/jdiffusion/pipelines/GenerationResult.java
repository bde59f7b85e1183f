package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.RgbImage;

import java.util.List;

/**
 * The images a request produced, with everything needed to reproduce them.
 *
 * @param request    the request as run (with its seed and resolved size)
 * @param images     one image per batch entry
 * @param parameters the generation parameters in AUTOMATIC1111's infotext format, one per image
 */
public record GenerationResult(GenerationRequest request, List<RgbImage> images, List<String> parameters) {
    public GenerationResult {
        images = List.copyOf(images);
        parameters = List.copyOf(parameters);
    }

    /**
     * Image {@code index} (0 for the first) with its parameters, ready to {@link GeneratedImage#save save} as a PNG
     * that carries them.
     *
     * @throws IndexOutOfBoundsException when the request made fewer images
     */
    public GeneratedImage image(int index) { return new GeneratedImage(images.get(index), parameters.get(index)); }
}
