package dev.jdiffusion.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;

/**
 * Writes safetensors files: header padded to 8 bytes, tensors in the given order. The file appears
 * atomically (written to a temporary file beside it, then renamed), so no reader sees half a file.
 */
public final class SafeTensorsWriter {
    private SafeTensorsWriter() {}

    public static void write(Path file, Map<String, WeightTensor> tensors, Map<String, String> metadata) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (var e : tensors.entrySet()) {
            WeightTensor t = e.getValue();
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", t.dtype().name());
            var shape = entry.putArray("shape");
            for (int d : t.shape()) shape.add(d);
            long bytes = t.segment().byteSize();
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] headerBytes = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (headerBytes.length + 7) / 8 * 8;
        Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), "." + file.getFileName(), ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
                out.write(headerBytes);
                for (int i = headerBytes.length; i < padded; i++) out.write(' ');
                byte[] buf = new byte[1 << 20];
                for (WeightTensor t : tensors.values()) {
                    MemorySegment seg = t.segment();
                    for (long pos = 0; pos < seg.byteSize(); pos += buf.length) {
                        int n = (int) Math.min(buf.length, seg.byteSize() - pos);
                        MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, buf, 0, n);
                        out.write(buf, 0, n);
                    }
                }
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
