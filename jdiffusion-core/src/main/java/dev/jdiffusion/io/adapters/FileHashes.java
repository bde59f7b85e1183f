package dev.jdiffusion.io.adapters;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** The file hashes A1111 writes into infotexts ("Lora hashes", "TI hashes"): 12 hex digits of a SHA-256. */
public final class FileHashes {
    private FileHashes() {}

    /** The first 12 hex digits of the SHA-256 of the whole file (A1111's shorthash of an embedding). */
    public static String sha256Short(Path file) { return digest(file, 0).substring(0, 12); }

    /**
     * kohya's "addnet" hash, which A1111 uses for .safetensors LoRAs: the SHA-256 of everything after the header
     * (so editing the metadata keeps the hash); the whole file's SHA-256 for other formats. 12 hex digits.
     */
    public static String addnetShort(Path file) {
        long skip = 0;
        if (file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".safetensors")) {
            try (InputStream in = Files.newInputStream(file)) {
                byte[] head = in.readNBytes(8);
                if (head.length == 8) skip = 8 + ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getLong();
            } catch (IOException e) {
                throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
            }
        }
        return digest(file, skip).substring(0, 12);
    }

    private static String digest(Path file, long skip) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            in.skipNBytes(Math.max(0, Math.min(skip, Files.size(file))));
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) sha.update(buf, 0, n);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(sha.digest());
    }
}
