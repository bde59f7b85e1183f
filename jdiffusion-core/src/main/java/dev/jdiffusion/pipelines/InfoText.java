package dev.jdiffusion.pipelines;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Generation parameters in the text format AUTOMATIC1111 stores in a PNG's {@code parameters} chunk,
 * which its PNG-info tab and image sites read back:
 * <pre>
 * prompt
 * Negative prompt: negative
 * Steps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: name
 * </pre>
 */
public final class InfoText {
    private InfoText() {}

    /**
     * A1111's label and schedule type for each of our sampler names. "Automatic" means the sampler's own default
     * scheduler in A1111 1.9+, which for "DPM++ 2M" is Karras: plain dpmpp_2m must say "Uniform" (the model's own
     * sigmas, as A1111's samplers without a default scheduler use them), or A1111 would redo it with Karras sigmas.
     */
    public record SamplerLabel(String sampler, String scheduleType) {}

    public static SamplerLabel label(String sampler) {
        return switch (sampler) {
            case "ddim" -> new SamplerLabel("DDIM", "Automatic");
            case "pndm" -> new SamplerLabel("PLMS", "Automatic");
            case "lms" -> new SamplerLabel("LMS", "Automatic");
            case "euler" -> new SamplerLabel("Euler", "Automatic");
            case "euler_a" -> new SamplerLabel("Euler a", "Automatic");
            case "heun" -> new SamplerLabel("Heun", "Automatic");
            case "dpmpp_2m" -> new SamplerLabel("DPM++ 2M", "Uniform");
            case "dpmpp_2m_karras" -> new SamplerLabel("DPM++ 2M", "Karras");
            case "unipc" -> new SamplerLabel("UniPC", "Automatic");
            case "ddpm" -> new SamplerLabel("DDPM", "Automatic");
            default -> new SamplerLabel(sampler, "Automatic");
        };
    }

    /**
     * @param sampler  the sampler actually used (our name)
     * @param model    the model's name (folder or file name without extension)
     * @param index    position of this image in the batch (0-based)
     */
    public static String format(GenerationRequest r, String sampler, int width, int height, String model, int index) {
        return format(r, r.prompt(), sampler, width, height, model, index, Map.of());
    }

    /**
     * @param prompt the prompt line (the request's, with tags for LoRAs given outside it)
     * @param extra  more fields (A1111's "Lora hashes", "TI hashes"), written before Version
     */
    public static String format(GenerationRequest r, String prompt, String sampler, int width, int height, String model, int index,
                                Map<String, String> extra) {
        StringBuilder sb = new StringBuilder(prompt);
        if (!r.negativePrompt().isEmpty()) sb.append("\nNegative prompt: ").append(r.negativePrompt());
        SamplerLabel label = label(sampler);
        Map<String, String> p = new LinkedHashMap<>();
        p.put("Steps", Integer.toString(r.steps()));
        p.put("Sampler", label.sampler());
        p.put("Schedule type", label.scheduleType());
        p.put("CFG scale", number(r.guidanceScale()));
        p.put("Seed", Long.toString(r.seed()));
        p.put("Size", width + "x" + height);
        p.put("Model", model);
        if (r.isImageToImage()) p.put("Denoising strength", number(r.strength()));
        if (r.clipSkip() > 1) p.put("Clip skip", Integer.toString(r.clipSkip()));
        if (r.isInpainting()) {
            p.put("Mask blur", "0");
            if (r.paddingMaskCrop() != null) {
                p.put("Inpaint area", "Only masked");
                p.put("Masked area padding", Integer.toString(r.paddingMaskCrop()));
            }
        }
        for (int i = 0; i < r.controlNets().size(); i++) p.put("ControlNet " + i, controlNet(r.controlNets().get(i), r.guessMode()));
        if (r.batchSize() > 1) {
            p.put("Batch size", Integer.toString(r.batchSize()));
            p.put("Batch pos", Integer.toString(index));
        }
        p.putAll(extra);
        p.put("Version", "jdiffusion");
        sb.append('\n');
        boolean first = true;
        for (var e : p.entrySet()) {
            if (!first) sb.append(", ");
            first = false;
            sb.append(e.getKey()).append(": ").append(quoteIfNeeded(e.getValue()));
        }
        return sb.toString();
    }

    /** A ControlNet unit as the A1111 ControlNet extension writes it (quoted by the caller: it holds commas). */
    static String controlNet(ControlNetUnit u, boolean guessMode) {
        StringBuilder sb = new StringBuilder();
        if (u.preprocessor() == null) {
            sb.append("Module: none");
        } else {
            sb.append("Module: canny");
        }
        sb.append(", Model: ").append(u.model().name()).append(", Weight: ").append(number(u.scale()))
                .append(", Resize Mode: Just Resize");
        if (u.preprocessor() != null) {
            double[] t = dev.jdiffusion.image.Canny.parseSpec(u.preprocessor());
            sb.append(", Threshold A: ").append(number(t[0])).append(", Threshold B: ").append(number(t[1]));
        }
        sb.append(", Guidance Start: ").append(number(u.guidanceStart())).append(", Guidance End: ").append(number(u.guidanceEnd()));
        if (guessMode) sb.append(", Guess Mode: True");
        return sb.toString();
    }

    /** 7.5 → "7.5", 7.0 → "7" as A1111 prints numbers. */
    static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /** A1111 quotes values holding commas, colons or quotes so the line stays parseable. */
    static String quoteIfNeeded(String v) {
        if (v.indexOf(',') < 0 && v.indexOf(':') < 0 && v.indexOf('"') < 0 && v.indexOf('\n') < 0) return v;
        return '"' + v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + '"';
    }
}
