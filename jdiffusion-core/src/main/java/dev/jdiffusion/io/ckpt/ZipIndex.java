package dev.jdiffusion.io.ckpt;

import dev.jdiffusion.io.ModelFormatException;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The central directory of a ZIP archive (ZIP64 too), read from a memory mapping of the whole file.
 * java.util.zip cannot say where an entry's bytes lie in the file; torch writes its tensor storages
 * STORED (and 64-byte aligned) precisely so that a reader can map them in place, so this reader finds
 * each entry's data offset and hands out slices of the mapping. Every offset is checked against the
 * file size before use, so a truncated or hostile archive fails with a {@link ModelFormatException}.
 */
final class ZipIndex {
    static final int STORED = 0, DEFLATED = 8;
    /** Compressed entries are inflated onto the heap; larger ones than this are refused. */
    static final long MAX_INFLATED_BYTES = 1L << 30;

    private static final int LOCAL_HEADER = 0x04034b50, CENTRAL_HEADER = 0x02014b50;
    private static final int END_OF_CENTRAL_DIR = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_END = 0x06064b50;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One member: where its (possibly compressed) bytes start in the file, and its sizes. */
    record Entry(String name, int method, long compressedSize, long size, long dataOffset) {}

    private final Path file;
    private final MemorySegment mapping;
    private final Map<String, Entry> entries;

    private ZipIndex(Path file, MemorySegment mapping, Map<String, Entry> entries) {
        this.file = file;
        this.mapping = mapping;
        this.entries = entries;
    }

    static boolean looksLikeZip(MemorySegment m) {
        return m.byteSize() >= 4 && m.get(U32, 0) == LOCAL_HEADER;
    }

