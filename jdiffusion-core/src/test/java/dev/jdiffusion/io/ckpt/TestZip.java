package dev.jdiffusion.io.ckpt;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Writes zip archives the way torch does (data 64-byte aligned by a padding extra field), optionally with
 * ZIP64 records and extra fields on every entry, as checkpoints over 4 GB have them, and optionally
 * DEFLATE-compressing some entries.
 */
public final class TestZip {
    private TestZip() {}

    public static Path write(Path file, Map<String, byte[]> entries, boolean zip64, Set<String> deflate) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream central = new ByteArrayOutputStream();
        for (var e : entries.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8), raw = e.getValue();
            boolean deflated = deflate.contains(e.getKey());
            byte[] data = deflated ? deflate(raw) : raw;
            CRC32 crc = new CRC32();
            crc.update(raw);
            long local = out.size();
            int pad = (int) ((64 - (local + 30 + name.length + 4) % 64) % 64);
            out.writeBytes(le(4, 0x04034b50, 2, 45, 2, 0x800, 2, deflated ? 8 : 0, 2, 0, 2, 0x21, 4, crc.getValue(),
                    4, data.length, 4, raw.length, 2, name.length, 2, 4 + pad));
            out.writeBytes(name);
            out.writeBytes(le(2, 0x4246, 2, pad));   // "FB" padding field, as torch writes it
            out.write(new byte[pad], 0, pad);
            out.writeBytes(data);
            long big = 0xFFFFFFFFL;
            central.writeBytes(le(4, 0x02014b50, 2, 45, 2, 45, 2, 0x800, 2, deflated ? 8 : 0, 2, 0, 2, 0x21,
                    4, crc.getValue(), 4, zip64 ? big : data.length, 4, zip64 ? big : raw.length, 2, name.length,
                    2, zip64 ? 28 : 0, 2, 0, 2, 0, 2, 0, 4, 0, 4, zip64 ? big : local));
            central.writeBytes(name);
            if (zip64) central.writeBytes(le(2, 1, 2, 24, 8, raw.length, 8, data.length, 8, local));
        }
        long cdOffset = out.size(), cdSize = central.size(), n = entries.size();
        out.writeBytes(central.toByteArray());
        if (zip64) {
            long z = out.size();
            out.writeBytes(le(4, 0x06064b50, 8, 44, 2, 45, 2, 45, 4, 0, 4, 0, 8, n, 8, n, 8, cdSize, 8, cdOffset));
            out.writeBytes(le(4, 0x07064b50, 4, 0, 8, z, 4, 1));
            out.writeBytes(le(4, 0x06054b50, 2, 0, 2, 0, 2, 0xFFFF, 2, 0xFFFF, 4, 0xFFFFFFFFL, 4, 0xFFFFFFFFL, 2, 0));
        } else {
            out.writeBytes(le(4, 0x06054b50, 2, 0, 2, 0, 2, n, 2, n, 4, cdSize, 4, cdOffset, 2, 0));
        }
        Files.write(file, out.toByteArray());
        return file;
    }

    /** Little-endian fields given as (width, value) pairs. */
    private static byte[] le(long... widthValue) {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < widthValue.length; i += 2) {
            long v = widthValue[i + 1];
            switch ((int) widthValue[i]) {
                case 2 -> b.putShort((short) v);
                case 4 -> b.putInt((int) v);
                default -> b.putLong(v);
            }
        }
        return java.util.Arrays.copyOf(b.array(), b.position());
    }

    private static byte[] deflate(byte[] raw) {
        Deflater d = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        d.setInput(raw);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        while (!d.finished()) out.write(buf, 0, d.deflate(buf));
        d.end();
        return out.toByteArray();
    }

    public static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }
}
