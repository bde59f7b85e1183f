package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.image.PilResize;
import dev.jdiffusion.image.RgbImage;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A captioned image set in the Hugging Face ImageFolder layout that diffusers' training scripts read: images
 * beside a {@code metadata.jsonl} whose lines are {@code {"file_name": "0001.png", "text": "a red apple"}}.
 * {@code text} may also be a list of alternative captions (one is chosen per use). Every listed image is
 * checked when the folder is opened, so a bad data set fails before any training starts.
 *
 * <p>{@link #pixels} applies train_text_to_image.py's transforms: the shorter side resized to the resolution
 * with Pillow's bilinear filter (torchvision's Resize on a PIL image), a center or random crop, an optional
 * horizontal flip, then [0, 255] → [-1, 1].
 */
public final class ImageFolder {
    /** One listed image with its captions. */
    public record Item(Path file, List<String> captions) {}

    private final Path dir;
    private final List<Item> items;
    private final Map<Integer, RgbImage> resized = new ConcurrentHashMap<>();

    private ImageFolder(Path dir, List<Item> items) {
        this.dir = dir;
        this.items = items;
    }

    public static ImageFolder open(Path dir) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--train-data " + dir + " is not a folder");
        Path meta = dir.resolve("metadata.jsonl");
        if (!Files.isRegularFile(meta))
            throw new IllegalArgumentException(meta + " is missing: an ImageFolder lists its images and captions there, one JSON object per line");
        ObjectMapper json = new ObjectMapper();
        List<Item> items = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(meta);
        } catch (IOException e) {
            throw new UncheckedIOException(meta + ": " + e.getMessage(), e);
        }
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String where = meta + " line " + (i + 1);
            JsonNode node;
            try {
                node = json.readTree(line);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalArgumentException(where + ": not JSON (" + e.getOriginalMessage() + ")");
            }
            if (node == null || !node.isObject()) throw new IllegalArgumentException(where + ": expected a JSON object");
            JsonNode name = node.get("file_name"), text = node.get("text");
            if (name == null || !name.isTextual() || name.asText().isEmpty())
                throw new IllegalArgumentException(where + ": \"file_name\" (a string) is missing");
            List<String> captions = new ArrayList<>();
            if (text != null && text.isTextual()) captions.add(text.asText());
            else if (text != null && text.isArray() && !text.isEmpty()) {
                for (JsonNode t : text) {
                    if (!t.isTextual()) throw new IllegalArgumentException(where + ": \"text\" list holds a non-string");
                    captions.add(t.asText());
                }
            } else throw new IllegalArgumentException(where + ": \"text\" (a caption, or a list of captions) is missing");
            Path file = dir.resolve(name.asText()).normalize();
            if (!file.startsWith(dir.normalize()))
                throw new IllegalArgumentException(where + ": file_name " + name.asText() + " points outside " + dir);
            checkReadable(file, where);
            items.add(new Item(file, List.copyOf(captions)));
        }
        if (items.isEmpty()) throw new IllegalArgumentException(meta + " lists no images");
        return new ImageFolder(dir, List.copyOf(items));
    }

    /** Reads the image header: a missing file or one no image reader understands is refused by name. */
    private static void checkReadable(Path file, String where) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(where + ": image " + file + " does not exist");
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) throw new IllegalArgumentException(where + ": " + file + " is not a readable image");
            ImageReader r = readers.next();
            try {
                r.setInput(in);
                if (r.getWidth(0) < 1 || r.getHeight(0) < 1) throw new IllegalArgumentException(where + ": " + file + " is empty");
            } finally {
                r.dispose();
            }
        } catch (IOException e) {
            throw new IllegalArgumentException(where + ": " + file + " is not a readable image (" + e.getMessage() + ")");
        }
    }

    public int size() { return items.size(); }

    public Item item(int i) { return items.get(i); }

    public Path dir() { return dir; }

    /**
     * Image i as (3, res, res) floats in [-1, 1] (channel-major, as torchvision's ToTensor), after the resize,
     * crop (center, or at (top, left) drawn from {@code rng}) and flip (when {@code flip}).
     */
    public float[] pixels(int i, int resolution, boolean centerCrop, boolean flip, SampleRandom rng) {
        RgbImage img = resized.computeIfAbsent(i, k -> resizeShorterSide(load(items.get(k).file()), resolution));
        int w = img.width(), h = img.height(), top, left;
        if (centerCrop) {
            top = (int) Math.rint((h - resolution) / 2.0);
            left = (int) Math.rint((w - resolution) / 2.0);
        } else {
            top = rng.nextInt(h - resolution + 1);
            left = rng.nextInt(w - resolution + 1);
        }
        float[] out = new float[3 * resolution * resolution];
        int plane = resolution * resolution;
        for (int y = 0; y < resolution; y++)
            for (int x = 0; x < resolution; x++) {
                int sx = left + (flip ? resolution - 1 - x : x);
                for (int c = 0; c < 3; c++)
                    out[c * plane + y * resolution + x] = (img.get(sx, top + y, c) / 255f - 0.5f) / 0.5f;
            }
        return out;
    }

    /** torchvision Resize(size) on a PIL image: the shorter side becomes size, the longer int(size · long / short). */
    static RgbImage resizeShorterSide(RgbImage img, int size) {
        int w = img.width(), h = img.height();
        int nw, nh;
        if (w <= h) {
            nw = size;
            nh = (int) ((long) size * h / w);
        } else {
            nh = size;
            nw = (int) ((long) size * w / h);
        }
        return PilResize.resize(img, nw, nh, PilResize.Filter.BILINEAR);
    }

    private static RgbImage load(Path file) {
        try {
            BufferedImage b = ImageIO.read(file.toFile());
            if (b == null) throw new IllegalArgumentException(file + " is not a readable image");
            return RgbImage.fromBufferedImage(b);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + " could not be read: " + e.getMessage());
        }
    }
}
