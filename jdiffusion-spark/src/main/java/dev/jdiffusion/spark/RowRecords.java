package dev.jdiffusion.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.TempFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * The output folder's layout and the record of each finished row: {@code images/<stem>.png} and
 * {@code _rows/<stem>.json} (the row's fingerprint, the PNG's SHA-256, size and time). A record is written after its
 * PNG, both atomically (temporary file, then rename), so a run killed at any moment leaves only whole files, and a
 * row counts as done only when its record exists, matches the row, and its PNG still has the recorded hash.
 */
final class RowRecords {
    static final String IMAGES = "images", RECORDS = "_rows";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** What a finished row left. */
    record Done(String fingerprint, String file, String sha256, int width, int height, double seconds) {}

    private RowRecords() {}

    static String imageFile(String stem) { return IMAGES + "/" + stem + ".png"; }

    static Path recordPath(Path output, String stem) { return output.resolve(RECORDS).resolve(stem + ".json"); }

    /** The row's record if it matches {@code fingerprint} and its PNG still has the recorded SHA-256. */
    static Optional<Done> finished(Path output, String stem, String fingerprint) throws IOException {
        JsonNode n;
        try {
            n = JSON.readTree(Files.readAllBytes(recordPath(output, stem)));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {  // unreadable or not JSON: the row is redone (its record is rewritten)
            return Optional.empty();
        }
        if (!fingerprint.equals(n.path("fingerprint").asText())) return Optional.empty();
        Done d = new Done(fingerprint, n.path("file").asText(), n.path("sha256").asText(), n.path("width").asInt(),
                n.path("height").asInt(), n.path("seconds").asDouble());
        Path png = output.resolve(d.file());
        if (!Files.isRegularFile(png) || !d.sha256().equals(sha256(png))) return Optional.empty();
        return Optional.of(d);
    }

    /** Writes the row's record (after its PNG exists), atomically. */
    static void write(Path output, String stem, Done d) throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("fingerprint", d.fingerprint()).put("file", d.file()).put("sha256", d.sha256()).put("width", d.width())
                .put("height", d.height()).put("seconds", d.seconds());
        Path file = recordPath(output, stem);
        Files.createDirectories(file.getParent());
        Path tmp = TempFiles.beside(file);
        try {
            Files.write(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(n));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            TempFiles.release(tmp);
        }
    }

    /**
     * Deletes the hidden temporary files that a killed run left in {@code images/} and {@code _rows/}
     * ({@link SafeTensorsWriter#temporarySibling} names: {@code .<name>.<hex>.tmp}). Only while no task of this
     * output folder runs.
     */
    static int deleteStaleTemporaries(Path output) throws IOException {
        int n = 0;
        for (String dir : new String[]{IMAGES, RECORDS}) {
            Path d = output.resolve(dir);
            if (!Files.isDirectory(d)) continue;
            try (var files = Files.list(d)) {
                for (Path p : (Iterable<Path>) files::iterator) {
                    String name = p.getFileName().toString();
                    if (name.startsWith(".") && name.endsWith(".tmp") && Files.deleteIfExists(p)) n++;
                }
            }
        }
        return n;
    }

    static String sha256(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
