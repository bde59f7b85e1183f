package dev.jdiffusion.image;

import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;

/**
 * A decoded image turned into 8-bit RGB as Pillow's {@code Image.open(file).convert("RGB")} does it, which is
 * what diffusers' {@code load_image} and transformers' image processors ({@code do_convert_rgb}) feed the models:
 * <ul>
 *   <li>grey ("L") copies the grey level into R, G and B; no colour management, no gamma;</li>
 *   <li>RGBA and grey + alpha ("LA") drop alpha without blending against any background;</li>
 *   <li>palette images ("P", and 1-, 2-, 4-bit grey, whose levels Pillow scales to 0..255) take their palette
 *       colours; 16-bit RGB(A) and grey + alpha keep their high byte (Pillow's "RGB;16B" unpackers); 16-bit grey
 *       opens as Pillow's mode "I" and is clipped to 255, as Pillow's I → RGB conversion does.</li>
 * </ul>
 * Java's {@code BufferedImage.getRGB} differs: it converts linear grey to sRGB (grey 109 reads as 175).
 */
public final class PilConvert {
    private PilConvert() {}

    /** The RGB image Pillow's {@code convert("RGB")} makes of what ImageIO decoded. */
    public static RgbImage toRgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        Raster r = img.getRaster();
        byte[] out = new byte[w * h * 3];
        if (img.getColorModel() instanceof IndexColorModel icm) {
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                r.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) {
                    int o = (y * w + x) * 3, i = row[x];
                    out[o] = (byte) icm.getRed(i);
                    out[o + 1] = (byte) icm.getGreen(i);
                    out[o + 2] = (byte) icm.getBlue(i);
                }
            }
            return new RgbImage(w, h, out);
        }
        int bands = r.getNumBands(), type = r.getDataBuffer().getDataType();
        boolean component = img.getColorModel() instanceof ComponentColorModel;
        if (!component || bands > 4 || (type != DataBuffer.TYPE_BYTE && type != DataBuffer.TYPE_USHORT))
            return RgbImage.fromBufferedImage(img);   // packed RGB (BMP, some GIFs...): getRGB is exact for sRGB ints
        boolean wide = type == DataBuffer.TYPE_USHORT;
        boolean gray = bands <= 2;
        int[] samples = new int[w * bands];
        for (int y = 0; y < h; y++) {
            r.getPixels(0, y, w, 1, samples);
            for (int x = 0; x < w; x++) {
                int o = (y * w + x) * 3, s = x * bands;
                if (gray) {
                    int v = samples[s];
                    // 16-bit grey is Pillow's mode "I" (clipped to 255 on conversion); 16-bit grey+alpha is "LA;16B".
                    v = !wide ? v : bands == 1 ? Math.min(v, 255) : v >> 8;
                    out[o] = out[o + 1] = out[o + 2] = (byte) v;
                } else {
                    for (int c = 0; c < 3; c++) out[o + c] = (byte) (wide ? samples[s + c] >> 8 : samples[s + c]);
                }
            }
        }
        return new RgbImage(w, h, out);
    }
}