    static ZipIndex read(Path file, MemorySegment m) {
        long size = m.byteSize();
        long eocd = findEndOfCentralDirectory(m);
        if (eocd < 0) {
            throw new ModelFormatException(file, null, looksLikeZip(m)
                    ? "the zip archive has no end-of-central-directory record: the file is truncated (incomplete download?)"
                    : "not a zip archive (no end-of-central-directory record)");
        }
        if (u16(m, eocd + 4) != 0 || u16(m, eocd + 6) != 0)
            throw new ModelFormatException(file, null, "multi-part (spanned) zip archives are not supported");
        long count = u16(m, eocd + 10), cdSize = u32(m, eocd + 12), cdOffset = u32(m, eocd + 16);
        // ZIP64: the locator sits right before the classic record and points at the 64-bit one.
        if (eocd >= 20 && m.get(U32, eocd - 20) == ZIP64_LOCATOR) {
            long z = m.get(U64, eocd - 12);
            if (z < 0 || z > eocd - 20 - 56 || m.get(U32, z) != ZIP64_END)
                throw new ModelFormatException(file, null, "corrupt zip: the ZIP64 end record is not where its locator says");
            count = m.get(U64, z + 32);
            cdSize = m.get(U64, z + 40);
            cdOffset = m.get(U64, z + 48);
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset > eocd || cdSize > eocd - cdOffset || count < 0 || count > cdSize / 46)
            throw new ModelFormatException(file, null, "corrupt zip: the central directory (" + cdSize + " bytes at "
                    + cdOffset + ", " + count + " entries) does not fit in the file (truncated?)");

        Map<String, Entry> entries = new LinkedHashMap<>();
        long p = cdOffset, cdEnd = cdOffset + cdSize;
        for (long i = 0; i < count; i++) {
            if (p + 46 > cdEnd || m.get(U32, p) != CENTRAL_HEADER)
                throw new ModelFormatException(file, null, "corrupt zip: central directory entry " + i + " is damaged");
            int flags = u16(m, p + 8), method = u16(m, p + 10);
            long csize = u32(m, p + 20), usize = u32(m, p + 24);
            int nameLen = u16(m, p + 28), extraLen = u16(m, p + 30), commentLen = u16(m, p + 32);
            long local = u32(m, p + 42);
            long next = p + 46 + nameLen + extraLen + commentLen;
            if (next > cdEnd) throw new ModelFormatException(file, null, "corrupt zip: central directory entry " + i + " is damaged");
            String name = new String(m.asSlice(p + 46, nameLen).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            // ZIP64 extra field (id 1): 64-bit values for exactly those fields that hold 0xFFFFFFFF, in this order.
            long x = p + 46 + nameLen, xEnd = x + extraLen;
            while (x + 4 <= xEnd) {
                int id = u16(m, x), len = u16(m, x + 2);
                long v = x + 4, vEnd = Math.min(v + len, xEnd);
                if (id == 1) {
                    if (usize == 0xFFFFFFFFL && v + 8 <= vEnd) { usize = m.get(U64, v); v += 8; }
                    if (csize == 0xFFFFFFFFL && v + 8 <= vEnd) { csize = m.get(U64, v); v += 8; }
                    if (local == 0xFFFFFFFFL && v + 8 <= vEnd) { local = m.get(U64, v); }
                }
                x += 4 + len;
            }
            if ((flags & 1) != 0) throw new ModelFormatException(file, name, "encrypted zip entries are not supported");
            // The local header repeats name and extra with its own lengths; the data follows it. (Its sizes may be
            // zero when a data descriptor follows, as torch writes them: the central directory's sizes are the truth.)
            if (local < 0 || local > size - 30 || m.get(U32, local) != LOCAL_HEADER)
                throw new ModelFormatException(file, name, "corrupt zip: the entry's local header is missing (truncated file?)");
            long data = local + 30 + u16(m, local + 26) + u16(m, local + 28);
            if (csize < 0 || usize < 0 || data > size || csize > size - data)
                throw new ModelFormatException(file, name, "the zip entry's " + csize + " bytes at offset " + data
                        + " run past the end of the file (" + size + " bytes): the file is truncated");
            entries.put(name, new Entry(name, method, csize, usize, data));
            p = next;
        }
        return new ZipIndex(file, m, Collections.unmodifiableMap(entries));
    }

    /** The classic end record is the last 22 bytes plus a comment of up to 64 KiB: scan backwards for it. */
    private static long findEndOfCentralDirectory(MemorySegment m) {
        long size = m.byteSize();
        for (long p = size - 22; p >= 0 && p >= size - 22 - 0xFFFF; p--) {
            if (m.get(U32, p) == END_OF_CENTRAL_DIR && p + 22 + u16(m, p + 20) == size) return p;
        }
        return -1;
    }

    Map<String, Entry> entries() { return entries; }

    Entry get(String name) { return entries.get(name); }

    /**
     * The entry's uncompressed bytes: a slice of the mapping when STORED (no copy), inflated onto the heap
     * when DEFLATED and not larger than {@link #MAX_INFLATED_BYTES}; any other method is refused.
     */
    MemorySegment bytes(Entry e) {
        return switch (e.method()) {
            case STORED -> {
                if (e.size() != e.compressedSize())
                    throw new ModelFormatException(file, e.name(), "corrupt zip: stored entry with differing sizes");
                yield mapping.asSlice(e.dataOffset(), e.size());
            }
            case DEFLATED -> MemorySegment.ofArray(inflate(e));
            default -> throw new ModelFormatException(file, e.name(), "zip compression method " + e.method()
                    + " is not supported (torch writes storages uncompressed; only STORED and DEFLATE are read)");
        };
    }

    private byte[] inflate(Entry e) {
        if (e.size() > MAX_INFLATED_BYTES)
            throw new ModelFormatException(file, e.name(), "compressed entry of " + e.size() + " bytes is larger than the "
                    + MAX_INFLATED_BYTES + "-byte limit for compressed entries; re-save the checkpoint uncompressed "
                    + "(torch.save does so) or convert it to safetensors");
        byte[] out = new byte[(int) e.size()];
        Inflater inf = new Inflater(true);
        try {
            inf.setInput(mapping.asSlice(e.dataOffset(), e.compressedSize()).asByteBuffer());
            int n = 0;
            while (n < out.length) {
                int k = inf.inflate(out, n, out.length - n);
                if (k == 0 && (inf.finished() || inf.needsInput() || inf.needsDictionary())) break;
                n += k;
            }
            if (n != out.length || !inf.finished() && inf.inflate(new byte[1]) > 0)
                throw new ModelFormatException(file, e.name(), "compressed entry does not inflate to its declared "
                        + e.size() + " bytes: the file is corrupt");
            return out;
        } catch (DataFormatException ex) {
            throw new ModelFormatException(file, e.name(), "compressed entry is corrupt: " + ex.getMessage(), ex);
        } finally {
            inf.end();
        }
    }

    private static int u16(MemorySegment m, long at) { return Short.toUnsignedInt(m.get(U16, at)); }

    private static long u32(MemorySegment m, long at) { return Integer.toUnsignedLong(m.get(U32, at)); }
}
