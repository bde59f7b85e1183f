package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.RgbImage;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One text-to-image, image-to-image or inpainting request, optionally steered by ControlNets. Immutable; build
 * it with {@link #builder(String)}.
 *
 * @param sampler     a sampler name ({@code euler_a}, {@code dpmpp_2m_karras}, ...), or null for the
 *                    scheduler the model ships with
 * @param width       image width in pixels, or 0 for the model's default (for img2img: the init image's)
 * @param height      image height in pixels, or 0 likewise
 * @param clipSkip    AUTOMATIC1111's "Clip skip": 1 uses the text encoder's last layer, 2 the penultimate
 *                    one after the final layer norm (diffusers' {@code clip_skip=1}), and so on
 * @param initImage   the image to start from (img2img), or null for text-to-image
 * @param strength    how much of the init image to replace with noise, in (0, 1]; ignored without one
 * @param promptSyntax how the prompts are read: A1111's emphasis, BREAK, long prompts and {@code <lora:...>} tags
 *                    (the default), or diffusers' plain text
 * @param loras       LoRAs to apply besides those the prompt's tags name
 * @param embeddings  textual-inversion embedding files (.pt, .safetensors, .bin)
 * @param loraDirectory       where {@code <lora:NAME:SCALE>} tags find NAME.safetensors; null when the prompt has none
 * @param embeddingsDirectory a folder whose every embedding file is loaded (those made for another text-encoder width
 *                    are skipped unless the prompt uses them); null for none
 * @param mask        inpainting: white (≥ 128 once grey) is repainted, black kept; any size (resized to the
 *                    image's), in its own mode (grey or colour); null for none
 * @param paddingMaskCrop A1111's "inpaint only masked" with this many pixels of padding (diffusers'
 *                    {@code padding_mask_crop}): only the region around the mask is generated, at full size,
 *                    and pasted back; null to generate the whole picture
 * @param controlNets the ControlNets steering the generation, in order (empty for none)
 * @param guessMode   ControlNet guess mode (A1111's "ControlNet is more important"-style): the nets see only
 *                    the prompt, and their deeper residuals count more
 */
public record GenerationRequest(
        String prompt,
        String negativePrompt,
        int steps,
        double guidanceScale,
        String sampler,
        long seed,
        int width,
        int height,
        int batchSize,
        int clipSkip,
        RgbImage initImage,
        double strength,
        dev.jdiffusion.pipelines.prompt.PromptSyntax promptSyntax,
        java.util.List<Lora> loras,
        java.util.List<java.nio.file.Path> embeddings,
        java.nio.file.Path loraDirectory,
        java.nio.file.Path embeddingsDirectory,
        PilImage mask,
        Integer paddingMaskCrop,
        List<ControlNetUnit> controlNets,
        boolean guessMode) {

    public GenerationRequest {
        Objects.requireNonNull(prompt, "prompt");
        if (negativePrompt == null) negativePrompt = "";
        if (steps < 1) throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        if (clipSkip < 1) throw new IllegalArgumentException("clip skip must be at least 1, got " + clipSkip);
        if (width < 0 || height < 0) throw new IllegalArgumentException("width and height must be positive");
        if (initImage != null && !(strength > 0 && strength <= 1))
            throw new IllegalArgumentException("strength must be in (0, 1], got " + strength);
        if (!Double.isFinite(guidanceScale)) throw new IllegalArgumentException("guidance scale must be a number");
        if (promptSyntax == null) promptSyntax = dev.jdiffusion.pipelines.prompt.PromptSyntax.A1111;
        loras = loras == null ? java.util.List.of() : java.util.List.copyOf(loras);
        embeddings = embeddings == null ? java.util.List.of() : java.util.List.copyOf(embeddings);
        controlNets = controlNets == null ? List.of() : List.copyOf(controlNets);
        if (paddingMaskCrop != null && paddingMaskCrop < 0)
            throw new IllegalArgumentException("padding mask crop must be at least 0 pixels, got " + paddingMaskCrop);
    }

    /** True with a mask: the masked part of the init image is repainted. */
    public boolean isInpainting() { return mask != null; }

    public boolean isImageToImage() { return initImage != null; }

    public static Builder builder(String prompt) { return new Builder(prompt); }

    /** A builder with diffusers' defaults (20 steps here, as the web UIs use; CFG 7.5; a random seed). */
    public Builder toBuilder() {
        Builder b = new Builder(prompt);
        b.negativePrompt = negativePrompt; b.steps = steps; b.guidanceScale = guidanceScale; b.sampler = sampler;
        b.seed = seed; b.width = width; b.height = height; b.batchSize = batchSize; b.clipSkip = clipSkip;
        b.initImage = initImage; b.strength = strength;
        b.promptSyntax = promptSyntax; b.loras = new java.util.ArrayList<>(loras); b.embeddings = new java.util.ArrayList<>(embeddings);
        b.loraDirectory = loraDirectory; b.embeddingsDirectory = embeddingsDirectory;
        b.mask = mask; b.paddingMaskCrop = paddingMaskCrop; b.controlNets = new ArrayList<>(controlNets); b.guessMode = guessMode;
        return b;
    }

    /** Builds a {@link GenerationRequest}; starts from diffusers' defaults (see {@link #toBuilder()}). */
    public static final class Builder {
        private final String prompt;
        private String negativePrompt = "";
        private int steps = 20;
        private double guidanceScale = 7.5;
        private String sampler;
        private Long seed;
        private int width, height;
        private int batchSize = 1;
        private int clipSkip = 1;
        private RgbImage initImage;
        private double strength = 0.75;
        private dev.jdiffusion.pipelines.prompt.PromptSyntax promptSyntax = dev.jdiffusion.pipelines.prompt.PromptSyntax.A1111;
        private java.util.List<Lora> loras = new java.util.ArrayList<>();
        private java.util.List<java.nio.file.Path> embeddings = new java.util.ArrayList<>();
        private java.nio.file.Path loraDirectory, embeddingsDirectory;
        private PilImage mask;
        private Integer paddingMaskCrop;
        private List<ControlNetUnit> controlNets = new ArrayList<>();
        private boolean guessMode;

        private Builder(String prompt) { this.prompt = prompt; }

        public Builder negativePrompt(String v) { negativePrompt = v; return this; }
        public Builder steps(int v) { steps = v; return this; }
        public Builder guidanceScale(double v) { guidanceScale = v; return this; }
        public Builder sampler(String v) { sampler = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder size(int w, int h) { width = w; height = h; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder clipSkip(int v) { clipSkip = v; return this; }
        public Builder initImage(RgbImage image, double strength) { initImage = image; this.strength = strength; return this; }
        public Builder promptSyntax(dev.jdiffusion.pipelines.prompt.PromptSyntax v) { promptSyntax = v; return this; }
        /** Adds a LoRA (several add up). */
        public Builder lora(Lora v) { loras.add(v); return this; }
        public Builder lora(java.nio.file.Path file, double scale) { return lora(Lora.of(file, scale)); }
        /** Adds a textual-inversion embedding file. */
        public Builder embedding(java.nio.file.Path file) { embeddings.add(file); return this; }
        public Builder loraDirectory(java.nio.file.Path v) { loraDirectory = v; return this; }
        public Builder embeddingsDirectory(java.nio.file.Path v) { embeddingsDirectory = v; return this; }
        /** Inpainting: the mask over the init image (white = repaint). */
        public Builder mask(PilImage v) { mask = v; return this; }
        public Builder mask(RgbImage v) { mask = v == null ? null : PilImage.of(v); return this; }
        /** "Inpaint only masked" with this padding in pixels; null for the whole picture. */
        public Builder paddingMaskCrop(Integer pixels) { paddingMaskCrop = pixels; return this; }
        /** Adds a ControlNet (several make a multi-ControlNet, applied in the order added). */
        public Builder controlNet(ControlNetUnit unit) { controlNets.add(Objects.requireNonNull(unit, "unit")); return this; }
        public Builder controlNets(List<ControlNetUnit> units) { controlNets = new ArrayList<>(units); return this; }
        public Builder guessMode(boolean v) { guessMode = v; return this; }

        /** Builds the request; without an explicit seed a random one is chosen (and recorded in the request). */
        public GenerationRequest build() {
            long s = seed != null ? seed : ThreadLocalRandom.current().nextLong(0, 1L << 32);
            return new GenerationRequest(prompt, negativePrompt, steps, guidanceScale, sampler, s, width, height,
                    batchSize, clipSkip, initImage, strength, promptSyntax, loras, embeddings, loraDirectory, embeddingsDirectory,
                    mask, paddingMaskCrop, controlNets, guessMode);
        }
    }
}
