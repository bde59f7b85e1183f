package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PilResize;
import dev.jdiffusion.image.RgbImage;

/**
 * What diffusers' {@code VaeImageProcessor} does to the pictures of an inpainting or ControlNet request, on
 * Pillow images and with Pillow's arithmetic, so that the tensors entering the models are the reference's bit
 * for bit: resizing (LANCZOS, in the picture's own mode, aspect ratio not kept), the "inpaint only masked" crop
 * box and its fill/crop resizes, the mask binarized at 0.5, and the overlay that pastes the original back.
 */
public final class VaeImageProcessor {
    private VaeImageProcessor() {}

    /** A box (x1, y1) inclusive – (x2, y2) exclusive in pixels, as diffusers' {@code crops_coords}. */
    public record CropBox(int x1, int y1, int x2, int y2) {
        public int width() { return x2 - x1; }

        public int height() { return y2 - y1; }
    }

    /** diffusers' {@code resize_mode}: "default" stretches; "fill" keeps the aspect and fills the bands; "crop" keeps it and cuts. */
    public enum ResizeMode { DEFAULT, FILL, CROP }

    /**
     * {@code VaeImageProcessor.resize}: DEFAULT is Pillow's LANCZOS resize in the image's own mode; FILL and CROP
     * return an RGB picture of the requested size.
     */
    public static PilImage resize(PilImage image, int width, int height, ResizeMode mode) {
        return switch (mode) {
            case DEFAULT -> image.resize(width, height, PilResize.Filter.LANCZOS);
            case FILL -> resizeAndFill(image, width, height);
            case CROP -> resizeAndCrop(image, width, height);
        };
    }

    /**
     * {@code _resize_and_fill}: the picture fitted inside (width, height) keeping its aspect, centred on black; the
     * bands left empty are filled with the edge row (column) stretched by a BICUBIC resize of a zero-height
     * (zero-width) box there.
     */
    static PilImage resizeAndFill(PilImage image, int width, int height) {
        double ratio = (double) width / height, srcRatio = (double) image.width() / image.height();
        int srcW = ratio < srcRatio ? width : image.width() * height / image.height();
        int srcH = ratio >= srcRatio ? height : image.height() * width / image.width();
        PilImage resized = image.resize(srcW, srcH, PilResize.Filter.LANCZOS);
        PilImage res = PilImage.black(width, height, PilImage.Mode.RGB);
        res.paste(resized, width / 2 - srcW / 2, height / 2 - srcH / 2);
        if (ratio < srcRatio) {
            int fill = height / 2 - srcH / 2;
            if (fill > 0) {
                res.paste(resized.resize(width, fill, PilResize.Filter.BICUBIC, new double[]{0, 0, width, 0}), 0, 0);
                res.paste(resized.resize(width, fill, PilResize.Filter.BICUBIC,
                        new double[]{0, resized.height(), width, resized.height()}), 0, fill + srcH);
            }
        } else if (ratio > srcRatio) {
            int fill = width / 2 - srcW / 2;
            if (fill > 0) {
                res.paste(resized.resize(fill, height, PilResize.Filter.BICUBIC, new double[]{0, 0, 0, height}), 0, 0);
                res.paste(resized.resize(fill, height, PilResize.Filter.BICUBIC,
                        new double[]{resized.width(), 0, resized.width(), height}), fill + srcW, 0);
            }
        }
        return res;
    }

    /** {@code _resize_and_crop}: the picture covering (width, height) keeping its aspect, centred, the excess cut off. */
    static PilImage resizeAndCrop(PilImage image, int width, int height) {
        double ratio = (double) width / height, srcRatio = (double) image.width() / image.height();
        int srcW = ratio > srcRatio ? width : image.width() * height / image.height();
        int srcH = ratio <= srcRatio ? height : image.height() * width / image.width();
        PilImage resized = image.resize(srcW, srcH, PilResize.Filter.LANCZOS);
        PilImage res = PilImage.black(width, height, PilImage.Mode.RGB);
        res.paste(resized, width / 2 - srcW / 2, height / 2 - srcH / 2);
        return res;
    }

    /**
     * {@code get_crop_region}: the box around the mask's non-zero pixels (grey, before binarization), padded by
     * {@code pad} and clamped, then grown along one axis to the aspect ratio of width:height and shifted back
     * inside the picture.
     */
    public static CropBox cropRegion(PilImage mask, int width, int height, int pad) {
        PilImage l = mask.convert(PilImage.Mode.L);
        int w = l.width(), h = l.height();
        byte[] m = l.pixels();
        int left = 0, right = 0, top = 0, bottom = 0;
        while (left < w && columnEmpty(m, w, h, left)) left++;
        while (right < w && columnEmpty(m, w, h, w - 1 - right)) right++;
        while (top < h && rowEmpty(m, w, top)) top++;
        while (bottom < h && rowEmpty(m, w, h - 1 - bottom)) bottom++;
        int x1 = Math.max(left - pad, 0), y1 = Math.max(top - pad, 0);
        int x2 = Math.min(w - right + pad, w), y2 = Math.min(h - bottom + pad, h);
        if (x2 <= x1 || y2 <= y1)
            throw new IllegalArgumentException("the mask is empty (all black): there is nothing to inpaint, so no"
                    + " region to crop around (--padding-mask-crop)");
        double ratioCrop = (double) (x2 - x1) / (y2 - y1), ratio = (double) width / height;
        if (ratioCrop > ratio) {
            double desired = (x2 - x1) / ratio;
            int diff = (int) (desired - (y2 - y1));
            y1 -= Math.floorDiv(diff, 2);
            y2 += diff - Math.floorDiv(diff, 2);
            if (y2 >= h) {
                int d = y2 - h;
                y2 -= d;
                y1 -= d;
            }
            if (y1 < 0) {
                y2 -= y1;
                y1 = 0;
            }
            if (y2 >= h) y2 = h;
        } else {
            double desired = (y2 - y1) * ratio;
            int diff = (int) (desired - (x2 - x1));
            x1 -= Math.floorDiv(diff, 2);
            x2 += diff - Math.floorDiv(diff, 2);
            if (x2 >= w) {
                int d = x2 - w;
                x2 -= d;
                x1 -= d;
            }
            if (x1 < 0) {
                x2 -= x1;
                x1 = 0;
            }
            if (x2 >= w) x2 = w;
        }
        return new CropBox(x1, y1, x2, y2);
    }

