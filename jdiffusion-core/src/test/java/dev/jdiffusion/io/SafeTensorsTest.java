package dev.jdiffusion.io;

import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The safetensors reader trusts nothing it has not checked; every refusal names the file and what was wrong. */
class SafeTensorsTest {
    @TempDir Path dir;

    private Path file(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (int i = 0; i < dataBytes / 4; i++) b.putFloat(8 + h.length + i * 4, i + 0.5f);
        Path p = dir.resolve("t.safetensors");
        Files.write(p, b.array());
        return p;
    }

    private ModelFormatException refused(Path p) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SafeTensors.open(p));
        assertTrue(e.getMessage().startsWith(p.toString()), "message names the file: " + e.getMessage());
        return e;
    }

    @Test
    void readsValuesAndDtypes() throws IOException {
        Path p = file("{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}", 32);
        SafeTensors st = SafeTensors.open(p);
        assertEquals("pt", st.metadata().get("format"));
        WeightTensor a = st.tensor("a");
        assertArrayEquals(new int[]{2, 3}, a.shape());
        assertArrayEquals(new float[]{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f}, a.toFloatArray());
        assertEquals(DType.F16, st.tensor("b").dtype());
    }

    @Test
    void roundTripsThroughTheWriterInEveryFloatType() throws IOException {
        Map<String, WeightTensor> in = new LinkedHashMap<>();
        in.put("x", WeightTensor.ofFloats("x", new float[]{1f, -2.5f, 3.25f}, 3));
        Path p = dir.resolve("w.safetensors");
        SafeTensorsWriter.write(p, in, Map.of("k", "v"));
        SafeTensors st = SafeTensors.open(p);
        assertArrayEquals(new float[]{1f, -2.5f, 3.25f}, st.tensor("x").toFloatArray());
        assertEquals("v", st.metadata().get("k"));
        // F16 and BF16 decode exactly for values they represent.
        short[] f16 = {Float.floatToFloat16(1f), Float.floatToFloat16(-2.5f)};
        ByteBuffer bb = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putShort(f16[0]).putShort(f16[1]);
        WeightTensor h = new WeightTensor("h", DType.F16, new int[]{2}, java.lang.foreign.MemorySegment.ofArray(bb.array()));
        assertArrayEquals(new float[]{1f, -2.5f}, h.toFloatArray());
        ByteBuffer bf = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) (Float.floatToIntBits(1f) >>> 16)).putShort((short) (Float.floatToIntBits(-2.5f) >>> 16));
        WeightTensor b = new WeightTensor("b", DType.BF16, new int[]{2}, java.lang.foreign.MemorySegment.ofArray(bf.array()));
        assertArrayEquals(new float[]{1f, -2.5f}, b.toFloatArray());
    }

    /** --half: float16 as torch's .half() rounds, to nearest even, subnormals and overflow included. */
    @Test
    void entriesConvertToF16RoundingToNearestEven() throws IOException {
        float[] f32 = {1f + 0x1p-11f, 1f + 3 * 0x1p-11f, 0x1p-25f, 3 * 0x1p-25f, 65520f, 65519f, -0f, 0.1f};
        short[] expected = {0x3C00, 0x3C02, 0x0000, 0x0002, 0x7C00, 0x7BFF, (short) 0x8000, 0x2E66};
        ByteBuffer bf = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                .putShort((short) (Float.floatToIntBits(1f + 0x1p-7f) >>> 16)).putShort((short) 0x7F7F);  // ~3.4e38
        WeightTensor bf16 = new WeightTensor("b", DType.BF16, new int[]{2}, MemorySegment.ofArray(bf.array()));
        WeightTensor a = WeightTensor.ofFloats("a", Arrays.copyOfRange(f32, 0, 4), 4);
        WeightTensor b = WeightTensor.ofFloats("b", Arrays.copyOfRange(f32, 4, 8), 4);
        Path p = dir.resolve("half.safetensors");
        SafeTensorsWriter.write(p, List.of(
                new SafeTensorsWriter.Entry("fused", DType.F16, new int[]{2, 4}, List.of(a, b)),
                new SafeTensorsWriter.Entry("bf16", DType.F16, new int[]{2}, List.of(bf16))), null);
        SafeTensors st = SafeTensors.open(p);
        WeightTensor fused = st.tensor("fused");
        assertEquals(DType.F16, fused.dtype());
        assertArrayEquals(new int[]{2, 4}, fused.shape());
        for (int i = 0; i < expected.length; i++)
            assertEquals(expected[i], fused.segment().getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i), "value " + i);
        WeightTensor half = st.tensor("bf16");
        assertEquals(1f + 0x1p-7f, half.getFloat(0));
        assertEquals(Float.POSITIVE_INFINITY, half.getFloat(1));
        assertThrows(IllegalArgumentException.class,
                () -> new SafeTensorsWriter.Entry("x", DType.F32, new int[]{4}, List.of(bf16)));
        assertThrows(IllegalArgumentException.class, () -> new SafeTensorsWriter.Entry("x", DType.F16, new int[]{3}, List.of(a)));
    }

    /** A tensor is streamed a buffer at a time from its mapping: writing 192 MB of tensors allocates a few MB. */
    @Test
    void writingStreamsInsteadOfHoldingTheTensors() throws IOException {
        long bytes = 128L << 20;
        Path sparse = dir.resolve("zeros.bin");
        try (var f = new java.io.RandomAccessFile(sparse.toFile(), "rw")) { f.setLength(bytes); }
        MemorySegment zeros;
        try (FileChannel ch = FileChannel.open(sparse, StandardOpenOption.READ)) {
            zeros = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes, Arena.ofAuto());
        }
        WeightTensor big = new WeightTensor("big", DType.F32, new int[]{(int) (bytes / 4)}, zeros);
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        Path p = dir.resolve("big.safetensors");
        SafeTensorsWriter.write(p, List.of(SafeTensorsWriter.Entry.of("copied", big),
                new SafeTensorsWriter.Entry("halved", DType.F16, big.shape(), List.of(big))), null);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        SafeTensors st = SafeTensors.open(p);
        assertEquals(bytes, st.tensor("copied").segment().byteSize());
        assertEquals(bytes / 2, st.tensor("halved").segment().byteSize());
        assertTrue(allocated < 16L << 20, allocated / 1e6 + " MB allocated to write " + Files.size(p) / 1e6 + " MB");
    }

    @Test
    void truncatedData() throws IOException {
        Path p = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        assertTrue(refused(p).getMessage().contains("truncated"));
        assertEquals("a", refused(p).key());
    }

    @Test
    void fileShorterThanItsHeaderLength() throws IOException {
        Path p = dir.resolve("short.safetensors");
        Files.write(p, ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        assertTrue(refused(p).getMessage().contains("header length 1000"));
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[3]);
        assertTrue(refused(tiny).getMessage().contains("shorter than the 8-byte header"));
    }

    @Test
    void malformedJson() throws IOException {
        assertTrue(refused(file("{\"a\": {\"dtype\": ", 0)).getMessage().contains("not valid JSON"));
        assertTrue(refused(file("[1, 2]", 0)).getMessage().contains("JSON object"));
    }

    @Test
    void unknownDtype() throws IOException {
        ModelFormatException e = refused(file("{\"a\":{\"dtype\":\"F8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4));
        assertTrue(e.getMessage().contains("unknown dtype 'F8'"), e.getMessage());
        assertEquals("a", e.key());
    }

    @Test
    void byteRangeThatDisagreesWithShape() throws IOException {
        ModelFormatException e = refused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24));
        assertTrue(e.getMessage().contains("shape [2, 3] of F32 needs 24"), e.getMessage());
    }

    @Test
    void overlappingTensors() throws IOException {
        ModelFormatException e = refused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16));
        assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
    }

    @Test
    void negativeShapeAndBadOffsets() throws IOException {
        assertTrue(refused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4)).getMessage().contains("non-negative"));
        assertTrue(refused(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4)).getMessage().contains("[begin, end]"));
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        SafeTensors st = SafeTensors.open(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> st.tensor("conv_in.weight"));
        assertTrue(e.getMessage().contains("'conv_in.weight'") && e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void missingFile() {
        assertTrue(refused(dir.resolve("nope.safetensors")).getMessage().contains("file not found"));
    }
}
