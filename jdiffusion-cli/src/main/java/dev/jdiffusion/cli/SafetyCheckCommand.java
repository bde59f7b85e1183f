package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.models.safety.StableDiffusionSafetyChecker;
import dev.jdiffusion.pipelines.SafetyCheckerStep;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code jdiffusion safety-check --model MODEL IMG...}: runs a model's safety checker (diffusers'
 * StableDiffusionSafetyChecker with its CLIPImageProcessor) on any images, as generate runs it on its own.
 */
@Command(name = "safety-check", mixinStandardHelpOptions = true,
        description = "Score images with a model's safety checker (the check generate runs on every image it makes).")
public final class SafetyCheckCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "MODEL",
            description = "A diffusers folder (or a Hugging Face repo id, org/name, in the local cache) with safety_checker/"
                    + " and feature_extractor/.")
    private String model;

    @Option(names = "--json", description = "One line per image: {\"image\": PATH, \"nsfw\": bool, \"concept_scores\": [17],"
            + " \"special_scores\": [3]}, the scores before diffusers rounds them.")
    private boolean json;

    @Parameters(paramLabel = "IMG", arity = "1..*", description = "Images (PNG, JPEG, BMP, GIF), read as PIL's convert(\"RGB\").")
    private List<Path> images;

    @Override
    public Integer call() throws IOException {
        Path dir = ModelLocator.resolve(model);
        SafetyCheckerStep step = SafetyCheckerStep.forModel(dir).orElseThrow(() -> new ModelFormatException(
                dir.resolve("model_index.json"), "safety_checker", "this model has no safety checker"));
        // Every image is read before any is scored: a bad file stops the run before anything is printed.
        List<RgbImage> read = new ArrayList<>();
        for (Path p : images) {
            if (!Files.isRegularFile(p)) throw new IOException(p + ": image not found");
            read.add(PngFiles.read(p).image());
        }
        PrintWriter out = spec.commandLine().getOut();
        for (int i = 0; i < images.size(); i++) {
            StableDiffusionSafetyChecker.Scores s = step.score(List.of(read.get(i))).getFirst();
            if (json) {
                ObjectNode node = JSON.createObjectNode();
                node.put("image", images.get(i).toString()).put("nsfw", s.nsfw());
                ArrayNode concepts = node.putArray("concept_scores"), special = node.putArray("special_scores");
                for (double v : s.conceptScores()) concepts.add(v);
                for (double v : s.specialScores()) special.add(v);
                out.println(node);
            } else {
                out.println(images.get(i) + ": " + (s.nsfw() ? "flagged (concepts " + join(s.badConcepts()) + ")" : "ok")
                        + (s.specialCare().isEmpty() ? "" : ", special care " + join(s.specialCare())));
            }
        }
        return 0;
    }

    private static String join(List<Integer> list) {
        return list.stream().map(String::valueOf).collect(Collectors.joining(", "));
    }
}
