package dev.jdiffusion.image;

import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.color.ColorSpace;
import java.util.Objects;

/**
 * An 8-bit image in one of Pillow's modes ("L", "LA", "RGB", "RGBA"), interleaved, row-major, with the
 * Pillow operations that diffusers' image processors apply to masks and images: {@code convert},
 * {@code resize} (through {@link PilResize}), {@code crop} and {@code paste}, each bit for bit as Pillow 9.4
 * computes it. A mask keeps its own mode until it is resized, as in diffusers, where an RGB mask is resized
 * per channel and only then made grey.
 */
public record PilImage(int width, int height, Mode mode, byte[] pixels) {

    /** Pillow's 8-bit modes; {@code bands} bytes per pixel, the last one alpha where the mode has it. */
    public enum Mode {
        L(1, false), LA(2, true), RGB(3, false), RGBA(4, true);

        public final int bands;
        public final boolean alpha;

        Mode(int bands, boolean alpha) {
            this.bands = bands;
            this.alpha = alpha;
        }
    }

    public PilImage {
        Objects.requireNonNull(mode, "mode");
        if (width < 0 || height < 0) throw new IllegalArgumentException("negative size " + width + "x" + height);
        if (pixels.length != width * height * mode.bands)
            throw new IllegalArgumentException(width + "x" + height + " " + mode + " needs " + width * height * mode.bands
                    + " bytes, got " + pixels.length);
    }

    /** {@code Image.new(mode, (width, height))}: every byte 0. */
    public static PilImage black(int width, int height, Mode mode) {
        return new PilImage(width, height, mode, new byte[width * height * mode.bands]);
    }

    public static PilImage of(RgbImage image) { return new PilImage(image.width(), image.height(), Mode.RGB, image.rgb()); }

    /** Band {@code b} of pixel (x, y), 0..255. */
    public int get(int x, int y, int b) { return pixels[(y * width + x) * mode.bands + b] & 0xff; }

    /** {@code convert("RGB")}. */
    public RgbImage toRgb() {
        PilImage rgb = convert(Mode.RGB);
        return new RgbImage(width, height, rgb == this ? pixels.clone() : rgb.pixels);
    }

    /**
     * Pillow's {@code convert(mode)} between the 8-bit modes: grey from colour with ITU-R 601-2 luma in 16-bit
     * fixed point ({@code (19595 R + 38470 G + 7471 B + 0x8000) >> 16}), colour from grey by repeating it, alpha
     * dropped or set to 255. Colour is never premultiplied here (Pillow's RGBA → RGB ignores alpha).
     */
    public PilImage convert(Mode to) {
        if (to == mode) return this;
        int n = width * height, from = mode.bands;
        byte[] out = new byte[n * to.bands];
        for (int p = 0; p < n; p++) {
            int i = p * from, o = p * to.bands;
            int r = pixels[i] & 0xff, g, b;
            if (from >= 3) {
                g = pixels[i + 1] & 0xff;
                b = pixels[i + 2] & 0xff;
            } else {
                g = r;
                b = r;
            }
            int a = mode.alpha ? pixels[i + from - 1] & 0xff : 255;
            switch (to) {
                case L, LA -> {
                    out[o] = (byte) (from >= 3 ? luma(r, g, b) : r);
                    if (to == Mode.LA) out[o + 1] = (byte) a;
                }
                case RGB, RGBA -> {
                    out[o] = (byte) r;
                    out[o + 1] = (byte) g;
                    out[o + 2] = (byte) b;
                    if (to == Mode.RGBA) out[o + 3] = (byte) a;
                }
            }
        }
        return new PilImage(width, height, to, out);
    }

    /** Pillow's L24: ITU-R 601-2 luma of an RGB pixel, rounded in 16-bit fixed point. */
    public static int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

    /** {@code resize((w, h), filter)}: images with alpha are premultiplied around the resize, as Pillow does. */
    public PilImage resize(int w, int h, PilResize.Filter filter) {
        if (w == width && h == height) return this;
        byte[] out = mode.alpha ? PilResize.resizeWithAlpha(pixels, width, height, mode.bands, w, h, filter)
                : PilResize.resize(pixels, width, height, mode.bands, w, h, filter, null);
        return new PilImage(w, h, mode, out);
    }

