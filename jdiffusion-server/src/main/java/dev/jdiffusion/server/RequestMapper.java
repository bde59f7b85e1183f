package dev.jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.GenerationParameters;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Reads A1111's {@code StableDiffusionProcessingTxt2Img}/{@code Img2Img} JSON into a {@link GenerationPlan}: A1111's
 * field names, types and defaults (steps 50, cfg_scale 7, sampler "Euler", seed -1 = random, ...), unknown fields
 * ignored. Every refusal is one {@link ApiException} naming the field. Options whose effect jdiffusion does not
 * have (hires fix, tiling, variation seeds, scripts, ...) are refused when set, never silently ignored; a request
 * that leaves them at their defaults is fine.
 */
final class RequestMapper {
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    /**
     * Inpainting defaults when a request leaves them out: A1111's API model (StableDiffusionProcessingImg2Img's
     * inpaint_full_res true, "only masked", with 0 pixels of padding); A1111's web page sends both fields.
     */
    static final boolean INPAINT_FULL_RES = true;
    static final int INPAINT_FULL_RES_PADDING = 0;

    private final ObjectNode body;
    private final ObjectNode echo;
    private final ServerOptions options;
    private final Limits limits;

    private RequestMapper(JsonNode body, ServerOptions options) {
        if (body == null || !body.isObject()) throw new ApiException(422, null, "the request body must be a JSON object");
        this.body = (ObjectNode) body.deepCopy();
        this.options = options;
        this.limits = options.limits();
        this.echo = JSON.objectNode();
    }

    /** A1111's defaults for the fields this server reads, in A1111's order; echoed back in "parameters". */
    private void defaults(boolean img2img) {
        echo.put("prompt", "");
        echo.put("negative_prompt", "");
        echo.putArray("styles");
        echo.put("seed", -1);
        echo.put("subseed", -1);
        echo.put("subseed_strength", 0);
        echo.put("seed_resize_from_h", -1);
        echo.put("seed_resize_from_w", -1);
        echo.putNull("sampler_name");
        echo.putNull("scheduler");
        echo.put("batch_size", 1);
        echo.put("n_iter", 1);
        echo.put("steps", 50);
        echo.put("cfg_scale", 7.0);
        echo.put("width", 512);
        echo.put("height", 512);
        echo.putNull("restore_faces");
        echo.putNull("tiling");
        echo.put("do_not_save_samples", false);
        echo.put("do_not_save_grid", false);
        echo.putNull("eta");
        if (img2img) echo.put("denoising_strength", 0.75);
        else echo.putNull("denoising_strength");
        echo.putNull("s_min_uncond");
        echo.putNull("s_churn");
        echo.putNull("s_tmax");
        echo.putNull("s_tmin");
        echo.putNull("s_noise");
        echo.putObject("override_settings");
        echo.put("override_settings_restore_afterwards", true);
        echo.put("sampler_index", "Euler");
        echo.putNull("script_name");
        echo.putArray("script_args");
        echo.put("send_images", true);
        echo.put("save_images", false);
        echo.putObject("alwayson_scripts");
        echo.putNull("force_task_id");
        echo.putNull("infotext");
        if (img2img) {
            echo.putNull("init_images");
            echo.put("resize_mode", 0);
            echo.putNull("mask");
            echo.put("mask_blur", 4);
            echo.put("inpainting_fill", 0);
            echo.put("inpaint_full_res", INPAINT_FULL_RES);
            echo.put("inpaint_full_res_padding", INPAINT_FULL_RES_PADDING);
            echo.put("inpainting_mask_invert", 0);
            echo.putNull("image_cfg_scale");
            echo.put("include_init_images", false);
        } else {
            echo.put("enable_hr", false);
        }
    }

    static GenerationPlan txt2img(JsonNode body, ServerOptions options, ServerSettings settings, ModelRegistry registry, String taskId) {
        return new RequestMapper(body, options).map(false, settings, registry, taskId);
    }

