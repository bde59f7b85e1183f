package dev.jdiffusion.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.GenerationRequest;

import java.nio.file.Path;
import java.util.List;

/**
 * A txt2img or img2img request, validated and resolved: what the job computes. Image {@code i} of the
 * {@code batchSize × nIter} images uses seed {@code seeds.get(i)} (A1111: seed + i) and is generated on its own, so
 * it equals a single-image request with that seed.
 *
 * @param mask            img2img inpainting: the mask over the init images (white = repaint), or null
 * @param paddingMaskCrop "inpaint only masked" (A1111's inpaint_full_res) with this padding in pixels, or null
 * @param loraDir         where the prompt's {@code <lora:NAME:SCALE>} tags find their files (--lora-dir), or null
 * @param embeddingsDir   the textual-inversion embeddings the prompts may use (--embeddings-dir), or null
 * @param parameters the request as the client sent it, with A1111's defaults filled in (echoed back)
 */
record GenerationPlan(String taskId, boolean img2img, ModelRegistry.Checkpoint checkpoint, boolean keepCheckpoint,
                      String prompt, String negativePrompt, List<Long> seeds, List<Long> subseeds,
                      Samplers.Resolved sampler, int steps, double cfgScale, int width, int height, int batchSize,
                      int nIter, int clipSkip, List<RgbImage> initImages, double denoisingStrength,
                      PilImage mask, Integer paddingMaskCrop, Path loraDir, Path embeddingsDir, boolean sendImages,
                      boolean saveImages, ObjectNode parameters) {

    int imageCount() { return seeds.size(); }

    /**
     * The library request for image {@code i}. This is where request fields reach {@link GenerationRequest}: new
     * fields of the library (LoRA, a mask, ...) are set here from what {@link RequestMapper} read.
     */
    GenerationRequest request(int i) {
        GenerationRequest.Builder b = GenerationRequest.builder(prompt).negativePrompt(negativePrompt).steps(steps)
                .guidanceScale(cfgScale).sampler(sampler.ours()).seed(seeds.get(i)).size(width, height).batchSize(1)
                .clipSkip(clipSkip).loraDirectory(loraDir).embeddingsDirectory(embeddingsDir);
        if (img2img) b.initImage(initImages.get(i % batchSize % initImages.size()), denoisingStrength);
        if (mask != null) b.mask(mask).paddingMaskCrop(paddingMaskCrop);
        return b.build();
    }
}
