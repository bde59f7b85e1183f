package dev.jdiffusion.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A memory-mapped safetensors file. The header is validated before anything is trusted: its length lies
 * within the file, it is well-formed JSON, every dtype is known, every byte range matches shape × dtype
 * size, lies inside the data section and overlaps no other. Tensor data is never copied: each
 * {@link WeightTensor} is a view of the mapping.
 */
public final class SafeTensors implements TensorFile {
    /** Headers larger than this are refused (the format's own reference limit is 100 MB). */
    static final long MAX_HEADER_BYTES = 100L << 20;
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

    /** Where one tensor lies, as the header declares it; offsets are relative to the data section. */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {}

    private final Path file;
    private final MemorySegment mapping;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, MemorySegment mapping, long dataStart, Map<String, Entry> entries,
                        Map<String, String> metadata) {
        this.file = file;
        this.mapping = mapping;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Maps and validates {@code file}; every problem is a {@link ModelFormatException} naming the file. */
    public static SafeTensors open(Path file) {
        // Arena.ofAuto (the mapping lives as long as any weight view of it is reachable), unless the caller
        // maps into an arena it closes itself (MappingScope: a pipeline's close()).
        return parse(file, MappingScope.mapReadOnly(file, "safetensors file"));
    }

    static SafeTensors parse(Path file, MemorySegment mapping) {
        long fileSize = mapping.byteSize();
        if (fileSize < 8)
            throw new ModelFormatException(file, null, "not a safetensors file: " + fileSize
                    + " bytes, shorter than the 8-byte header length (truncated or empty file?)");
        long headerLen = mapping.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || headerLen > fileSize - 8)
            throw new ModelFormatException(file, null, "not a valid safetensors file: header length "
                    + Long.toUnsignedString(headerLen) + " does not fit in a file of " + fileSize
                    + " bytes (truncated, or not safetensors at all?)");
        byte[] headerBytes = mapping.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ModelFormatException(file, null, "safetensors header is not valid JSON: "
                    + e.getOriginalMessage(), e);
        }
        if (header == null || !header.isObject())
            throw new ModelFormatException(file, null, "safetensors header must be a JSON object");

        long dataStart = 8 + headerLen;
        long dataSize = fileSize - dataStart;
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            String name = f.getKey();
            JsonNode v = f.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw new ModelFormatException(file, name, "must be an object of strings");
                v.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            entries.put(name, parseEntry(file, name, v, dataSize));
        }
        checkNoOverlap(file, entries.values());
        return new SafeTensors(file, mapping, dataStart, Collections.unmodifiableMap(entries),
                Collections.unmodifiableMap(metadata));
    }

    private static Entry parseEntry(Path file, String name, JsonNode v, long dataSize) {
        if (!v.isObject()) throw new ModelFormatException(file, name, "tensor entry must be a JSON object");
        JsonNode dt = v.get("dtype"), sh = v.get("shape"), off = v.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw new ModelFormatException(file, name, "missing 'dtype'");
        DType dtype = DType.fromSafetensorsName(dt.asText());
        if (dtype == null)
            throw new ModelFormatException(file, name, "unknown dtype '" + dt.asText() + "' (expected one of "
                    + Arrays.toString(DType.values()) + ")");
        if (sh == null || !sh.isArray()) throw new ModelFormatException(file, name, "missing 'shape' array");
        int[] shape = new int[sh.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE)
                throw new ModelFormatException(file, name, "shape " + sh + " must hold non-negative integers");
            shape[i] = (int) d.asLong();
            count = Math.multiplyExact(count, shape[i]);
        }
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
                || !off.get(1).isIntegralNumber())
            throw new ModelFormatException(file, name, "'data_offsets' must be [begin, end]");
        long begin = off.get(0).asLong(), end = off.get(1).asLong();
        if (begin < 0 || end < begin)
            throw new ModelFormatException(file, name, "data_offsets " + off + " are not a valid range");
        if (end > dataSize)
            throw new ModelFormatException(file, name, "data_offsets " + off + " run past the end of the data ("
                    + dataSize + " bytes): the file is truncated or corrupt");
        long expected = count * dtype.byteSize();
        if (end - begin != expected)
            throw new ModelFormatException(file, name, "byte range " + off + " holds " + (end - begin)
                    + " bytes but shape " + Arrays.toString(shape) + " of " + dtype + " needs " + expected);
        return new Entry(name, dtype, shape, begin, end);
    }

    private static void checkNoOverlap(Path file, java.util.Collection<Entry> all) {
        List<Entry> sorted = new ArrayList<>(all);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < sorted.size(); i++) {
            Entry prev = sorted.get(i - 1), cur = sorted.get(i);
            if (cur.begin() < prev.end() && cur.end() > cur.begin())
                throw new ModelFormatException(file, cur.name(), "byte range [" + cur.begin() + ", " + cur.end()
                        + ") overlaps tensor '" + prev.name() + "' [" + prev.begin() + ", " + prev.end() + ")");
        }
    }

    @Override
    public Path file() { return file; }

    @Override
    public Set<String> names() { return entries.keySet(); }

    @Override
    public boolean contains(String name) { return entries.containsKey(name); }

    public Entry entry(String name) { return entries.get(name); }

    public Map<String, String> metadata() { return metadata; }

    /** The named tensor as a view of the mapping; a clear error when the file has no such tensor. */
    @Override
    public WeightTensor tensor(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new ModelFormatException(file, name, "tensor is missing from the checkpoint");
        return new WeightTensor(name, e.dtype(), e.shape(), mapping.asSlice(dataStart + e.begin(), e.end() - e.begin()));
    }
}
