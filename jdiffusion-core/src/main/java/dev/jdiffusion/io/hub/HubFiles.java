package dev.jdiffusion.io.hub;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.hub.ModelInfo.RepoSibling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.ToLongFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Which files of a repo the pipeline needs; repos hold many more (IP-adapter image encoder, flax/onnx/openvino exports,
 * .bin copies of the weights, fp16 variants, root-level single-file checkpoints, sample images).
 *
 * <p><b>Diffusers repos</b> (with {@code model_index.json}): the parts that model_index.json names, except
 * {@link #SKIPPED_PARTS} (and {@link #SAFETY_CHECKER_PARTS} when the safety checker is turned off); in each part
 * folder (direct children only) every {@code .json} / {@code .txt} file
 * (config.json, scheduler_config.json, tokenizer files; small) and one set of weights: diffusers' or
 * transformers' weight names ({@code diffusion_pytorch_model}, {@code model}, {@code pytorch_model}):
 * safetensors in any variant; within it the requested variant ({@code .fp16.safetensors}), else the plain
 * file, else fp16, else the first variant by name (so a repo with fp16 weights only still works without
 * {@code --variant}). Shards ({@code -00001-of-00002}) and their {@code .index.json} come with the set they
 * belong to. A part whose weights exist only as pickled {@code .bin} is refused before anything large is
 * fetched: a diffusers folder is read from safetensors only ({@code DiffusersFolder}).
 *
 * <p><b>Single-file repos</b> (no model_index.json): one checkpoint at the root, plus the root's config files
 * ({@code .json}, {@code .yaml}); see {@link #pickCheckpoint} for which one. A snapshot folder that holds
 * several is read the same way ({@link HubCache#checkpointIn}).
 */
final class HubFiles {
    private HubFiles() {}

    /** Pipeline parts that jdiffusion never runs: the IP-adapter image encoder. */
    static final Set<String> SKIPPED_PARTS = Set.of("image_encoder");
    /** The NSFW checker and its image preprocessor: fetched unless the safety checker is turned off. */
    static final Set<String> SAFETY_CHECKER_PARTS = Set.of("safety_checker", "feature_extractor");

    /** {@code <name>[.<variant>][-00001-of-00002].<format>} */
    private static final Pattern WEIGHTS = Pattern.compile(
            "(diffusion_pytorch_model|model|pytorch_model)(?:\\.(\\w+))?(?:-\\d{5}-of-\\d{5})?\\.(safetensors|bin)");
    /** {@code <name>.<format>.index[.<variant>].json}: the shard index of a set of weights. */
    private static final Pattern WEIGHTS_INDEX = Pattern.compile(
            "(diffusion_pytorch_model|model|pytorch_model)\\.(safetensors|bin)\\.index(?:\\.(\\w+))?\\.json");

    /** A set of weights: its format and variant ("" for none). */
    private record WeightSet(String format, String variant) {}

    /** The files of a diffusers repo that the pipeline needs, safety checker included (model_index.json excluded). */
    static List<RepoSibling> forPipeline(List<RepoSibling> siblings, JsonNode modelIndex, String variant) throws HubException {
        return forPipeline(siblings, modelIndex, variant, true);
    }

    /**
     * The files of a diffusers repo that the pipeline needs, part by part (model_index.json itself excluded);
     * {@code safetyChecker}: whether to take the safety checker and its feature extractor when the repo has them.
     */
    static List<RepoSibling> forPipeline(List<RepoSibling> siblings, JsonNode modelIndex, String variant,
                                         boolean safetyChecker) throws HubException {
        Set<String> parts = new LinkedHashSet<>();
        modelIndex.properties().forEach(e -> {
            JsonNode v = e.getValue();
            // A part is ["library", "ClassName"]; [null, null] marks an absent one (e.g. no safety checker).
            if (!e.getKey().startsWith("_") && v.isArray() && v.size() == 2 && v.get(0).isTextual()
                    && v.get(1).isTextual() && !SKIPPED_PARTS.contains(e.getKey())
                    && (safetyChecker || !SAFETY_CHECKER_PARTS.contains(e.getKey())))
                parts.add(e.getKey());
        });
        List<RepoSibling> chosen = new ArrayList<>();
        for (String part : parts) {
            List<RepoSibling> inPart = siblings.stream().filter(s -> isDirectChild(s.rfilename(), part)).toList();
            WeightSet weights = pickWeights(inPart, variant);
            if (weights != null && !weights.format().equals("safetensors"))
                throw new HubException(part + ": the repo has this part's weights only as pickled ." + weights.format()
                        + " files (" + inPart.stream().map(RepoSibling::rfilename).filter(n -> n.endsWith("." + weights.format()))
                        .collect(Collectors.joining(", ")) + "), and jdiffusion reads a diffusers folder's weights from"
                        + " .safetensors only; nothing was downloaded. Look for a safetensors revision of the repo"
                        + " (--revision), or convert the weights to safetensors"
                        + (SAFETY_CHECKER_PARTS.contains(part) ? ", or download without the safety checker (--no-safety-checker)" : ""));
            for (RepoSibling s : inPart) {
                String name = s.rfilename().substring(part.length() + 1);
                WeightSet set = weightSetOf(name);
                boolean isConfig = (name.endsWith(".json") || name.endsWith(".txt")) && !WEIGHTS_INDEX.matcher(name).matches();
                if (isConfig || (set != null && set.equals(weights))) chosen.add(s);
            }
        }
        return chosen;
    }

    /** The checkpoint and config files of a single-file repo; empty when it has no checkpoint at its root. */
    static List<RepoSibling> forSingleFile(List<RepoSibling> siblings, String variant) {
        List<RepoSibling> atRoot = siblings.stream().filter(s -> !s.rfilename().contains("/")).toList();
        Optional<RepoSibling> checkpoint = pickCheckpoint(atRoot, RepoSibling::rfilename, RepoSibling::size, variant);
        if (checkpoint.isEmpty()) return List.of();
        List<RepoSibling> chosen = new ArrayList<>();
        for (RepoSibling s : atRoot) {
            String n = s.rfilename();
            boolean config = n.endsWith(".json") || n.endsWith(".yaml") || n.endsWith(".yml");
            if (s == checkpoint.get() || config) chosen.add(s);
        }
        return chosen;
    }

    /**
     * The single-file checkpoint to use among {@code files} (names without folders), or empty when none is a
     * checkpoint. {@code .safetensors} files are preferred; {@code .ckpt} only when there is none (it is read
     * safely, but safetensors need no unpickling). Among several: with a variant, those whose name contains
     * it (e.g. {@code fp16}) if any; without one, those whose name does not contain {@code fp16} if any; of
     * what is left, the largest (full precision and complete rather than a trimmed copy), then the first by name.
     * The downloader chooses what to fetch this way, and the loader what to read of a snapshot holding several.
     */
    static <T> Optional<T> pickCheckpoint(List<T> files, Function<T, String> name, ToLongFunction<T> size, String variant) {
        List<T> checkpoints = List.of();
        for (String ext : CHECKPOINT_EXTENSIONS) {
            checkpoints = files.stream().filter(f -> name.apply(f).toLowerCase(Locale.ROOT).endsWith(ext)).toList();
            if (!checkpoints.isEmpty()) break;
        }
        String want = variant != null ? variant.toLowerCase(Locale.ROOT) : null;
        List<T> preferred = checkpoints.stream().filter(f -> {
            boolean has = name.apply(f).toLowerCase(Locale.ROOT).contains(want != null ? want : "fp16");
            return want != null ? has : !has;
        }).toList();
        if (!preferred.isEmpty()) checkpoints = preferred;
        return checkpoints.stream().max(Comparator.comparingLong(size).thenComparing(name, Comparator.reverseOrder()));
    }

    /** The extensions of single-file checkpoints, preferred first. */
    static final List<String> CHECKPOINT_EXTENSIONS = List.of(".safetensors", ".ckpt");

    private static boolean isDirectChild(String path, String folder) {
        return path.startsWith(folder + "/") && path.indexOf('/', folder.length() + 1) < 0;
    }

    /** The weight set a file name belongs to (weights or their shard index), or null when it is not weights. */
    private static WeightSet weightSetOf(String name) {
        Matcher m = WEIGHTS.matcher(name);
        if (m.matches()) return new WeightSet(m.group(3), m.group(2) == null ? "" : m.group(2));
        m = WEIGHTS_INDEX.matcher(name);
        if (m.matches()) return new WeightSet(m.group(2), m.group(3) == null ? "" : m.group(3));
        return null;
    }

    /** The preferred weight set among a part's files, or null when it has none (tokenizer, scheduler). */
    private static WeightSet pickWeights(List<RepoSibling> inPart, String variant) {
        Map<String, Set<String>> variantsByFormat = new TreeMap<>();   // format -> variants present
        for (RepoSibling s : inPart) {
            WeightSet w = weightSetOf(s.rfilename().substring(s.rfilename().lastIndexOf('/') + 1));
            if (w != null) variantsByFormat.computeIfAbsent(w.format(), k -> new TreeSet<>()).add(w.variant());
        }
        for (String format : List.of("safetensors", "bin")) {   // .bin is found only to be refused by name
            Set<String> variants = variantsByFormat.getOrDefault(format, Set.of());
            if (variants.isEmpty()) continue;
            for (String v : Arrays.asList(variant, "", "fp16"))
                if (v != null && variants.contains(v)) return new WeightSet(format, v);
            return new WeightSet(format, variants.iterator().next());   // only other variants: the first by name
        }
        return null;
    }
}
