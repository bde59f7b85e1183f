package dev.jdiffusion.datasets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The emoji ImageFolder from a small package laid out as emoji-datasource-google's (emoji.json, img/google/64). */
class EmojiDatasetTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode emoji(ArrayNode all, String image, String name, String category, String subcategory,
                                    int sortOrder, String... shortNames) {
        ObjectNode e = all.addObject();
        e.put("name", name).put("unified", image.replace(".png", "").toUpperCase()).put("image", image)
                .put("category", category).put("subcategory", subcategory).put("sort_order", sortOrder)
                .put("has_img_google", true);
        ArrayNode sn = e.putArray("short_names");
        for (String s : shortNames) sn.add(s);
        return e;
    }

    /** Four kept emoji (out of sort order in the file), a flag, a component; one image per entry, 64×64 RGBA. */
    private static Path smallPackage(Path dir) throws IOException {
        ArrayNode all = JSON.createArrayNode();
        emoji(all, "1f4f1.png", "MOBILE PHONE", "Objects", "phone", 30, "iphone");
        emoji(all, "1f34e.png", "RED APPLE", "Food & Drink", "food-fruit", 10, "apple");
        emoji(all, "1f3c4-200d-2642-fe0f.png", "MAN SURFING", "People & Body", "person-sport", 20, "man-surfing");
        ObjectNode thumbs = emoji(all, "1f44d.png", "THUMBS UP SIGN", "People & Body", "hand-fingers-closed", 15, "+1", "thumbsup");
        thumbs.putObject("skin_variations").putObject("1F3FB").put("image", "1f44d-1f3fb.png");
        emoji(all, "1f1ea-1f1ec.png", "Egypt Flag", "Flags", "country-flag", 40, "flag-eg");
        emoji(all, "1f3fb.png", "EMOJI MODIFIER FITZPATRICK TYPE-1-2", "Component", "skin-tone", 5, "skin-tone-2");
        Files.createDirectories(dir.resolve("img/google/64"));
        Files.writeString(dir.resolve("emoji.json"), JSON.writeValueAsString(all));
        int k = 0;
        for (JsonNode e : all) {
            BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_4BYTE_ABGR);
            var raster = img.getRaster();
            for (int y = 0; y < 64; y++)
                for (int x = 0; x < 64; x++)
                    raster.setPixel(x, y, new int[]{(x * 4 + k) & 255, (y * 4) & 255, 200, (x * 4 + y) & 255});
            ImageIO.write(img, "png", dir.resolve("img/google/64").resolve(e.get("image").asText()).toFile());
            k += 50;
        }
        return dir;
    }

    @Test
    void buildsTheImageFolder(@TempDir Path tmp) throws IOException {
        Path pkg = smallPackage(tmp.resolve("package")), out = tmp.resolve("out");
        EmojiDataset.Result r = EmojiDataset.build(pkg, out);
        assertEquals(List.of("1f34e.png", "1f44d.png", "1f3c4-200d-2642-fe0f.png", "1f4f1.png"),
                r.emoji().stream().map(EmojiDataset.Emoji::image).toList(), "sort order, no flag, no component");
        assertEquals(List.of(
                "{\"file_name\": \"1f34e.png\", \"text\": [\"red apple\", \"red apple\", \"red apple\", \"red apple\", \"apple\", \"apple\", \"food fruit\"]}",
                "{\"file_name\": \"1f44d.png\", \"text\": [\"thumbs up sign\", \"thumbs up sign\", \"thumbs up sign\", \"thumbs up sign\", \"thumbsup\", \"thumbsup\", \"hand fingers closed\"]}",
                "{\"file_name\": \"1f3c4-200d-2642-fe0f.png\", \"text\": [\"man surfing\", \"man surfing\", \"man surfing\", \"man surfing\", \"person sport\"]}",
                "{\"file_name\": \"1f4f1.png\", \"text\": [\"mobile phone\", \"mobile phone\", \"mobile phone\", \"mobile phone\", \"iphone\", \"iphone\", \"phone\"]}"),
                Files.readAllLines(out.resolve("metadata.jsonl"), StandardCharsets.UTF_8));
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(List.of("1f34e.png", "1f3c4-200d-2642-fe0f.png", "1f44d.png", "1f4f1.png", "README.md",
                    "dev_prompts.txt", "eval_prompts.txt", "metadata.jsonl"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        // Each image is the RGBA original over white: floor((c·a + 255·(255 − a)) / 255 + 1/2), as PIL makes it.
        RgbImage apple = PngFiles.read(out.resolve("1f34e.png")).image();
        assertEquals(64, apple.width());
        for (int y = 0; y < 64; y += 9)
            for (int x = 0; x < 64; x += 7) {
                int a = (x * 4 + y) & 255;
                int[] c = {(x * 4 + 50) & 255, (y * 4) & 255, 200};  // the apple is the file's second image: k = 50
                for (int ch = 0; ch < 3; ch++)
                    assertEquals((int) Math.floor((c[ch] * a + 255.0 * (255 - a)) / 255 + 0.5), apple.get(x, y, ch));
            }
        assertTrue(Files.readString(out.resolve("README.md")).contains("Apache License 2.0"));

        // What the data set leaves out (flags, components) is still there for the measure's gallery, in sort order.
        List<EmojiDataset.Emoji> leftOut = EmojiDataset.leftOut(pkg.resolve("emoji.json"));
        assertEquals(List.of("1f3fb.png", "1f1ea-1f1ec.png"), leftOut.stream().map(EmojiDataset.Emoji::image).toList());
        RgbImage flag = EmojiDataset.onWhite(pkg, leftOut.get(1));
        int a = (7 * 4 + 9) & 255, c = (7 * 4 + 4 * 50) & 255;  // the flag is the file's fifth image: k = 200
        assertEquals((int) Math.floor((c * a + 255.0 * (255 - a)) / 255 + 0.5), flag.get(7, 9, 0));
    }

    @Test
    void heldOutPromptsAreEverySixteenthNameFromTheEighth() {
        List<EmojiDataset.Emoji> sorted = new ArrayList<>();
        for (int i = 0; i < 40; i++)
            sorted.add(new EmojiDataset.Emoji(i + ".png", "EMOJI " + i, List.of(), "Objects", "tool", i));
        assertEquals(List.of("emoji 7", "emoji 23", "emoji 39"), EmojiDataset.evalPrompts(sorted));
        assertEquals(List.of("emoji 15", "emoji 31"), EmojiDataset.devPrompts(sorted));
    }

    @Test
    void captionsKeepTheNameAndLetterShortNamesOnly() {
        var keycap = new EmojiDataset.Emoji("0032-fe0f-20e3.png", "KEYCAP 2", List.of("two"), "Symbols", "keycap", 1);
        var hundred = new EmojiDataset.Emoji("1f4af.png", "HUNDRED POINTS SYMBOL", List.of("100"), "Smileys & Emotion", "emotion", 2);
        var cap = new EmojiDataset.Emoji("1f393.png", "GRADUATION CAP", List.of("mortar_board", "graduation_cap"), "Objects", "clothing", 3);
        assertEquals(List.of("keycap 2", "keycap 2", "keycap 2", "keycap 2", "two", "two", "keycap"), EmojiDataset.captions(keycap));
        assertEquals(List.of("hundred points symbol", "hundred points symbol", "hundred points symbol", "hundred points symbol",
                "emotion"), EmojiDataset.captions(hundred));
        assertEquals(List.of("graduation cap", "graduation cap", "graduation cap", "graduation cap", "mortar board",
                "mortar board", "clothing"), EmojiDataset.captions(cap));
    }

    @Test
    void refusesAnExistingOutputAndLeavesNothingWhenAnImageIsMissing(@TempDir Path tmp) throws IOException {
        Path pkg = smallPackage(tmp.resolve("package"));
        Path existing = Files.createDirectory(tmp.resolve("existing"));
        assertThrows(FileAlreadyExistsException.class, () -> EmojiDataset.build(pkg, existing));
        Files.delete(pkg.resolve("img/google/64/1f4f1.png"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> EmojiDataset.build(pkg, tmp.resolve("out")));
        assertTrue(e.getMessage().contains("1f4f1.png") && e.getMessage().contains("mobile phone".toUpperCase()), e.getMessage());
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of("existing", "package"), left.map(p -> p.getFileName().toString()).sorted().toList());
        }
        Files.writeString(pkg.resolve("emoji.json"), "{\"not\": \"a list\"}");
        ModelFormatException notList = assertThrows(ModelFormatException.class, () -> EmojiDataset.build(pkg, tmp.resolve("out")));
        assertTrue(notList.getMessage().contains("emoji.json"), notList.getMessage());
    }
}
