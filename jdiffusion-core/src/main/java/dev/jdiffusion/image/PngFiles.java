package dev.jdiffusion.image;

import dev.jdiffusion.io.TempFiles;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PNG files with text chunks, the way AUTOMATIC1111 and PIL write them: a {@code tEXt} chunk when the
 * text is Latin-1, an uncompressed UTF-8 {@code iTXt} chunk otherwise. Writes are atomic.
 */
public final class PngFiles {
    private static final String FORMAT = "javax_imageio_png_1.0";

    private PngFiles() {}

    /** Writes {@code image} with the given text chunks to a temporary file beside {@code file}, then renames it. */
    public static void write(Path file, RgbImage image, Map<String, String> text) throws IOException {
        write(file, image, text, tmp -> {});
    }

    /** The PNG file's bytes, with the given text chunks, as {@link #write} writes them (for HTTP answers). */
    public static byte[] encode(RgbImage image, Map<String, String> text) {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (ImageOutputStream out = new javax.imageio.stream.MemoryCacheImageOutputStream(bytes)) {  // no cache file
            writeTo(out, image, text);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);  // in memory: cannot happen
        }
        return bytes.toByteArray();
    }

    private static void writeTo(ImageOutputStream out, RgbImage image, Map<String, String> text) throws IOException {
        BufferedImage img = image.toBufferedImage();
        ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
        ImageWriteParam param = writer.getDefaultWriteParam();
        IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(img), param);
        IIOMetadataNode root = new IIOMetadataNode(FORMAT);
        IIOMetadataNode tExt = new IIOMetadataNode("tEXt"), iTxt = new IIOMetadataNode("iTXt");
        for (var e : text.entrySet()) {
            if (StandardCharsets.ISO_8859_1.newEncoder().canEncode(e.getValue())) {
                IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("value", e.getValue());
                tExt.appendChild(entry);
            } else {
                IIOMetadataNode entry = new IIOMetadataNode("iTXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("compressionFlag", "FALSE");
                entry.setAttribute("compressionMethod", "0");
                entry.setAttribute("languageTag", "");
                entry.setAttribute("translatedKeyword", "");
                entry.setAttribute("text", e.getValue());
                iTxt.appendChild(entry);
            }
        }
        if (tExt.hasChildNodes()) root.appendChild(tExt);
        if (iTxt.hasChildNodes()) root.appendChild(iTxt);
        meta.mergeTree(FORMAT, root);
        try {
            writer.setOutput(out);
            writer.write(null, new IIOImage(img, null, meta), param);
        } finally {
            writer.dispose();
        }
    }

    /** What runs between writing the temporary file and renaming it: tests inject failures and interruptions here. */
    interface BeforeRename {
        void run(Path tmp) throws IOException;
    }

    static void write(Path file, RgbImage image, Map<String, String> text, BeforeRename beforeRename) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // Not createTempFile: that file would be owner-only, and the rename would keep it so. Deleted on Ctrl-C.
        Path tmp = TempFiles.beside(file);
        try {
            try (ImageOutputStream out = ImageIO.createImageOutputStream(tmp.toFile())) {
                if (out == null) throw new IOException(tmp + ": cannot create");
                writeTo(out, image, text);
            }
            beforeRename.run(tmp);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            TempFiles.release(tmp);
        }
    }

    /**
     * A decoded PNG (or any format ImageIO reads) and its text chunks. The pixels are RGB as Pillow's
     * {@code convert("RGB")} makes them ({@link PilConvert}: grey copied, alpha dropped), as diffusers reads images.
     */
    public record Read(RgbImage image, Map<String, String> text) {}

    /** The image as RGB (Pillow's {@code convert("RGB")}: grey repeated, alpha dropped) and its text chunks. */
    public static Read read(Path file) throws IOException {
        Decoded d = decode(file);
        return new Read(PilConvert.toRgb(d.image()), d.text());
    }

    /**
     * The image in its own mode (grey, grey + alpha, RGB, RGBA), as Pillow opens it: for masks and control images.
     * Read from the raster: getRGB would pass grey through a gamma curve (Java's linear grey colour space).
     */
    public static PilImage readPixels(Path file) throws IOException { return PilImage.fromBufferedImage(decode(file).image()); }

    private record Decoded(BufferedImage image, Map<String, String> text) {}

    private static Decoded decode(Path file) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) throw new IOException(file + ": cannot open image");
            var readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) throw new IOException(file + ": not an image format jdiffusion can read (PNG, JPEG, BMP, GIF)");
            ImageReader reader = readers.next();
            try {
                reader.setInput(in);
                BufferedImage img = reader.read(0);
                Map<String, String> text = new LinkedHashMap<>();
                IIOMetadata meta = reader.getImageMetadata(0);
                if (meta != null && java.util.Arrays.asList(meta.getMetadataFormatNames()).contains(FORMAT))
                    collectText((Node) meta.getAsTree(FORMAT), text);
                return new Decoded(img, text);
            } catch (IOException | RuntimeException e) {
                throw new IOException(file + ": cannot decode image: " + e.getMessage(), e);
            } finally {
                reader.dispose();
            }
        }
    }

    /**
     * Decodes an image file held in memory (PNG, JPEG, BMP, GIF) with its text chunks, refusing images of more than
     * {@code maxPixels} pixels before their pixels are decoded (a small file can claim a huge size).
     *
     * @throws IOException when the bytes are not an image or it is too large; the message says which
     */
    public static Read decode(byte[] bytes, long maxPixels) throws IOException {
        try (ImageInputStream in = new javax.imageio.stream.MemoryCacheImageInputStream(new java.io.ByteArrayInputStream(bytes))) {
            var readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) throw new IOException("not an image format jdiffusion can read (PNG, JPEG, BMP, GIF)");
            ImageReader reader = readers.next();
            try {
                reader.setInput(in);
                long w = reader.getWidth(0), h = reader.getHeight(0);
                if (w * h > maxPixels)
                    throw new IOException("image of " + w + "x" + h + " pixels exceeds the limit of " + maxPixels + " pixels");
                BufferedImage img = reader.read(0);
                Map<String, String> text = new LinkedHashMap<>();
                IIOMetadata meta = reader.getImageMetadata(0);
                if (meta != null && java.util.Arrays.asList(meta.getMetadataFormatNames()).contains(FORMAT))
                    collectText((Node) meta.getAsTree(FORMAT), text);
                return new Read(PilConvert.toRgb(img), text);
            } catch (RuntimeException e) {
                throw new IOException("cannot decode image: " + e.getMessage(), e);
            } finally {
                reader.dispose();
            }
        }
    }

    private static void collectText(Node node, Map<String, String> out) {
        for (Node n = node.getFirstChild(); n != null; n = n.getNextSibling()) {
            NamedNodeMap a = n.getAttributes();
            if (n.getNodeName().equals("tEXtEntry")) out.put(a.getNamedItem("keyword").getNodeValue(), a.getNamedItem("value").getNodeValue());
            else if (n.getNodeName().equals("iTXtEntry")) out.put(a.getNamedItem("keyword").getNodeValue(), a.getNamedItem("text").getNodeValue());
            else collectText(n, out);
        }
    }
}
