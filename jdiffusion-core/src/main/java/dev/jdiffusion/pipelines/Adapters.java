package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.adapters.FileHashes;
import dev.jdiffusion.io.adapters.LoraFile;
import dev.jdiffusion.io.adapters.LoraMerge;
import dev.jdiffusion.io.adapters.TextualInversion;
import dev.jdiffusion.pipelines.prompt.ExtraNetworks;
import dev.jdiffusion.pipelines.prompt.PromptSyntax;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The LoRAs and textual-inversion embeddings of a request, found and read: the request's own ({@code --lora},
 * {@code --embedding}, {@code --embeddings-dir}) and, with the A1111 syntax, the prompt's {@code <lora:NAME:SCALE>}
 * tags (NAME.safetensors in the request's LoRA folder). Files are mapped, not copied; {@link #key()} tells two sets
 * apart, so that a model with these adapters can be reused for the next request that asks for the same.
 */
public final class Adapters {
    /** A LoRA as applied: the request's {@link Lora} and its file, read. */
    public record AppliedLora(Lora lora, LoraFile file) {}

    /** No adapters: the model as loaded. */
    public static final Adapters NONE = new Adapters(List.of(), List.of(), List.of(), List.of());

    private final List<AppliedLora> loras;
    private final List<TextualInversion> embeddings, folderEmbeddings;
    private final List<Object> key;

    private Adapters(List<AppliedLora> loras, List<TextualInversion> embeddings, List<TextualInversion> folderEmbeddings, List<Object> key) {
        this.loras = List.copyOf(loras);
        this.embeddings = List.copyOf(embeddings);
        this.folderEmbeddings = List.copyOf(folderEmbeddings);
        this.key = List.copyOf(key);
    }

    public List<AppliedLora> loras() { return loras; }

    /** Embeddings given by file. */
    public List<TextualInversion> embeddings() { return embeddings; }

    /** Embeddings found in the embeddings folder. */
    public List<TextualInversion> folderEmbeddings() { return folderEmbeddings; }

    public boolean isEmpty() { return loras.isEmpty() && embeddings.isEmpty() && folderEmbeddings.isEmpty(); }

    /** What identifies these adapters: the files (path, size, modification time) and the scales. */
    public List<Object> key() { return key; }

    /** The LoRAs with their multipliers, for {@link LoraMerge#plan}. */
    public List<LoraMerge.Scaled> scaled() {
        return loras.stream().map(l -> new LoraMerge.Scaled(l.file(), l.lora().textEncoderScale(), l.lora().unetScale())).toList();
    }

    /** Reads what the request asks for: its LoRAs and embeddings, and (A1111 syntax) the prompt's LoRA tags. */
    public static Adapters of(GenerationRequest r) {
        List<Lora> wanted = new ArrayList<>(r.loras());
        if (r.promptSyntax() == PromptSyntax.A1111) wanted.addAll(fromTags(r.prompt(), r.loraDirectory()));
        List<Path> embeddingFiles = new ArrayList<>(r.embeddings());
        List<Path> folder = r.embeddingsDirectory() == null ? List.of() : TextualInversion.filesIn(r.embeddingsDirectory());
        if (wanted.isEmpty() && embeddingFiles.isEmpty() && folder.isEmpty()) return NONE;
        List<Object> key = new ArrayList<>();
        List<AppliedLora> loras = new ArrayList<>();
        for (Lora l : wanted) {
            loras.add(new AppliedLora(l, LoraFile.open(l.file())));
            key.add(List.of("lora", fileKey(l.file()), l.textEncoderScale(), l.unetScale()));
        }
        List<TextualInversion> given = new ArrayList<>(), found = new ArrayList<>();
        for (Path p : embeddingFiles) {
            given.add(TextualInversion.read(p));
            key.add(List.of("embedding", fileKey(p)));
        }
        for (Path p : folder) {
            found.add(TextualInversion.read(p));
            key.add(List.of("folder embedding", fileKey(p)));
        }
        return new Adapters(loras, given, found, key);
    }

    /**
     * The prompt's {@code <lora:NAME[:TE[:UNET]]>} tags (also {@code te=}, {@code unet=}; {@code lyco} is the same),
     * as A1111 reads them: TE defaults to 1, UNET to TE.
     */
    static List<Lora> fromTags(String prompt, Path dir) {
        List<Lora> out = new ArrayList<>();
        for (ExtraNetworks.Tag tag : ExtraNetworks.parse(prompt).tags()) {
            String type = tag.type();
            if (type.equals("hypernet"))
                throw new IllegalArgumentException("prompt: " + tag.text() + ": hypernetworks are not supported (LoRAs are: <lora:NAME:SCALE>)");
            if (!type.equals("lora") && !type.equals("lyco")) continue;  // A1111 ignores unknown extra networks too
            List<String> pos = tag.positional();
            if (pos.isEmpty() || pos.getFirst().isBlank())
                throw new IllegalArgumentException("prompt: " + tag.text() + ": a LoRA tag names a file: <lora:NAME:SCALE>");
            if (tag.named().containsKey("dyn"))
                throw new IllegalArgumentException("prompt: " + tag.text() + ": dyn= (using fewer of the LoRA's ranks) is not supported");
            double te = pos.size() > 1 ? number(pos.get(1), tag) : 1.0;
            if (tag.named().containsKey("te")) te = number(tag.named().get("te"), tag);
            double unet = pos.size() > 2 ? number(pos.get(2), tag) : te;
            if (tag.named().containsKey("unet")) unet = number(tag.named().get("unet"), tag);
            String name = pos.getFirst();
            out.add(new Lora(find(name, dir, tag), te, unet, name.replace(":", "").replace(",", "")));
        }
        return out;
    }

    private static double number(String s, ExtraNetworks.Tag tag) {
        try {
            double v = Double.parseDouble(s.strip());
            if (Double.isFinite(v)) return v;
        } catch (NumberFormatException ignored) {
            // below
        }
        throw new IllegalArgumentException("prompt: " + tag.text() + ": the multiplier '" + s + "' is not a number");
    }

    private static final Set<String> LORA_EXTENSIONS = Set.of("safetensors", "pt", "ckpt");

    /** NAME.safetensors in the folder, else a file named NAME.(safetensors|pt|ckpt) in it or below (as A1111 finds them). */
    private static Path find(String name, Path dir, ExtraNetworks.Tag tag) {
        if (dir == null)
            throw new IllegalArgumentException("prompt: " + tag.text() + " names a LoRA, but no LoRA folder was given (--lora-dir DIR, where "
                    + name + ".safetensors is)");
        if (!Files.isDirectory(dir)) throw new ModelFormatException(dir, null, "LoRA folder not found");
        Path direct = dir.resolve(name + ".safetensors").normalize();
        if (direct.startsWith(dir.normalize()) && Files.isRegularFile(direct)) return direct;
        try (Stream<Path> s = Files.walk(dir, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
            List<Path> found = s.filter(Files::isRegularFile).filter(p -> {
                String n = p.getFileName().toString();
                int dot = n.lastIndexOf('.');
                return dot > 0 && n.substring(0, dot).equals(name) && LORA_EXTENSIONS.contains(n.substring(dot + 1).toLowerCase(Locale.ROOT));
            }).sorted().toList();
            if (!found.isEmpty()) return found.getFirst();
        } catch (IOException e) {
            throw new UncheckedIOException("reading LoRA folder " + dir + ": " + e.getMessage(), e);
        }
        throw new IllegalArgumentException("prompt: " + tag.text() + ": no LoRA named '" + name + "' in " + dir
                + " (looked for " + name + ".safetensors, .pt, .ckpt)");
    }

    private static List<Object> fileKey(Path p) {
        try {
            Path abs = p.toAbsolutePath().normalize();
            return List.of(abs.toString(), Files.size(abs), Files.getLastModifiedTime(abs).toMillis());
        } catch (IOException e) {
            return List.of(p.toAbsolutePath().normalize().toString());
        }
    }

    /**
     * The infotext fields A1111 writes for these adapters: "Lora hashes" (each LoRA's name and kohya's addnet hash, or
     * the file's own {@code sshs_model_hash}) and "TI hashes" (each embedding used in the prompts and its file hash).
     */
    public Map<String, String> infotext(List<TextualInversion> used) {
        Map<String, String> out = new LinkedHashMap<>();
        Map<String, String> loraHashes = new LinkedHashMap<>();
        for (AppliedLora l : loras) {
            String hash = l.file().metadata().get("sshs_model_hash");
            hash = hash != null && hash.length() >= 12 ? hash.substring(0, 12) : CACHE.hash(l.file().file(), true);
            loraHashes.putIfAbsent(l.lora().name(), hash);
        }
        if (!loraHashes.isEmpty()) out.put("Lora hashes", join(loraHashes));
        Map<String, String> tiHashes = new LinkedHashMap<>();
        for (TextualInversion e : used) tiHashes.putIfAbsent(e.trigger().replace(":", "").replace(",", ""), CACHE.hash(e.file(), false));
        if (!tiHashes.isEmpty()) out.put("TI hashes", join(tiHashes));
        return out;
    }

    /**
     * The tags that reproduce the request's own LoRAs (not those already tagged in the prompt) in A1111:
     * " &lt;lora:NAME:SCALE&gt;" each.
     */
    public static String promptTags(GenerationRequest r) {
        StringBuilder sb = new StringBuilder();
        for (Lora l : r.loras()) {
            sb.append(" <lora:").append(l.name()).append(':').append(InfoText.number(l.textEncoderScale()));
            if (l.unetScale() != l.textEncoderScale()) sb.append(':').append(InfoText.number(l.unetScale()));
            sb.append('>');
        }
        return sb.toString();
    }

    private static String join(Map<String, String> m) {
        StringBuilder sb = new StringBuilder();
        m.forEach((k, v) -> sb.append(sb.isEmpty() ? "" : ", ").append(k).append(": ").append(v));
        return sb.toString();
    }

    /** File hashes, computed once per file version (a server hashes the same LoRAs for request after request). */
    private static final HashCache CACHE = new HashCache();

    private static final class HashCache {
        private final Map<List<Object>, String> hashes = new ConcurrentHashMap<>();

        String hash(Path p, boolean addnet) {
            return hashes.computeIfAbsent(List.of(addnet, fileKey(p)), k -> addnet ? FileHashes.addnetShort(p) : FileHashes.sha256Short(p));
        }
    }
}
