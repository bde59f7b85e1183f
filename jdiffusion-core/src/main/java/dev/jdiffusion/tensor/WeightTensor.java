package dev.jdiffusion.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A read-only tensor that stays where the checkpoint file is: a view of a memory-mapped segment, in the
 * file's dtype (F32, F16 or BF16). Kernels convert to float32 a tile at a time; small vectors (biases,
 * norm scales) may be copied whole with {@link #toFloatArray()}.
 */
public final class WeightTensor {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final String name;
    private final DType dtype;
    private final int[] shape;
    private final MemorySegment data;
    private final long size;

    public WeightTensor(String name, DType dtype, int[] shape, MemorySegment data) {
        this.name = name;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.data = data;
        this.size = Shapes.product(shape);
        if (data.byteSize() != size * dtype.byteSize())
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for shape "
                    + Arrays.toString(shape) + " of " + dtype);
    }

    /** Wraps heap floats (for tests, and for weights that a converter had to build in memory). */
    public static WeightTensor ofFloats(String name, float[] values, int... shape) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        for (int i = 0; i < values.length; i++) seg.setAtIndex(F32, i, values[i]);
        return new WeightTensor(name, DType.F32, shape, seg);
    }

    public String name() { return name; }
    public DType dtype() { return dtype; }
    public int[] shape() { return shape.clone(); }
    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }
    public int rank() { return shape.length; }
    public long size() { return size; }
    public MemorySegment segment() { return data; }

    /** Element {@code index} (flat, row-major) as float32. */
    public float getFloat(long index) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, index);
            case F16 -> Float.float16ToFloat(data.getAtIndex(I16, index));
            case BF16 -> Float.intBitsToFloat(data.getAtIndex(I16, index) << 16);
            case F64 -> (float) data.getAtIndex(F64, index);
            case I64 -> data.getAtIndex(I64, index);
            case I32 -> data.getAtIndex(I32, index);
            case I16 -> data.getAtIndex(I16, index);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, index);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, index) & 0xff;
        };
    }

    /** Element {@code index} as a long (integer tensors: token ids, ...). */
    public long getLong(long index) {
        return switch (dtype) {
            case I64 -> data.getAtIndex(I64, index);
            case I32 -> data.getAtIndex(I32, index);
            case F64 -> (long) data.getAtIndex(F64, index);
            default -> (long) getFloat(index);
        };
    }

    /** Element {@code index} as a double (float64 fixtures keep their precision). */
    public double getDouble(long index) {
        return dtype == DType.F64 ? data.getAtIndex(F64, index) : getFloat(index);
    }

    /** Converts {@code count} elements starting at {@code from} into {@code dst[dstOff...]}. */
    public void copyTo(long from, float[] dst, int dstOff, int count) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, from * 4, dst, dstOff, count);
            case F16 -> HalfFloats.f16ToFloat(data, from * 2, dst, dstOff, count);
            case BF16 -> HalfFloats.bf16ToFloat(data, from * 2, dst, dstOff, count);
            default -> { for (int i = 0; i < count; i++) dst[dstOff + i] = getFloat(from + i); }
        }
    }

    /** The whole tensor as float32 on the heap: only for small tensors (biases, norms, embeddings rows). */
    public float[] toFloatArray() {
        if (size > Integer.MAX_VALUE) throw new IllegalStateException(name + " is too large to copy");
        float[] out = new float[(int) size];
        copyTo(0, out, 0, out.length);
        return out;
    }

    public long[] toLongArray() {
        long[] out = new long[Math.toIntExact(size)];
        for (int i = 0; i < out.length; i++) out[i] = getLong(i);
        return out;
    }

    public double[] toDoubleArray() {
        double[] out = new double[Math.toIntExact(size)];
        for (int i = 0; i < out.length; i++) out[i] = getDouble(i);
        return out;
    }

    @Override
    public String toString() { return name + Arrays.toString(shape) + " " + dtype; }
}