    /** {@code resize((w, h), filter, box)}; {@code box = {x0, y0, x1, y1}} may be empty along an axis. */
    public PilImage resize(int w, int h, PilResize.Filter filter, double[] box) {
        if (w == width && h == height && box[0] == 0 && box[1] == 0 && box[2] == width && box[3] == height)
            return new PilImage(w, h, mode, pixels.clone());
        byte[] out = mode.alpha ? PilResize.resizeWithAlpha(pixels, width, height, mode.bands, w, h, filter, box)
                : PilResize.resize(pixels, width, height, mode.bands, w, h, filter, box);
        return new PilImage(w, h, mode, out);
    }

    /** {@code crop((x1, y1, x2, y2))}: pixels outside the image are 0. */
    public PilImage crop(int x1, int y1, int x2, int y2) {
        if (x2 < x1 || y2 < y1) throw new IllegalArgumentException("crop box (" + x1 + ", " + y1 + ", " + x2 + ", " + y2 + ") is inverted");
        PilImage out = black(x2 - x1, y2 - y1, mode);
        out.paste(this, -x1, -y1);
        return out;
    }

    /**
     * {@code paste(src, (x, y))} without a mask: {@code src} (converted to this mode first, as Pillow does) replaces
     * the pixels it covers; what falls outside this image is clipped. Modifies this image.
     */
    public void paste(PilImage src, int x, int y) {
        PilImage s = src.convert(mode);
        int bands = mode.bands;
        int x0 = Math.max(0, x), y0 = Math.max(0, y);
        int x1 = Math.min(width, x + s.width), y1 = Math.min(height, y + s.height);
        if (x1 <= x0) return;
        for (int row = y0; row < y1; row++)
            System.arraycopy(s.pixels, ((row - y) * s.width + (x0 - x)) * bands, pixels, (row * width + x0) * bands,
                    (x1 - x0) * bands);
    }

    /**
     * The pixels of a decoded image as Pillow would hold them: 8-bit grey stays "L" (with alpha "LA"), colour
     * is "RGB" or "RGBA"; palette and low-bit-depth images are expanded to their colours (Pillow keeps them as
     * "P"/"1" and resizes those with NEAREST); 16-bit samples keep their high byte.
     */
    public static PilImage fromBufferedImage(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        var cm = img.getColorModel();
        Raster raster = img.getRaster();
        boolean gray = cm instanceof ComponentColorModel && cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        // Raw samples, as Pillow holds them: no colour management (an embedded ICC profile is not applied).
        boolean rgb = cm instanceof ComponentColorModel && cm.getColorSpace().getType() == ColorSpace.TYPE_RGB
                || cm instanceof java.awt.image.DirectColorModel;
        if ((gray || rgb) && raster.getNumBands() == cm.getNumComponents()) {
            Mode mode = gray ? (cm.hasAlpha() ? Mode.LA : Mode.L) : (cm.hasAlpha() ? Mode.RGBA : Mode.RGB);
            if (raster.getNumBands() == mode.bands) {
                int shift = Math.max(0, raster.getSampleModel().getSampleSize(0) - 8);
                boolean ushort = raster.getTransferType() == DataBuffer.TYPE_USHORT;
                byte[] out = new byte[w * h * mode.bands];
                int[] row = new int[w * mode.bands];
                for (int y = 0; y < h; y++) {
                    raster.getPixels(0, y, w, 1, row);
                    for (int i = 0; i < row.length; i++) out[y * row.length + i] = (byte) (row[i] >> (ushort ? 8 : shift));
                }
                return new PilImage(w, h, mode, out);
            }
        }
        // Palette, 1/2/4-bit and other layouts: their sRGB colours (exact for palettes; no grey gamma involved).
        boolean alpha = cm.hasAlpha();
        Mode mode = alpha ? Mode.RGBA : Mode.RGB;
        byte[] out = new byte[w * h * mode.bands];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y), o = (y * w + x) * mode.bands;
                out[o] = (byte) (p >> 16);
                out[o + 1] = (byte) (p >> 8);
                out[o + 2] = (byte) p;
                if (alpha) out[o + 3] = (byte) (p >>> 24);
            }
        return new PilImage(w, h, mode, out);
    }
}
