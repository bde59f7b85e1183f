package dev.jdiffusion.evaluation;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.image.RgbaImage;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Issue 10's "Done when" checks for a text-to-image model trained on a captioned image set:
 * <ul>
 * <li>prompt following: for each prompt (an image's name the model was not tuned on), generate one image and rank
 * the gallery by {@link NearestImages}; the share of prompts whose own image is the nearest (top-1) and among the
 * five nearest (top-5);</li>
 * <li>the text matters: the same seed with two different prompts (each prompt and the next, in a cycle) gives
 * pictures whose mean absolute difference is over 10 levels.</li>
 * </ul>
 * Every image is generated with the same request but for its prompt (same seed, steps, sampler, guidance).
 */
public final class PromptFollowing {
    /** Pictures of two prompts with the same seed must differ by more than this, on average (levels of 255). */
    public static final double MIN_PAIR_DIFFERENCE = 10;

    /** The gallery: each image with its name (the first caption of its metadata.jsonl line). */
    public record Gallery(List<String> names, List<RgbImage> images) {
        /** This gallery and more pictures after it (pictures a model was not trained on, searched all the same). */
        public Gallery plus(List<String> moreNames, List<RgbImage> moreImages) {
            if (moreNames.size() != moreImages.size())
                throw new IllegalArgumentException(moreNames.size() + " names for " + moreImages.size() + " images");
            List<String> n = new ArrayList<>(names);
            List<RgbImage> i = new ArrayList<>(images);
            n.addAll(moreNames);
            i.addAll(moreImages);
            return new Gallery(List.copyOf(n), List.copyOf(i));
        }

        /**
         * Reads a Hugging Face ImageFolder (metadata.jsonl: {@code file_name} and {@code text}, a string or a list whose
         * first entry is the name); images are put on white as PIL's alpha_composite does.
         */
        public static Gallery readImageFolder(Path dir) throws IOException {
            Path metadata = dir.resolve("metadata.jsonl");
            if (!Files.isRegularFile(metadata)) throw new ModelFormatException(metadata, null, "not found (expected an ImageFolder)");
            ObjectMapper json = new ObjectMapper();
            List<String> names = new ArrayList<>();
            List<RgbImage> images = new ArrayList<>();
            int lineNo = 0;
            for (String line : Files.readAllLines(metadata, StandardCharsets.UTF_8)) {
                lineNo++;
                if (line.isBlank()) continue;
                JsonNode n;
                try {
                    n = json.readTree(line);
                } catch (IOException e) {
                    throw new ModelFormatException(metadata, null, "line " + lineNo + " is not JSON: " + e.getMessage().lines().findFirst().orElse(""));
                }
                JsonNode text = n.path("text").isArray() ? n.path("text").path(0) : n.path("text");
                if (!n.path("file_name").isTextual() || !text.isTextual())
                    throw new ModelFormatException(metadata, null, "line " + lineNo + ": expected {\"file_name\": ..., \"text\": ...}");
                names.add(text.asText());
                images.add(RgbaImage.read(dir.resolve(n.get("file_name").asText())).compositeOnto(255, 255, 255));
            }
            if (images.isEmpty()) throw new ModelFormatException(metadata, null, "lists no images");
            return new Gallery(List.copyOf(names), List.copyOf(images));
        }
    }

    /**
     * One prompt's outcome.
     *
     * @param rank    gallery images other than the prompt's own that are strictly nearer than it (0 = top-1)
     * @param nearest the name of the nearest gallery image
     */
    public record PromptResult(String prompt, int rank, String nearest, double targetDistance, double nearestDistance) {}

    /**
     * What an evaluation found.
     *
     * @param pairDifferences mean |a − b| in levels between the pictures of prompt i and prompt i + 1 (cyclically)
     */
    public record Report(List<PromptResult> results, double[] pairDifferences, int gallerySize) {
        public double top1() { return share(1); }

        public double top5() { return share(5); }

        private double share(int k) {
            return results.stream().filter(r -> r.rank() < k).count() / (double) results.size();
        }

        /** Top-k by chance: k of the gallery's images. */
        public double chance(int k) { return k / (double) gallerySize; }

        public double minPairDifference() { return Arrays.stream(pairDifferences).min().orElse(Double.NaN); }

        public double medianPairDifference() {
            double[] d = pairDifferences.clone();
            Arrays.sort(d);
            return d.length == 0 ? Double.NaN : d.length % 2 == 1 ? d[d.length / 2] : (d[d.length / 2 - 1] + d[d.length / 2]) / 2;
        }

        /** Share of prompt pairs whose pictures differ by more than {@link #MIN_PAIR_DIFFERENCE} levels. */
        public double pairsDifferent() {
            return pairDifferences.length == 0 ? Double.NaN
                    : Arrays.stream(pairDifferences).filter(d -> d > MIN_PAIR_DIFFERENCE).count() / (double) pairDifferences.length;
        }

        public String summary() {
            return String.format(Locale.ROOT, "%d prompts, gallery of %d: top-1 %.1f%% (chance %.2f%%), top-5 %.1f%% (chance %.2f%%);"
                            + " same seed, next prompt: mean difference min %.1f, median %.1f levels, %.0f%% over %.0f",
                    results.size(), gallerySize, 100 * top1(), 100 * chance(1), 100 * top5(), 100 * chance(5),
                    minPairDifference(), medianPairDifference(), 100 * pairsDifferent(), MIN_PAIR_DIFFERENCE);
        }
    }

    private PromptFollowing() {}

    /**
     * Generates one picture per prompt with {@code template} (its prompt replaced) and measures it against the gallery.
     *
     * @param onImage called with each prompt's index and picture (to save them), may be null
     */
    public static Report evaluate(StableDiffusionPipeline pipeline, Gallery gallery, List<String> prompts,
                                  GenerationRequest template, BiConsumer<Integer, RgbImage> onImage) {
        List<Set<Integer>> targets = new ArrayList<>();
        for (String p : prompts) {
            Set<Integer> t = new HashSet<>();
            for (int i = 0; i < gallery.names().size(); i++) if (gallery.names().get(i).equals(p)) t.add(i);
            if (t.isEmpty()) throw new IllegalArgumentException("prompt '" + p + "' is not the name of any gallery image");
            targets.add(t);
        }
        NearestImages nearest = new NearestImages(gallery.images());
        List<PromptResult> results = new ArrayList<>();
        List<RgbImage> pictures = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            GenerationRequest request = GenerationRequest.builder(prompts.get(i)).negativePrompt(template.negativePrompt())
                    .steps(template.steps()).guidanceScale(template.guidanceScale()).sampler(template.sampler())
                    .seed(template.seed()).size(template.width(), template.height()).clipSkip(template.clipSkip())
                    .promptSyntax(template.promptSyntax()).build();
            RgbImage picture = pipeline.generate(request).images().getFirst();
            pictures.add(picture);
            if (onImage != null) onImage.accept(i, picture);
            results.add(measure(nearest, gallery, prompts.get(i), targets.get(i), picture));
        }
        double[] pairs = new double[prompts.size() < 2 ? 0 : prompts.size()];
        for (int i = 0; i < pairs.length; i++) pairs[i] = meanDifference(pictures.get(i), pictures.get((i + 1) % pictures.size()));
        return new Report(List.copyOf(results), pairs, gallery.images().size());
    }

    /** One picture's rank for a prompt whose images are {@code targets}. */
    public static PromptResult measure(NearestImages nearest, Gallery gallery, String prompt, Set<Integer> targets, RgbImage picture) {
        double[] d = nearest.distances(picture);
        int best = 0;
        for (int i = 1; i < d.length; i++) if (d[i] < d[best]) best = i;
        double target = Double.POSITIVE_INFINITY;
        for (int t : targets) target = Math.min(target, d[t]);
        return new PromptResult(prompt, NearestImages.rank(d, targets), gallery.names().get(best), target, d[best]);
    }

    /** Mean absolute difference of two same-size pictures over all pixels and channels, in levels (0..255). */
    public static double meanDifference(RgbImage a, RgbImage b) {
        if (a.width() != b.width() || a.height() != b.height())
            throw new IllegalArgumentException("pictures of different sizes: " + a.width() + "x" + a.height() + " and "
                    + b.width() + "x" + b.height());
        long sum = 0;
        for (int i = 0; i < a.rgb().length; i++) sum += Math.abs((a.rgb()[i] & 0xff) - (b.rgb()[i] & 0xff));
        return sum / (double) a.rgb().length;
    }

    /** Prompts from a text file: one a line, blank lines skipped. */
    public static List<String> readPrompts(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new ModelFormatException(file, null, "prompt list not found");
        return Files.readAllLines(file, StandardCharsets.UTF_8).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
    }
}
