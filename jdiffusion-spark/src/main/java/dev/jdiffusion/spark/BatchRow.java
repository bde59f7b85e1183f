package dev.jdiffusion.spark;

import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.schedulers.Schedulers;

import java.io.Serial;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * One row of a batch's request table, as text (CSV gives text, JSON and Parquet numbers; all are read as text
 * and parsed here, so that a bad value fails its own row with a reason instead of the whole job).
 *
 * @param id             the row's name: its output is {@code images/<id>.png}; unique in the table
 * @param prompt         what to draw (required)
 * @param negativePrompt what to avoid, or null for the job's default
 * @param seed           the seed, or null to derive one from the id and the job seed
 * @param steps          denoising steps, or null for the job's default
 * @param guidance       CFG scale, or null for the job's default
 * @param sampler        sampler name ({@code euler_a}, ...), or null for the job's default
 * @param width          image width in pixels, or null for the job's default
 * @param height         image height in pixels, or null for the job's default
 */
public record BatchRow(String id, String prompt, String negativePrompt, String seed, String steps, String guidance,
                       String sampler, String width, String height) implements Serializable {
    @Serial private static final long serialVersionUID = 1L;

    /** The table's column names, in this record's order. */
    public static final List<String> COLUMNS =
            List.of("id", "prompt", "negative_prompt", "seed", "steps", "guidance", "sampler", "width", "height");

    /** A row whose values are all valid, resolved against the job's defaults: what is generated. */
    public record Resolved(String id, GenerationRequest request) {}

    /**
     * This row as a request, with the job's defaults for what it leaves out.
     *
     * @throws IllegalArgumentException naming the column and the value when one is invalid
     */
    public Resolved resolve(BatchDefaults defaults) {
        if (id == null || id.isBlank()) throw new IllegalArgumentException("id is empty");
        if (prompt == null) throw new IllegalArgumentException("prompt is empty");
        long s = seed == null || seed.isBlank() ? derivedSeed(defaults.jobSeed(), id) : parseLong("seed", seed);
        int n = steps == null || steps.isBlank() ? defaults.steps() : parseInt("steps", steps);
        if (n < 1) throw new IllegalArgumentException("steps must be at least 1, got " + n);
        double g = guidance == null || guidance.isBlank() ? defaults.guidance() : parseDouble("guidance", guidance);
        String sam = sampler == null || sampler.isBlank() ? defaults.sampler() : sampler.trim();
        if (!Schedulers.names().contains(sam))
            throw new IllegalArgumentException("unknown sampler '" + sam + "'; valid samplers: " + String.join(", ", Schedulers.names()));
        int w = width == null || width.isBlank() ? defaults.width() : positive("width", parseInt("width", width));
        int h = height == null || height.isBlank() ? defaults.height() : positive("height", parseInt("height", height));
        String neg = negativePrompt == null ? defaults.negativePrompt() : negativePrompt;
        return new Resolved(id, GenerationRequest.builder(prompt).negativePrompt(neg).seed(s).steps(n).guidanceScale(g)
                .sampler(sam).size(w, h).build());
    }

    /**
     * The seed of a row without one: the first 32 bits of SHA-256("jdiffusion-batch-seed", job seed, id), an
     * unsigned number below 2³² as the CLI's random seeds are. Depends only on the two, never on order or partitions.
     */
    public static long derivedSeed(long jobSeed, String id) {
        byte[] h = sha256("jdiffusion-batch-seed\u0000" + jobSeed + "\u0000" + id);
        return ((h[0] & 0xffL) << 24) | ((h[1] & 0xffL) << 16) | ((h[2] & 0xffL) << 8) | (h[3] & 0xffL);
    }

    /**
     * The output file name of an id: letters, digits, '.', '_' and '-' kept, every other byte of its UTF-8 form as
     * %XX (so distinct ids never share a file, and no id reaches outside the output folder); a leading '.' is
     * escaped too (no hidden files); ids longer than 120 characters keep a prefix and a hash of the whole.
     */
    public static String fileStem(String id) {
        StringBuilder b = new StringBuilder();
        byte[] bytes = id.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i++) {
            int c = bytes[i] & 0xff;
            boolean plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '_' || c == '-' || (c == '.' && i > 0);
            if (plain) b.append((char) c);
            else b.append('%').append(String.format(Locale.ROOT, "%02X", c));
        }
        if (b.length() > 120) return b.substring(0, 100) + "~" + HexFormat.of().formatHex(sha256(id), 0, 8);
        return b.toString();
    }

    /**
     * What decides a row's bytes, as one hash: the model (and its load options) and every resolved request value.
     * A finished row whose record holds this key, and whose file still has the recorded SHA-256, is skipped.
     */
    public static String fingerprint(String modelKey, Resolved row) {
        GenerationRequest r = row.request();
        String canonical = String.join("\u0000", "jdiffusion-batch-v1", modelKey, row.id(), r.prompt(), r.negativePrompt(),
                Long.toString(r.seed()), Integer.toString(r.steps()), Double.toString(r.guidanceScale()), r.sampler(),
                Integer.toString(r.width()), Integer.toString(r.height()));
        return HexFormat.of().formatHex(sha256(canonical));
    }

    static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static long parseLong(String column, String v) {
        try {
            return Long.parseLong(stripIntegralDecimal(v.trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(column + " must be an integer, got '" + v + "'");
        }
    }

    private static int parseInt(String column, String v) {
        long x = parseLong(column, v);
        if (x != (int) x) throw new IllegalArgumentException(column + " is out of range: " + v);
        return (int) x;
    }

    private static int positive(String column, int v) {
        if (v <= 0) throw new IllegalArgumentException(column + " must be positive, got " + v);
        return v;
    }

    private static double parseDouble(String column, String v) {
        try {
            double d = Double.parseDouble(v.trim());
            if (!Double.isFinite(d)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(column + " must be a number, got '" + v + "'");
        }
    }

    /** JSON and Parquet doubles read as text look like "20.0": an integral value is still an integer. */
    private static String stripIntegralDecimal(String v) {
        if (v.endsWith(".0")) return v.substring(0, v.length() - 2);
        return v;
    }
}
