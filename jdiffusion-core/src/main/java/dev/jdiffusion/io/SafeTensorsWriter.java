package dev.jdiffusion.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.Shapes;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files: header padded to 8 bytes, tensors in the given order. The file appears
 * atomically (written to a temporary file beside it, then renamed), so no reader sees half a file.
 * Tensor data is streamed from the source segments a buffer at a time: writing a file never needs
 * its size in memory.
 */
public final class SafeTensorsWriter {
    private static final int BUFFER = 1 << 20;
    private static final SecureRandom RANDOM = new SecureRandom();
    /** Safetensors' own dtype order (its Rust enum), by which Python's save_file sorts before names. */
    private static final List<DType> SAVE_FILE_DTYPE_ORDER = List.of(
            DType.BOOL, DType.U8, DType.I8, DType.I16, DType.F16, DType.BF16, DType.I32, DType.F32, DType.F64, DType.I64);

    private SafeTensorsWriter() {}

    /**
     * One tensor to write: its pieces one after the other (one piece, or several stacked along the first
     * dimension, such as q, k and v of a fused projection), stored as {@code dtype}. Float pieces of
     * another dtype are converted to F16 as they are written (round to nearest even, as torch's
     * {@code .half()}); other conversions are refused.
     */
    public record Entry(String name, DType dtype, int[] shape, List<WeightTensor> pieces) {
        public Entry {
            shape = shape.clone();
            pieces = List.copyOf(pieces);
            long elements = 0;
            for (WeightTensor p : pieces) {
                if (p.dtype() != dtype && !(dtype == DType.F16 && p.dtype().isFloatingPoint()))
                    throw new IllegalArgumentException(name + ": cannot store " + p.dtype() + " data as " + dtype);
                elements += p.size();
            }
            if (elements != Shapes.product(shape))
                throw new IllegalArgumentException(name + ": pieces of " + elements + " elements for shape " + Arrays.toString(shape));
        }

        /** A tensor written as it is. */
        public static Entry of(String name, WeightTensor t) { return new Entry(name, t.dtype(), t.shape(), List.of(t)); }

        public long byteSize() { return Shapes.product(shape) * dtype.byteSize(); }

        @Override public int[] shape() { return shape.clone(); }
    }

    public static void write(Path file, Map<String, WeightTensor> tensors, Map<String, String> metadata) throws IOException {
        List<Entry> entries = new ArrayList<>();
        tensors.forEach((name, t) -> entries.add(Entry.of(name, t)));
        write(file, entries, metadata);
    }

    /** Writes {@code entries} in their order (see {@link #inSaveFileOrder} for the order Python writes). */
    public static void write(Path file, List<Entry> entries, Map<String, String> metadata) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            if (header.has(e.name())) throw new IllegalArgumentException("tensor '" + e.name() + "' is written twice");
            ObjectNode entry = header.putObject(e.name());
            entry.put("dtype", e.dtype().name());
            var shape = entry.putArray("shape");
            for (int d : e.shape) shape.add(d);
            entry.putArray("data_offsets").add(offset).add(offset + e.byteSize());
            offset += e.byteSize();
        }
        byte[] headerBytes = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (headerBytes.length + 7) / 8 * 8;
        Path tmp = TempFiles.beside(file);
        try {
            // CREATE_NEW rather than createTempFile: the file gets the umask's permissions, not owner-only.
            try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
                out.write(headerBytes);
                for (int i = headerBytes.length; i < padded; i++) out.write(' ');
                byte[] buf = new byte[BUFFER];
                for (Entry e : entries)
                    for (WeightTensor piece : e.pieces())
                        if (piece.dtype() == e.dtype()) copy(piece.segment(), out, buf);
                        else writeAsF16(piece, out, buf);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            TempFiles.release(tmp);
        }
    }

    /**
     * A hidden name beside {@code file}, on the same file system (so that a rename moves the finished file
     * into place), that does not exist yet.
     */
    public static Path temporarySibling(Path file) {
        Path abs = file.toAbsolutePath();
        Path tmp;
        do {
            tmp = abs.resolveSibling("." + abs.getFileName() + "." + Long.toHexString(RANDOM.nextLong() >>> 16) + ".tmp");
        } while (Files.exists(tmp, LinkOption.NOFOLLOW_LINKS));
        return tmp;
    }

    /**
     * {@code entries} in the order safetensors' Python {@code save_file} writes them: by dtype, larger
     * alignment first, then by name; a file written in this order has the layout Python's would have.
     */
    public static List<Entry> inSaveFileOrder(Collection<Entry> entries) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingInt((Entry e) -> -SAVE_FILE_DTYPE_ORDER.indexOf(e.dtype())).thenComparing(Entry::name));
        return sorted;
    }

    private static void copy(MemorySegment seg, OutputStream out, byte[] buf) throws IOException {
        for (long pos = 0; pos < seg.byteSize(); pos += buf.length) {
            int n = (int) Math.min(buf.length, seg.byteSize() - pos);
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, buf, 0, n);
            out.write(buf, 0, n);
        }
    }

    /** Float.floatToFloat16 rounds to nearest even, as torch does; BF16 and F16 widen to F32 exactly first. */
    private static void writeAsF16(WeightTensor piece, OutputStream out, byte[] buf) throws IOException {
        float[] values = new float[buf.length / 2];
        for (long pos = 0; pos < piece.size(); pos += values.length) {
            int n = (int) Math.min(values.length, piece.size() - pos);
            piece.copyTo(pos, values, 0, n);
            for (int i = 0; i < n; i++) {
                short h = Float.floatToFloat16(values[i]);
                buf[2 * i] = (byte) h;
                buf[2 * i + 1] = (byte) (h >> 8);
            }
            out.write(buf, 0, 2 * n);
        }
    }
}
