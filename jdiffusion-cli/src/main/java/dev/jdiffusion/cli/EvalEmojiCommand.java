package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.datasets.EmojiDataset;
import dev.jdiffusion.evaluation.PromptFollowing;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.schedulers.Schedulers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code jdiffusion eval-emoji}: issue 10's prompt-following and text-matters measures for a model and its data set. */
@Command(name = "eval-emoji", mixinStandardHelpOptions = true,
        description = {"Measures how well a model follows prompts: for each prompt (a name from the data set) it generates one"
                + " picture and ranks the data set's images by likeness (on white, Gaussian blur sigma 1.5, averaged to"
                + " 16x16 RGB, squared L2, best of shifts up to 4 px). Reports the share of prompts whose own image is the"
                + " nearest (top-1) and among the 5 nearest (top-5), and how much pictures of the same seed differ between"
                + " one prompt and the next.",
                "Prints one line per prompt (rank, prompt, nearest image's name), then the summary."})
public final class EvalEmojiCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, description = "As for generate: a diffusers folder, a single file, or org/name in the Hugging Face cache.")
    String model;

    @Option(names = "--dataset", required = true, paramLabel = "DIR",
            description = "The ImageFolder the model was trained on (metadata.jsonl; an image's name is its first caption).")
    Path dataset;

    @Option(names = "--package", paramLabel = "DIR",
            description = "The unpacked emoji-datasource-google package: its flags and components join the gallery, which is then "
                    + "the package's 1,911 base emoji, as issue 10's measure has it (default: the data set's pictures only).")
    Path emojiPackage;

    @Option(names = "--prompts", paramLabel = "FILE",
            description = "Prompts, one a line (default: the data set's eval_prompts.txt, the held-out names).")
    Path prompts;

    @Option(names = "--seed", defaultValue = "1", description = "One seed for every picture (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--steps", defaultValue = "20", description = "Denoising steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = {"--guidance", "--cfg-scale"}, defaultValue = "7.5", description = "Classifier-free guidance scale (default: ${DEFAULT-VALUE}).")
    double guidance;

    @Option(names = "--sampler", description = "Sampler (default: the model's own scheduler).")
    String sampler;

    @Option(names = "--images", paramLabel = "DIR", description = "Also save each picture as DIR/NNN.png (with its parameters).")
    Path images;

    @Option(names = "--json", description = "Print the report as JSON instead of text.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        if (sampler != null && !Schedulers.names().contains(sampler))
            throw new ParameterException(spec.commandLine(), "unknown sampler '" + sampler + "'; valid samplers: "
                    + String.join(", ", Schedulers.names()));
        if (steps < 1) throw new ParameterException(spec.commandLine(), "--steps must be at least 1");
        List<String> list = PromptFollowing.readPrompts(prompts != null ? prompts : dataset.resolve("eval_prompts.txt"));
        if (list.isEmpty()) throw new ParameterException(spec.commandLine(), "no prompts to evaluate");
        PromptFollowing.Gallery gallery = PromptFollowing.Gallery.readImageFolder(dataset);
        if (emojiPackage != null) {
            List<String> names = new ArrayList<>();
            List<RgbImage> pictures = new ArrayList<>();
            for (EmojiDataset.Emoji e : EmojiDataset.leftOut(emojiPackage.resolve("emoji.json"))) {
                names.add(e.name().toLowerCase(Locale.ROOT));
                pictures.add(EmojiDataset.onWhite(emojiPackage, e));
            }
            gallery = gallery.plus(names, pictures);
        }
        StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(ModelLocator.resolve(model));
        GenerationRequest template = GenerationRequest.builder("").seed(seed).steps(steps).guidanceScale(guidance)
                .sampler(sampler != null ? sampler : pipeline.defaultSampler()).build();
        if (images != null) Files.createDirectories(images);
        PrintWriter out = spec.commandLine().getOut(), err = spec.commandLine().getErr();
        PromptFollowing.Report report = PromptFollowing.evaluate(pipeline, gallery, list, template, (i, picture) -> {
            if (images == null) return;
            try {
                PngFiles.write(images.resolve(String.format(Locale.ROOT, "%03d.png", i)), picture, Map.of("parameters",
                        list.get(i) + "\nSteps: " + steps + ", Sampler: " + template.sampler() + ", CFG scale: " + guidance
                                + ", Seed: " + seed + ", Model: " + pipeline.modelName()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        if (json) {
            out.println(toJson(report, list));
            return 0;
        }
        for (PromptFollowing.PromptResult r : report.results())
            out.printf(Locale.ROOT, "%5d  %s -> %s%n", r.rank(), r.prompt(), r.nearest());
        out.println(report.summary());
        return 0;
    }

    private String toJson(PromptFollowing.Report report, List<String> list) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        root.put("model", model).put("seed", seed).put("steps", steps).put("guidance", guidance)
                .put("gallery", report.gallerySize()).put("prompts", list.size())
                .put("top1", report.top1()).put("top5", report.top5())
                .put("min_pair_difference", report.minPairDifference())
                .put("median_pair_difference", report.medianPairDifference())
                .put("pairs_over_10_levels", report.pairsDifferent());
        ArrayNode results = root.putArray("results");
        for (int i = 0; i < report.results().size(); i++) {
            PromptFollowing.PromptResult r = report.results().get(i);
            ObjectNode n = results.addObject().put("prompt", r.prompt()).put("rank", r.rank()).put("nearest", r.nearest())
                    .put("target_distance", r.targetDistance()).put("nearest_distance", r.nearestDistance());
            if (report.pairDifferences().length > i) n.put("difference_to_next", report.pairDifferences()[i]);
        }
        return root.toString();
    }
}