    static GenerationPlan img2img(JsonNode body, ServerOptions options, ServerSettings settings, ModelRegistry registry, String taskId) {
        return new RequestMapper(body, options).map(true, settings, registry, taskId);
    }

    private GenerationPlan map(boolean img2img, ServerSettings settings, ModelRegistry registry, String taskId) {
        defaults(img2img);
        applyInfotext();
        body.properties().forEach(e -> {
            if (echo.has(e.getKey())) echo.set(e.getKey(), e.getValue());
        });

        refuseUnlessDefault("restore_faces", false, "face restoration is not available");
        refuseUnlessDefault("tiling", false, "tiling is not available");
        refuseUnlessDefault("enable_hr", false, "hires. fix is not available; generate at the size you want, or upscale with img2img");
        double subseedStrength = number("subseed_strength", 0);
        if (subseedStrength != 0) throw ApiException.badField("subseed_strength", "variation seeds are not available (use 0)");
        if (integer("seed_resize_from_h", -1) > 0 || integer("seed_resize_from_w", -1) > 0)
            throw ApiException.badField("seed_resize_from_w", "resizing the seed is not available (use -1)");
        String script = string("script_name", null);
        if (script != null && !script.isEmpty()) throw new ApiException(422, "script_name", "script '" + script + "' not found");
        JsonNode always = body.get("alwayson_scripts");
        if (always != null && !always.isNull()) {
            if (!always.isObject()) throw ApiException.badField("alwayson_scripts", "must be an object");
            if (always.size() > 0)
                throw new ApiException(422, "alwayson_scripts", "always on script " + always.fieldNames().next() + " not found");
        }
        if (number("s_min_uncond", 0) != 0) throw ApiException.badField("s_min_uncond", "negative guidance minimum sigma is not available (use 0)");
        if (number("s_churn", 0) != 0) throw ApiException.badField("s_churn", "sigma churn is not available (use 0)");
        if (number("s_noise", 1) != 1) throw ApiException.badField("s_noise", "sigma noise is not available (use 1)");

        // Override settings: the model, CLIP skip; a switch holds for this request only unless asked otherwise.
        ModelRegistry.Checkpoint checkpoint = settings.checkpoint();
        int clipSkip = settings.clipSkip();
        JsonNode overrides = body.get("override_settings");
        if (overrides != null && !overrides.isNull()) {
            if (!overrides.isObject()) throw ApiException.badField("override_settings", "must be an object");
            for (Map.Entry<String, JsonNode> e : overrides.properties()) {
                String key = "override_settings." + e.getKey();
                JsonNode v = e.getValue();
                switch (e.getKey()) {
                    case "sd_model_checkpoint" -> {
                        if (!v.isTextual()) throw ApiException.badField(key, "must be a model title (see /sdapi/v1/sd-models)");
                        checkpoint = registry.find(v.asText(), key);
                    }
                    case "CLIP_stop_at_last_layers" -> clipSkip = ServerSettings.clipSkipValue(key, v);
                    case "sd_vae" -> {
                        if (!v.isTextual() || !(v.asText().equals("Automatic") || v.asText().equals("None")))
                            throw ApiException.badField(key, "only \"Automatic\" is available");
                    }
                    case "eta_noise_seed_delta" -> {
                        if (!v.isNumber() || v.asDouble() != 0) throw ApiException.badField(key, "only 0 is available");
                    }
                    default -> { /* other settings do not change what jdiffusion computes */ }
                }
            }
        }
        boolean keepCheckpoint = !bool("override_settings_restore_afterwards", true);

        String prompt = string("prompt", "");
        String negative = string("negative_prompt", "");
        JsonNode styles = body.get("styles");
        if (styles != null && !styles.isNull() && !styles.isArray()) throw ApiException.badField("styles", "must be a list of style names");

        String samplerName = string("sampler_name", null);
        if (samplerName == null || samplerName.isEmpty()) samplerName = string("sampler_index", "Euler");
        Samplers.Resolved sampler = Samplers.resolve(samplerName, string("scheduler", null));
        JsonNode eta = body.get("eta");
        if (eta != null && !eta.isNull()) {
            double e = number("eta", 0);
            if (sampler.ours().equals("ddim") && e != 0) throw ApiException.badField("eta", "DDIM runs with eta 0 only");
            if (sampler.ours().equals("euler_a") && e != 1) throw ApiException.badField("eta", "Euler a runs with eta 1 only");
        }

        int steps = (int) integer("steps", 50);
        if (steps < 1 || steps > limits.maxSteps())
            throw ApiException.badField("steps", "must be from 1 to " + limits.maxSteps() + ", got " + steps);
        double cfg = number("cfg_scale", 7.0);
        int defaultSize = registry.pipeline(checkpoint).model().defaultImageSize();
        int width = size("width", defaultSize), height = size("height", defaultSize);
        int batchSize = (int) integer("batch_size", 1), nIter = (int) integer("n_iter", 1);
        if (batchSize < 1) throw ApiException.badField("batch_size", "must be at least 1, got " + batchSize);
        if (nIter < 1) throw ApiException.badField("n_iter", "must be at least 1, got " + nIter);
        if ((long) batchSize * nIter > limits.maxImages())
            throw ApiException.badField("batch_size", "batch_size × n_iter = " + (long) batchSize * nIter
                    + " exceeds the limit of " + limits.maxImages() + " images per request");

        List<RgbImage> init = List.of();
        double strength = 0.75;
        PilImage mask = null;
        Integer paddingMaskCrop = null;
        if (img2img) {
            String maskField = string("mask", null);
            JsonNode initField = body.get("init_images");
            if (maskField != null && !maskField.isEmpty() && (initField == null || initField.isNull()))
                throw new ApiException(422, "mask", "a mask needs init_images: the picture whose masked part is repainted");
            init = initImages();
            if (init.size() > 1) {
                if (init.size() > batchSize)
                    throw ApiException.badField("init_images", "bad number of images passed: " + init.size()
                            + "; expecting " + batchSize + " or less");
                batchSize = init.size();
            }
            strength = number("denoising_strength", 0.75);
            if (!(strength > 0 && strength <= 1)) throw ApiException.badField("denoising_strength", "must be in (0, 1], got " + strength);
            if (integer("resize_mode", 0) != 0)
                throw ApiException.badField("resize_mode", "only 0 (just resize) is available");
            if (maskField != null && !maskField.isEmpty()) {
                mask = decodeMask(maskField, "mask", limits.maxInputPixels());
                long invert = integer("inpainting_mask_invert", 0);
                if (invert != 0 && invert != 1) throw ApiException.badField("inpainting_mask_invert", "must be 0 or 1, got " + invert);
                if (invert == 1) mask = inverted(mask);
                if (flag("inpaint_full_res", INPAINT_FULL_RES)) {
                    long padding = integer("inpaint_full_res_padding", INPAINT_FULL_RES_PADDING);
                    if (padding < 0 || padding > limits.maxSide())
                        throw ApiException.badField("inpaint_full_res_padding", "must be from 0 to " + limits.maxSide() + ", got " + padding);
                    paddingMaskCrop = (int) padding;
                }
            }
            // mask_blur and inpainting_fill are accepted and ignored: the library blends the repainted part with the
            // mask's own edge and starts the masked part from the init image (A1111's "original").
        }

        long seed = integer("seed", -1), subseed = integer("subseed", -1);
        if (seed < -1) throw ApiException.badField("seed", "must be -1 (random) or a seed of 0 or more, got " + seed);
        if (seed == -1) seed = ThreadLocalRandom.current().nextLong(4294967294L);
        if (subseed < -1) throw ApiException.badField("subseed", "must be -1 (random) or 0 or more, got " + subseed);
        if (subseed == -1) subseed = ThreadLocalRandom.current().nextLong(4294967294L);
        int n = batchSize * nIter;
        List<Long> seeds = new ArrayList<>(n), subseeds = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            seeds.add(seed + i);
            subseeds.add(subseed + i);
        }
        boolean send = bool("send_images", true), save = bool("save_images", false);
        if (img2img && !bool("include_init_images", false)) {
            echo.putNull("init_images");
            echo.putNull("mask");
        }
        return new GenerationPlan(taskId, img2img, checkpoint, keepCheckpoint, prompt, negative, seeds, subseeds, sampler,
                steps, cfg, width, height, batchSize, nIter, clipSkip, init, strength, mask, paddingMaskCrop,
                options.loraDir(), options.embeddingsDir(), send, save, echo);
    }

    /** A1111's "infotext" field: the parameters of a pasted infotext fill the fields the request leaves unset. */
    private void applyInfotext() {
        String text = string("infotext", null);
        if (text == null || text.isBlank()) return;
        Map<String, String> p = GenerationParameters.parse(text);
        fillText("prompt", p.get("Prompt"));
        fillText("negative_prompt", p.get("Negative prompt"));
        fillText("sampler_name", p.get("Sampler"));
        fillText("scheduler", p.get("Schedule type"));
        fillNumber("steps", p.get("Steps"));
        fillNumber("cfg_scale", p.get("CFG scale"));
        fillNumber("seed", p.get("Seed"));
        fillNumber("width", p.get("Size-1"));
        fillNumber("height", p.get("Size-2"));
        fillNumber("denoising_strength", p.get("Denoising strength"));
        String clip = p.get("Clip skip");
        if (clip != null && !clip.equals("1")) {
            JsonNode o = body.get("override_settings");
            ObjectNode overrides = o != null && o.isObject() ? (ObjectNode) o : body.putObject("override_settings");
            if (!overrides.has("CLIP_stop_at_last_layers")) {
                try {
                    overrides.put("CLIP_stop_at_last_layers", Integer.parseInt(clip.strip()));
                } catch (NumberFormatException e) {
                    throw ApiException.badField("infotext", "Clip skip '" + clip + "' is not a number");
                }
            }
        }
    }

    private void fillText(String field, String value) {
        if (value != null && (!body.has(field) || body.get(field).isNull())) body.put(field, value);
    }

    private void fillNumber(String field, String value) {
        if (value == null || (body.has(field) && !body.get(field).isNull())) return;
        try {
            body.put(field, new java.math.BigDecimal(value.strip()));
        } catch (NumberFormatException e) {
            throw ApiException.badField("infotext", field + " '" + value + "' is not a number");
        }
    }

    private List<RgbImage> initImages() {
        JsonNode list = body.get("init_images");
        if (list == null || list.isNull()) throw new ApiException(422, "init_images", "init image not found: img2img needs init_images");
        if (!list.isArray() || list.isEmpty()) throw ApiException.badField("init_images", "must be a non-empty list of base64 images");
        List<RgbImage> images = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String field = "init_images[" + i + "]";
            if (!list.get(i).isTextual()) throw ApiException.badField(field, "must be a base64 image string");
            images.add(decodeImage(list.get(i).asText(), field, limits.maxInputPixels()).image());
        }
        return images;
    }

    /** A base64 image (optionally a data: URI), A1111's decode_base64_to_image without fetching URLs. */
    static PngFiles.Read decodeImage(String encoded, String field, long maxPixels) {
        return read(base64(encoded, field), field, maxPixels);
    }

    private static byte[] base64(String encoded, String field) {
        String s = encoded.strip();
        if (s.startsWith("http://") || s.startsWith("https://"))
            throw ApiException.badField(field, "URLs are not fetched; send the image as base64");
        if (s.startsWith("data:")) {
            int comma = s.indexOf(',');
            if (comma < 0) throw ApiException.badField(field, "data URI without data");
            s = s.substring(comma + 1);
        }
        byte[] bytes;
        try {
            bytes = Base64.getMimeDecoder().decode(s);
        } catch (IllegalArgumentException e) {
            throw ApiException.badField(field, "not valid base64 (" + e.getMessage() + ")");
        }
        if (bytes.length == 0) throw ApiException.badField(field, "empty image");
        return bytes;
    }

    private static PngFiles.Read read(byte[] bytes, String field, long maxPixels) {
        try {
            return PngFiles.decode(bytes, maxPixels);
        } catch (IOException e) {
            throw ApiException.badField(field, e.getMessage());
        }
    }

    /**
     * A1111's inpainting mask: white (grey ≥ 128) is repainted, black kept. Decoded as init_images are (same errors,
     * naming {@code field}), kept in its own mode; a mask with transparency is read from its alpha channel, as A1111's
     * create_binary_mask does.
     */
    static PilImage decodeMask(String encoded, String field, long maxPixels) {
        byte[] bytes = base64(encoded, field);
        read(bytes, field, maxPixels);  // the same checks and messages as an init image
        PilImage pixels;
        try {
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
            if (img == null) throw ApiException.badField(field, "not an image format jdiffusion can read (PNG, JPEG, BMP, GIF)");
            pixels = PilImage.fromBufferedImage(img);
        } catch (IOException | RuntimeException e) {
            if (e instanceof ApiException a) throw a;
            throw ApiException.badField(field, "cannot decode image: " + e.getMessage());
        }
        if (pixels.mode().alpha) {
            int bands = pixels.mode().bands;
            byte[] alpha = new byte[pixels.width() * pixels.height()];
            boolean opaque = true;
            for (int p = 0; p < alpha.length; p++) {
                alpha[p] = pixels.pixels()[p * bands + bands - 1];
                opaque &= alpha[p] == (byte) 255;
            }
            return opaque ? pixels.convert(PilImage.Mode.L) : new PilImage(pixels.width(), pixels.height(), PilImage.Mode.L, alpha);
        }
        return pixels;
    }

    /** A1111's inpainting_mask_invert: ImageOps.invert of the grey mask (what was repainted is kept and the reverse). */
    static PilImage inverted(PilImage mask) {
        PilImage grey = mask.convert(PilImage.Mode.L);
        byte[] out = new byte[grey.pixels().length];
        for (int i = 0; i < out.length; i++) out[i] = (byte) (255 - (grey.pixels()[i] & 0xff));
        return new PilImage(grey.width(), grey.height(), PilImage.Mode.L, out);
    }

    private void refuseUnlessDefault(String field, boolean dflt, String why) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return;
        if (!v.isBoolean()) throw ApiException.badField(field, "must be true or false");
        if (v.asBoolean() != dflt) throw ApiException.badField(field, why);
    }

    private int size(String field, int dflt) {
        long v = integer(field, dflt);
        if (v < 8 || v % 8 != 0 || v > limits.maxSide())
            throw ApiException.badField(field, "must be a multiple of 8 from 8 to " + limits.maxSide() + ", got " + v);
        return (int) v;
    }

    private String string(String field, String dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isTextual()) throw ApiException.badField(field, "must be a string, got " + v.getNodeType().name().toLowerCase());
        return v.asText();
    }

    private long integer(String field, long dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (v.isIntegralNumber() && v.canConvertToLong()) return v.asLong();
        if (v.isNumber() && v.asDouble() == Math.rint(v.asDouble()) && Math.abs(v.asDouble()) < 1e18) return (long) v.asDouble();
        throw ApiException.badField(field, "must be an integer, got " + v);
    }

    private double number(String field, double dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber() || !Double.isFinite(v.asDouble())) throw ApiException.badField(field, "must be a number, got " + v);
        return v.asDouble();
    }

    /** A1111's bool fields that clients also send as 0/1. */
    private boolean flag(String field, boolean dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (v.isBoolean()) return v.asBoolean();
        if (v.isIntegralNumber() && (v.asLong() == 0 || v.asLong() == 1)) return v.asLong() == 1;
        throw ApiException.badField(field, "must be true or false (or 1 or 0), got " + v);
    }

    private boolean bool(String field, boolean dflt) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) return dflt;
        if (!v.isBoolean()) throw ApiException.badField(field, "must be true or false, got " + v);
        return v.asBoolean();
    }

    static ArrayNode strings(List<String> values) {
        ArrayNode a = JSON.arrayNode();
        values.forEach(a::add);
        return a;
    }
}