    private static boolean columnEmpty(byte[] m, int w, int h, int x) {
        for (int y = 0; y < h; y++) if (m[y * w + x] != 0) return false;
        return true;
    }

    private static boolean rowEmpty(byte[] m, int w, int y) {
        for (int x = 0; x < w; x++) if (m[y * w + x] != 0) return false;
        return true;
    }

    /** {@code preprocess}'s Pillow part: crop (when a box is given), then resize to width × height (FILL after a crop). */
    static PilImage cropAndResize(PilImage image, int width, int height, CropBox crop) {
        PilImage img = image;
        if (crop != null) img = img.crop(crop.x1(), crop.y1(), crop.x2(), crop.y2());
        return resize(img, width, height, crop != null ? ResizeMode.FILL : ResizeMode.DEFAULT);
    }

    /** An init image as the VAE encoder takes it: RGB, v/255·2 − 1, NCHW (3, height, width). */
    public static float[] preprocessImage(PilImage image, int width, int height, CropBox crop) {
        RgbImage rgb = cropAndResize(image, width, height, crop).toRgb();
        return chw(rgb, true);
    }

    /** A control image as a ControlNet takes it: RGB, v/255 in [0, 1], NCHW (3, height, width). */
    public static float[] preprocessControlImage(PilImage image, int width, int height, CropBox crop) {
        return chw(cropAndResize(image, width, height, crop).toRgb(), false);
    }

    /** A mask as the inpainting pipeline takes it: grey, v/255 binarized at 0.5 (v ≥ 128 is 1 = repaint), (1, height, width). */
    public static float[] preprocessMask(PilImage mask, int width, int height, CropBox crop) {
        PilImage l = cropAndResize(mask, width, height, crop).convert(PilImage.Mode.L);
        byte[] p = l.pixels();
        float[] out = new float[p.length];
        for (int i = 0; i < p.length; i++) out[i] = (p[i] & 0xff) / 255f < 0.5f ? 0f : 1f;
        return out;
    }

    private static float[] chw(RgbImage rgb, boolean signed) {
        int n = rgb.width() * rgb.height();
        byte[] px = rgb.rgb();
        float[] out = new float[3 * n];
        for (int p = 0; p < n; p++)
            for (int c = 0; c < 3; c++) {
                float v = (px[3 * p + c] & 0xff) / 255f;
                out[c * n + p] = signed ? 2f * v - 1f : v;
            }
        return out;
    }

    /**
     * {@code apply_overlay}: the original picture pasted over the generated one where the mask (grey, soft, not
     * binarized; both LANCZOS-resized to the generated size) is not white, with Pillow's integer arithmetic
     * (premultiplied paste, unpremultiply, alpha_composite); with a crop box the generated picture is first
     * fitted into the box (CROP) on black.
     */
    public static RgbImage applyOverlay(PilImage mask, PilImage init, RgbImage generated, CropBox crop) {
        int w = generated.width(), h = generated.height();
        byte[] base = PilImage.of(generated).pixels();
        if (crop != null) {
            PilImage canvas = PilImage.black(w, h, PilImage.Mode.RGB);
            canvas.paste(resizeAndCrop(PilImage.of(generated), crop.width(), crop.height()), crop.x1(), crop.y1());
            base = canvas.pixels();
        }
        byte[] src = init.resize(w, h, PilResize.Filter.LANCZOS).convert(PilImage.Mode.RGB).pixels();
        byte[] m = mask.resize(w, h, PilResize.Filter.LANCZOS).convert(PilImage.Mode.L).pixels();
        byte[] out = new byte[w * h * 3];
        for (int p = 0; p < w * h; p++) {
            int a = 255 - (m[p] & 0xff);
            for (int c = 0; c < 3; c++) {
                int gen = base[3 * p + c] & 0xff;
                if (a == 0) {
                    out[3 * p + c] = (byte) gen;
                    continue;
                }
                int pre = div255((src[3 * p + c] & 0xff) * a);
                int u = a == 255 ? pre : Math.min(255, 255 * pre / a);
                int t = u * a * 128 + gen * (255 - a) * 128 + (0x80 << 7);
                out[3 * p + c] = (byte) ((((t >> 8) + t) >> 8) >> 7);
            }
        }
        return new RgbImage(w, h, out);
    }

    /** Pillow's DIV255: v / 255 rounded, exact for v ≤ 255·255. */
    private static int div255(int v) {
        int t = v + 128;
        return ((t >> 8) + t) >> 8;
    }
}
