package dev.jdiffusion.io.adapters;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.ckpt.CkptFile;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One textual-inversion embedding: a trigger word and the vectors it stands for (one token position each), read
 * from the files the web UIs and diffusers write:
 * <ul>
 *   <li>A1111 {@code .pt}: a torch zip of {@code {"string_to_param": {"*": tensor (n, C)}, "name": ...}}, read by
 *       the restricted unpickler; trigger = the file's stem (its own "name" field is ignored, as A1111 does);</li>
 *   <li>A1111 {@code .safetensors}: {@code {"emb_params": (n, C)}}; trigger = the file's stem;</li>
 *   <li>diffusers ({@code learned_embeds.safetensors} / {@code .bin}): {@code {token: (n, C) or (C)}}; trigger = the token.</li>
 * </ul>
 * Vectors are float32 (half-precision files are widened).
 *
 * @param vectors n × width values, row-major
 */
public record TextualInversion(String trigger, int count, int width, float[] vectors, Path file, String format) {

    /** File extensions read from an embeddings folder (A1111 also reads embeddings hidden in images; those are skipped). */
    static final Set<String> EXTENSIONS = Set.of("pt", "bin", "safetensors");

    public TextualInversion {
        if (vectors.length != count * width) throw new IllegalArgumentException(count + " × " + width + " != " + vectors.length);
    }

    /** One vector (a token position's embedding). */
    public float[] vector(int i) { return java.util.Arrays.copyOfRange(vectors, i * width, (i + 1) * width); }

    /** Reads an embedding file; any problem is one {@link ModelFormatException} naming the file. */
    public static TextualInversion read(Path file) {
        if (!Files.isRegularFile(file)) throw new ModelFormatException(file, null, "embedding file not found");
        String stem = stem(file);
        String ext = extension(file);
        if (ext.equals("safetensors")) {
            SafeTensors st = SafeTensors.open(file);
            if (st.contains("emb_params")) return of(stem, st.tensor("emb_params"), file, "a1111 safetensors");
            if (st.contains("clip_l") || st.contains("clip_g"))
                throw new ModelFormatException(file, null, "this is an SDXL embedding (clip_l/clip_g): jdiffusion runs SD 1.x/2.x");
            return diffusers(st, file);
        }
        TensorFile f = CkptFile.open(file, "string_to_param");
        if (f.contains("*") && f.names().size() == 1) return of(stem, f.tensor("*"), file, "a1111 pt");
        return diffusers(f, file);
    }

    /** Every embedding file in {@code dir} and its subfolders (.pt, .bin, .safetensors; empty and hidden files skipped), sorted by path. */
    public static List<Path> filesIn(Path dir) {
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir, null, "embeddings folder not found");
        try (Stream<Path> s = Files.walk(dir, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
            List<Path> out = new ArrayList<>();
            for (Path p : (Iterable<Path>) s.sorted()::iterator) {
                String name = p.getFileName().toString();
                if (!Files.isRegularFile(p) || name.startsWith(".") || !EXTENSIONS.contains(extension(p)) || Files.size(p) == 0)
                    continue;
                out.add(p);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("reading embeddings folder " + dir + ": " + e.getMessage(), e);
        }
    }

    private static TextualInversion diffusers(TensorFile f, Path file) {
        if (f.names().size() != 1)
            throw new ModelFormatException(file, null, "not a textual-inversion embedding: expected one tensor (diffusers:"
                    + " {token: vectors}), A1111's emb_params or string_to_param, found " + f.names().size() + " tensors ("
                    + String.join(", ", f.names().stream().limit(5).toList()) + ")");
        String token = f.names().iterator().next();
        return of(token, f.tensor(token), file, "diffusers");
    }

    private static TextualInversion of(String trigger, WeightTensor t, Path file, String format) {
        int[] shape = t.shape();
        if (shape.length == 1) shape = new int[]{1, shape[0]};
        if (shape.length != 2 || shape[0] < 1 || shape[1] < 1)
            throw new ModelFormatException(file, t.name(), "embedding vectors must be (n, width) or (width), found shape "
                    + java.util.Arrays.toString(t.shape()));
        if (trigger.isBlank()) throw new ModelFormatException(file, t.name(), "the embedding has no trigger word");
        float[] v = t.toFloatArray();
        for (float x : v)
            if (!Float.isFinite(x)) throw new ModelFormatException(file, t.name(), "embedding holds NaN or infinite values");
        return new TextualInversion(trigger, shape[0], shape[1], v, file, format);
    }

    static String stem(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    static String extension(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(dot + 1).toLowerCase(Locale.ROOT) : "";
    }

    @Override public String toString() { return trigger + " (" + count + " × " + width + ", " + file + ")"; }
}
