package dev.jdiffusion.image;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.color.ColorSpace;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An 8-bit RGBA image with straight (not premultiplied) alpha, row-major, 4 bytes per pixel, read as PIL's
 * {@code Image.open(f).convert("RGBA")} reads it: the file's samples as they are (no gamma or ICC conversion),
 * grey replicated into R, G and B, a palette's colours and tRNS alphas looked up, 16-bit samples cut to their high
 * byte, opaque where the file has no alpha.
 */
public record RgbaImage(int width, int height, byte[] rgba) {

    public RgbaImage {
        if (rgba.length != width * height * 4)
            throw new IllegalArgumentException(width + "x" + height + " RGBA needs " + width * height * 4 + " bytes, got " + rgba.length);
    }

    /** Red, green, blue or alpha (c = 0 … 3) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) { return rgba[(y * width + x) * 4 + c] & 0xff; }

    /** Reads a PNG (or any format ImageIO reads); one clear line naming the file when it is not an image. */
    public static RgbaImage read(Path file) throws IOException {
        BufferedImage img;
        try (InputStream in = Files.newInputStream(file)) {
            img = ImageIO.read(in);
        }
        if (img == null) throw new IOException(file + ": not an image ImageIO can read");
        try {
            return of(img);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /** The samples of a decoded image, as PIL's convert("RGBA") takes them. */
    public static RgbaImage of(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] out = new byte[w * h * 4];
        Raster raster = img.getRaster();
        ColorModel cm = img.getColorModel();
        if (cm instanceof IndexColorModel icm) {
            int[] idx = new int[1];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    raster.getPixel(x, y, idx);
                    int o = (y * w + x) * 4;
                    out[o] = (byte) icm.getRed(idx[0]);
                    out[o + 1] = (byte) icm.getGreen(idx[0]);
                    out[o + 2] = (byte) icm.getBlue(idx[0]);
                    out[o + 3] = (byte) icm.getAlpha(idx[0]);
                }
            return new RgbaImage(w, h, out);
        }
        if (!(cm instanceof ComponentColorModel) || cm.isAlphaPremultiplied())
            throw new IllegalArgumentException("unsupported pixel layout " + cm.getClass().getSimpleName()
                    + (cm.isAlphaPremultiplied() ? " (premultiplied alpha)" : ""));
        int bands = raster.getNumBands(), bits = raster.getSampleModel().getSampleSize(0);
        boolean grey = cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        int colours = grey ? 1 : 3;
        if (bands != colours && bands != colours + 1)
            throw new IllegalArgumentException(bands + " samples per pixel in a " + (grey ? "grey" : "colour") + " image");
        if (bits != 8 && bits != 16) throw new IllegalArgumentException(bits + "-bit samples (8 or 16 supported)");
        int shift = bits - 8;
        int[] px = new int[bands];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                raster.getPixel(x, y, px);
                int o = (y * w + x) * 4;
                for (int c = 0; c < 3; c++) out[o + c] = (byte) (px[grey ? 0 : c] >>> shift);
                out[o + 3] = bands > colours ? (byte) (px[colours] >>> shift) : (byte) 255;
            }
        return new RgbaImage(w, h, out);
    }

    /**
     * This image composited over an opaque background colour, then its alpha dropped: PIL's
     * {@code Image.alpha_composite(Image.new("RGBA", size, (r, g, b, 255)), image).convert("RGB")}, bit for bit.
     * PIL computes straight-alpha "over" in integers with 7 extra bits and rounded divisions by 255; over white
     * that lands on {@code floor((c·a + 255·(255 − a)) / 255 + 1/2)} for every colour and alpha.
     */
    public RgbImage compositeOnto(int r, int g, int b) {
        int[] bg = {r, g, b};
        for (int v : bg) if (v < 0 || v > 255) throw new IllegalArgumentException("background colour outside 0..255: " + v);
        byte[] out = new byte[width * height * 3];
        for (int p = 0; p < width * height; p++) {
            int a = rgba[p * 4 + 3] & 0xff;
            for (int c = 0; c < 3; c++) out[p * 3 + c] = (byte) over(rgba[p * 4 + c] & 0xff, a, bg[c], 255);
        }
        return new RgbImage(width, height, out);
    }

    /** PIL's ImagingAlphaComposite for one channel (libImaging/AlphaComposite.c, PRECISION_BITS 7). */
    static int over(int src, int srcA, int dst, int dstA) {
        if (srcA == 0) return dst;
        final int precisionBits = 7;
        long blend = (long) dstA * (255 - srcA);
        long outA255 = srcA * 255L + blend;
        long coef1 = srcA * 255L * 255 * (1 << precisionBits) / outA255;
        long coef2 = 255L * (1 << precisionBits) - coef1;
        long tmp = src * coef1 + dst * coef2 + (0x80L << precisionBits);
        return (int) ((((tmp >> 8) + tmp) >> 8) >> precisionBits);
    }
}
