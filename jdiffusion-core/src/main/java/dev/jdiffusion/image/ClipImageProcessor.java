package dev.jdiffusion.image;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

/**
 * transformers' CLIPImageProcessor (alias CLIPFeatureExtractor), as a model's
 * {@code feature_extractor/preprocessor_config.json} configures it: resize so the shortest side is
 * {@code size.shortest_edge} (the long side {@code int(size * long / short)}, truncated) with Pillow's
 * resampling, centre crop to {@code crop_size} (top = (h − ch) // 2, zero padding if the image is smaller),
 * rescale (float64 {@code u8 × rescale_factor} cast to float32), then {@code (x − mean) / std} in float32,
 * channels first. Images are RGB as Pillow's {@code convert("RGB")} makes them ({@link PilConvert}).
 *
 * @param shortestEdge  the resize target of the shortest side, or 0 when {@code size} gives height and width
 * @param resizeHeight  with {@code size = {height, width}}: the exact size to resize to (else 0)
 */
public record ClipImageProcessor(boolean doResize, int shortestEdge, int resizeHeight, int resizeWidth,
                                 PilResize.Filter resample, boolean doCenterCrop, int cropHeight, int cropWidth,
                                 boolean doRescale, double rescaleFactor, boolean doNormalize,
                                 float[] imageMean, float[] imageStd) {

    /** OpenAI CLIP's normalisation, transformers' defaults. */
    public static final float[] OPENAI_CLIP_MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    public static final float[] OPENAI_CLIP_STD = {0.26862954f, 0.26130258f, 0.27577711f};

    /** What SD 1.x's feature_extractor/preprocessor_config.json says (and transformers' defaults). */
    public static ClipImageProcessor sd15() {
        return new ClipImageProcessor(true, 224, 0, 0, PilResize.Filter.BICUBIC, true, 224, 224, true, 1 / 255.0, true,
                OPENAI_CLIP_MEAN.clone(), OPENAI_CLIP_STD.clone());
    }

    /** Reads preprocessor_config.json: old-style integer {@code size}/{@code crop_size} or new-style dicts. */
    public static ClipImageProcessor from(JsonConfig c) {
        int shortest = 224, rh = 0, rw = 0;
        if (c.has("size")) {
            JsonNode size = c.root().get("size");
            if (size.isIntegralNumber()) shortest = positive(c, "size", size.asInt());
            else if (size.isObject() && size.has("shortest_edge")) shortest = positive(c, "size", intField(c, "size", size, "shortest_edge"));
            else if (size.isObject() && size.has("height") && size.has("width")) {
                shortest = 0;
                rh = positive(c, "size", intField(c, "size", size, "height"));
                rw = positive(c, "size", intField(c, "size", size, "width"));
            } else throw new ModelFormatException(c.file(), "size",
                    "expected an integer, {\"shortest_edge\": N} or {\"height\": H, \"width\": W} but found " + size);
        }
        int ch = 224, cw = 224;
        if (c.has("crop_size")) {
            JsonNode crop = c.root().get("crop_size");
            if (crop.isIntegralNumber()) ch = cw = positive(c, "crop_size", crop.asInt());
            else if (crop.isObject() && crop.has("height") && crop.has("width")) {
                ch = positive(c, "crop_size", intField(c, "crop_size", crop, "height"));
                cw = positive(c, "crop_size", intField(c, "crop_size", crop, "width"));
            } else throw new ModelFormatException(c.file(), "crop_size",
                    "expected an integer or {\"height\": H, \"width\": W} but found " + crop);
        }
        int resample = c.getInt("resample", 3);
        PilResize.Filter filter = switch (resample) {
            case 1 -> PilResize.Filter.LANCZOS;
            case 2 -> PilResize.Filter.BILINEAR;
            case 3 -> PilResize.Filter.BICUBIC;
            case 4 -> PilResize.Filter.BOX;
            case 5 -> PilResize.Filter.HAMMING;
            default -> throw new ModelFormatException(c.file(), "resample", "unsupported Pillow filter " + resample
                    + " (supported: 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING)");
        };
        if (!c.getBoolean("do_convert_rgb", true))
            throw new ModelFormatException(c.file(), "do_convert_rgb", "false is not supported (images are read as RGB)");
        return new ClipImageProcessor(c.getBoolean("do_resize", true), shortest, rh, rw, filter,
                c.getBoolean("do_center_crop", true), ch, cw,
                c.getBoolean("do_rescale", true), c.getDouble("rescale_factor", 1 / 255.0),
                c.getBoolean("do_normalize", true), triple(c, "image_mean", OPENAI_CLIP_MEAN), triple(c, "image_std", OPENAI_CLIP_STD));
    }

    private static int intField(JsonConfig c, String key, JsonNode obj, String field) {
        JsonNode v = obj.get(field);
        if (!v.isIntegralNumber()) throw new ModelFormatException(c.file(), key, "'" + field + "' must be an integer, found " + v);
        return v.asInt();
    }

    private static int positive(JsonConfig c, String key, int v) {
        if (v <= 0) throw new ModelFormatException(c.file(), key, "must be positive, got " + v);
        return v;
    }

    private static float[] triple(JsonConfig c, String key, float[] fallback) {
        if (!c.has(key)) return fallback.clone();
        JsonNode v = c.root().get(key);
        float[] out = new float[3];
        if (v.isNumber()) java.util.Arrays.fill(out, (float) v.asDouble());
        else if (v.isArray() && v.size() == 3) for (int i = 0; i < 3; i++) {
            if (!v.get(i).isNumber()) throw new ModelFormatException(c.file(), key, "expected 3 numbers but found " + v);
            out[i] = (float) v.get(i).asDouble();
        }
        else throw new ModelFormatException(c.file(), key, "expected 3 numbers (R, G, B) but found " + v);
        if (key.equals("image_std")) for (float s : out)
            if (!(s != 0)) throw new ModelFormatException(c.file(), key, "a standard deviation of 0 divides by zero");
        return out;
    }

    /** The size of {@link #pixelValues}'s output: (height, width) after the crop (or the resize without one). */
    public int outputHeight(RgbImage image) { return doCenterCrop ? cropHeight : resizedSize(image)[0]; }

    public int outputWidth(RgbImage image) { return doCenterCrop ? cropWidth : resizedSize(image)[1]; }

    /** (height, width) after the resize: transformers' get_resize_output_image_size. */
    int[] resizedSize(RgbImage image) {
        int h = image.height(), w = image.width();
        if (!doResize) return new int[]{h, w};
        if (shortestEdge == 0) return new int[]{resizeHeight, resizeWidth};
        int s = Math.min(w, h), l = Math.max(w, h);
        int newLong = (int) ((double) shortestEdge * l / s);
        return w <= h ? new int[]{newLong, shortestEdge} : new int[]{shortestEdge, newLong};
    }

    /** The 8-bit image after the resize and the centre crop, before rescaling (transformers' steps 1–3). */
    public RgbImage resizeAndCrop(RgbImage image) {
        int[] size = resizedSize(image);
        RgbImage resized = PilResize.resize(image, size[1], size[0], resample);
        return doCenterCrop ? centerCrop(resized, cropHeight, cropWidth) : resized;
    }

    /** transformers' center_crop: top = (h − ch) // 2; an image smaller than the crop is first padded with zeros. */
    static RgbImage centerCrop(RgbImage image, int ch, int cw) {
        int h = image.height(), w = image.width();
        int top = Math.floorDiv(h - ch, 2), left = Math.floorDiv(w - cw, 2);
        if (top >= 0 && left >= 0) {
            byte[] out = new byte[ch * cw * 3];
            for (int y = 0; y < ch; y++)
                System.arraycopy(image.rgb(), ((top + y) * w + left) * 3, out, y * cw * 3, cw * 3);
            return new RgbImage(cw, ch, out);
        }
        // Pad to at least the crop, the image placed at ceil((new − old) / 2), then crop as above.
        int nh = Math.max(ch, h), nw = Math.max(cw, w);
        int topPad = (nh - h + 1) / 2, leftPad = (nw - w + 1) / 2;
        byte[] padded = new byte[nh * nw * 3];
        for (int y = 0; y < h; y++)
            System.arraycopy(image.rgb(), y * w * 3, padded, ((y + topPad) * nw + leftPad) * 3, w * 3);
        int t = Math.max(0, top + topPad), l = Math.max(0, left + leftPad);
        int b = Math.min(nh, top + topPad + ch), r = Math.min(nw, left + leftPad + cw);
        byte[] out = new byte[(b - t) * (r - l) * 3];
        for (int y = t; y < b; y++)
            System.arraycopy(padded, (y * nw + l) * 3, out, (y - t) * (r - l) * 3, (r - l) * 3);
        return new RgbImage(r - l, b - t, out);
    }

    /** Rescale and normalise an 8-bit image into float32, channels first (3, H, W). */
    public float[] normalize(RgbImage image) {
        int n = image.width() * image.height();
        float[] out = new float[3 * n];
        byte[] rgb = image.rgb();
        for (int c = 0; c < 3; c++) {
            float mean = imageMean[c], std = imageStd[c];
            for (int p = 0; p < n; p++) {
                int u = rgb[p * 3 + c] & 0xff;
                float x = doRescale ? (float) (u * rescaleFactor) : u;
                out[c * n + p] = doNormalize ? (x - mean) / std : x;
            }
        }
        return out;
    }

    /** {@code processor(image).pixel_values[0]}: (3, H, W) float32. */
    public float[] pixelValues(RgbImage image) { return normalize(resizeAndCrop(image)); }
}
