package dev.jdiffusion.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.image.RgbaImage;
import dev.jdiffusion.io.ModelFormatException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The captioned emoji image set the bundled model is trained on, built from the npm package
 * {@code emoji-datasource-google} (16.0.0: Noto Emoji artwork, images Apache-2.0, package MIT): every emoji of
 * {@code emoji.json} but the Flags and Component categories (skin-tone variants are not top-level entries and so
 * never taken), 1,636 in 16.0.0, each {@code img/google/64/<image>} composited onto white as PIL's
 * {@code alpha_composite} does ({@link RgbaImage#compositeOnto}), written as a Hugging Face ImageFolder: the 64×64
 * RGB PNGs under their package names and {@code metadata.jsonl}, one line per image:
 * <pre>{"file_name": "1f34e.png", "text": ["red apple", "red apple", "red apple", "red apple", "food fruit"]}</pre>
 * {@code text} is a bag to draw one caption from uniformly at training time (what diffusers' train_text_to_image.py
 * does with a list: {@code random.choice}); repeats are weights. {@link #captions} says what goes in.
 * The folder is written beside its final name and renamed when complete.
 */
public final class EmojiDataset {
    /** Categories left out: flags (mostly the same rectangle) and skin-tone swatches / hair components. */
    public static final Set<String> EXCLUDED_CATEGORIES = Set.of("Flags", "Component");
    /** Each caption bag holds the name this many times, each alternative twice and the subcategory once. */
    public static final int NAME_WEIGHT = 4, ALTERNATIVE_WEIGHT = 2, SUBCATEGORY_WEIGHT = 1;
    /** The held-out evaluation names: every 16th emoji in sort order, from the 8th on; the tuning names: from the 16th. */
    public static final int EVAL_STRIDE = 16, EVAL_OFFSET = 7, DEV_OFFSET = 15;

    private static final Pattern LETTER_SHORT_NAME = Pattern.compile("[a-z]+([_-][a-z]+)*");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SecureRandom TEMP_NAMES = new SecureRandom();

    /** One emoji of emoji.json. */
    public record Emoji(String image, String name, List<String> shortNames, String category, String subcategory,
                        int sortOrder) {}

    /** What a build wrote: the emoji in sort order and where. */
    public record Result(Path output, List<Emoji> emoji, int captionLines) {}

    private EmojiDataset() {}

    /**
     * The emoji a dataset takes from the package's emoji.json, in its sort order: those with a Google image, outside
     * {@link #EXCLUDED_CATEGORIES}.
     */
    public static List<Emoji> select(Path emojiJson) {
        return entries(emojiJson, false);
    }

    /**
     * The top-level emoji with a Google image that a dataset leaves out ({@link #EXCLUDED_CATEGORIES}: flags and
     * components), in sort order. With {@link #select} they make the package's 1,911 base emoji, the gallery that
     * issue 10's prompt-following measure searches.
     */
    public static List<Emoji> leftOut(Path emojiJson) {
        return entries(emojiJson, true);
    }

    /** One emoji's 64×64 picture of the unpacked package, put on white as PIL's alpha_composite does. */
    public static RgbImage onWhite(Path packageDir, Emoji e) throws IOException {
        Path source = packageDir.resolve("img/google/64").resolve(e.image());
        if (!Files.isRegularFile(source)) throw new ModelFormatException(source, null, "image of '" + e.name() + "' not found");
        RgbaImage rgba = RgbaImage.read(source);
        if (rgba.width() != 64 || rgba.height() != 64)
            throw new ModelFormatException(source, null, "expected 64×64, found " + rgba.width() + "×" + rgba.height());
        return rgba.compositeOnto(255, 255, 255);
    }

    private static List<Emoji> entries(Path emojiJson, boolean leftOut) {
        if (!Files.isRegularFile(emojiJson))
            throw new ModelFormatException(emojiJson, null, "not found: expected the unpacked emoji-datasource-google package");
        JsonNode root;
        try {
            root = JSON.readTree(emojiJson.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(emojiJson, null, "not valid JSON: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
        if (root == null || !root.isArray()) throw new ModelFormatException(emojiJson, null, "expected a JSON array of emoji");
        List<Emoji> out = new ArrayList<>();
        for (JsonNode e : root) {
            String category = text(emojiJson, e, "category");
            if (EXCLUDED_CATEGORIES.contains(category) != leftOut || !e.path("has_img_google").asBoolean(false)) continue;
            List<String> shortNames = new ArrayList<>();
            e.path("short_names").forEach(s -> shortNames.add(s.asText()));
            if (!e.path("sort_order").canConvertToInt())
                throw new ModelFormatException(emojiJson, "sort_order", "missing for " + text(emojiJson, e, "image"));
            out.add(new Emoji(text(emojiJson, e, "image"), text(emojiJson, e, "name"), List.copyOf(shortNames), category,
                    text(emojiJson, e, "subcategory"), e.get("sort_order").intValue()));
        }
        out.sort(Comparator.comparingInt(Emoji::sortOrder));
        return out;
    }

    private static String text(Path file, JsonNode e, String key) {
        if (!e.path(key).isTextual()) throw new ModelFormatException(file, key, "missing or not a string in " + e.path("unified"));
        return e.get(key).asText();
    }

    /**
     * The caption bag of one emoji, the name first: the lower-cased Unicode name ({@value #NAME_WEIGHT} times), each
     * short name made only of letters, with {@code _} and {@code -} read as spaces, that says something other than
     * the name ({@value #ALTERNATIVE_WEIGHT} times each: "mobile phone" is also "iphone", "graduation cap" also
     * "mortar board"), and the subcategory with {@code -} as a space ({@value #SUBCATEGORY_WEIGHT} time: "food fruit").
     * No empty captions: those come from the trainer's caption dropout, at a rate set when training.
     */
    public static List<String> captions(Emoji e) {
        String name = e.name().toLowerCase(Locale.ROOT);
        List<String> alternatives = new ArrayList<>();
        for (String s : e.shortNames()) {
            if (!LETTER_SHORT_NAME.matcher(s).matches()) continue;  // "+1", "o2", "100", "clock1230" are left out
            String t = s.replace('_', ' ').replace('-', ' ');
            if (!t.equals(name) && !alternatives.contains(t)) alternatives.add(t);
        }
        List<String> bag = new ArrayList<>();
        for (int i = 0; i < NAME_WEIGHT; i++) bag.add(name);
        for (String a : alternatives) for (int i = 0; i < ALTERNATIVE_WEIGHT; i++) bag.add(a);
        for (int i = 0; i < SUBCATEGORY_WEIGHT; i++) bag.add(e.subcategory().replace('-', ' '));
        return bag;
    }

    /** The held-out evaluation prompts (lower-cased names) of a selection in sort order: fixed before training, never tuned on. */
    public static List<String> evalPrompts(List<Emoji> sorted) { return every(sorted, EVAL_OFFSET); }

    /** Names to look at while tuning a training run, disjoint from {@link #evalPrompts}. */
    public static List<String> devPrompts(List<Emoji> sorted) { return every(sorted, DEV_OFFSET); }

    private static List<String> every(List<Emoji> sorted, int offset) {
        List<String> out = new ArrayList<>();
        for (int i = offset; i < sorted.size(); i += EVAL_STRIDE) out.add(sorted.get(i).name().toLowerCase(Locale.ROOT));
        return out;
    }

    /**
     * Builds the ImageFolder at {@code output} (which must not exist) from the unpacked npm package folder
     * {@code packageDir} (holding emoji.json and img/google/64/). Also writes eval_prompts.txt, dev_prompts.txt and
     * README.md (what it is, the licences).
     */
    public static Result build(Path packageDir, Path output) throws IOException {
        Path emojiJson = packageDir.resolve("emoji.json"), images = packageDir.resolve("img/google/64");
        if (!Files.isRegularFile(emojiJson))
            throw new ModelFormatException(emojiJson, null, "not found: expected the unpacked emoji-datasource-google package");
        if (!Files.isDirectory(images))
            throw new ModelFormatException(images, null, "not found: expected the package's 64×64 images");
        if (Files.exists(output)) throw new FileAlreadyExistsException(output + ": already exists (the dataset is written to a new folder)");
        List<Emoji> emoji = select(emojiJson);

        Path abs = output.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        Path tmp = abs.resolveSibling("." + abs.getFileName() + "." + Long.toHexString(TEMP_NAMES.nextLong() >>> 16) + ".tmp");
        try {
            Files.createDirectory(tmp);
            StringBuilder metadata = new StringBuilder();
            for (Emoji e : emoji) {
                PngFiles.write(tmp.resolve(e.image()), onWhite(packageDir, e), Map.of());
                metadata.append(metadataLine(e)).append('\n');
            }
            Files.writeString(tmp.resolve("metadata.jsonl"), metadata, StandardCharsets.UTF_8);
            Files.write(tmp.resolve("eval_prompts.txt"), evalPrompts(emoji), StandardCharsets.UTF_8);
            Files.write(tmp.resolve("dev_prompts.txt"), devPrompts(emoji), StandardCharsets.UTF_8);
            Files.writeString(tmp.resolve("README.md"), readme(emoji.size()), StandardCharsets.UTF_8);
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            deleteTree(tmp);
        }
        return new Result(output, emoji, emoji.size());
    }

    /** {"file_name": ..., "text": [...]} with json.dumps' separators (UTF-8, not escaped). */
    static String metadataLine(Emoji e) {
        try {
            StringBuilder sb = new StringBuilder("{\"file_name\": ").append(JSON.writeValueAsString(e.image())).append(", \"text\": [");
            List<String> captions = captions(e);
            for (int i = 0; i < captions.size(); i++) sb.append(i == 0 ? "" : ", ").append(JSON.writeValueAsString(captions.get(i)));
            return sb.append("]}").toString();
        } catch (IOException ex) {
            throw new IllegalStateException(ex);
        }
    }

    private static String readme(int n) {
        return """
                # Noto Emoji on white, 64×64, captioned

                %d images built by `jdiffusion dataset emoji` from the npm package `emoji-datasource-google` 16.0.0
                (every emoji but the Flags and Component categories; no skin-tone variants), each composited onto
                white as PIL's `alpha_composite` does. `metadata.jsonl`: one line per image, `text` a list of captions
                to draw one from uniformly at random (repeats are weights; the first is the emoji's name).

                Artwork: Noto Emoji, Copyright Google Inc., Apache License 2.0
                (https://github.com/googlefonts/noto-emoji/blob/main/LICENSE). Names and categories: emoji-data by
                Cal Henderson (package emoji-datasource-google), MIT License (https://github.com/iamcal/emoji-data).
                """.formatted(n);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
