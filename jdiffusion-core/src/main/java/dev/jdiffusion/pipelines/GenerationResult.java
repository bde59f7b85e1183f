package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.RgbImage;

import java.util.List;

/**
 * The images a request produced, with everything needed to reproduce them.
 *
 * @param request    the request as run (with its seed and resolved size)
 * @param images     one image per batch entry
 * @param parameters the generation parameters in AUTOMATIC1111's infotext format, one per image
 * @param nsfwContentDetected per image, whether the safety checker flagged it (and it was blacked out); null when no
 *                   safety checker ran (diffusers' {@code nsfw_content_detected})
 */
public record GenerationResult(GenerationRequest request, List<RgbImage> images, List<String> parameters,
                               List<Boolean> nsfwContentDetected) {
    public GenerationResult {
        images = List.copyOf(images);
        parameters = List.copyOf(parameters);
        if (nsfwContentDetected != null) {
            nsfwContentDetected = List.copyOf(nsfwContentDetected);
            if (nsfwContentDetected.size() != images.size())
                throw new IllegalArgumentException(nsfwContentDetected.size() + " safety flags for " + images.size() + " images");
        }
    }

    /**
     * Image {@code index} (0 for the first) with its parameters, ready to {@link GeneratedImage#save save} as a PNG
     * that carries them.
     *
     * @throws IndexOutOfBoundsException when the request made fewer images
     */
    public GeneratedImage image(int index) { return new GeneratedImage(images.get(index), parameters.get(index)); }

    /** Images no safety checker has seen. */
    public GenerationResult(GenerationRequest request, List<RgbImage> images, List<String> parameters) {
        this(request, images, parameters, null);
    }

    /** Whether image {@code i} was flagged by the safety checker (false when none ran). */
    public boolean nsfw(int i) { return nsfwContentDetected != null && nsfwContentDetected.get(i); }
}
