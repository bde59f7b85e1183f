package dev.jdiffusion.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/** Random inputs and weights in each dtype, plus error measures, for the kernel tests and benchmarks. */
final class TestData {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TestData() {}

    static float[] randn(Random r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextGaussian() * scale);
        return a;
    }

    static Tensor tensor(Random r, double scale, int... shape) {
        return new Tensor(randn(r, (int) Shapes.product(shape), scale), shape);
    }

    /**
     * A weight in {@code dtype} holding random values (off-heap, as a mapped checkpoint would be).
     * Returned with the exact float32 values it holds, so references see the same rounded weights.
     */
    static WeightTensor weight(Random r, DType dtype, double scale, int... shape) {
        int n = (int) Shapes.product(shape);
        MemorySegment seg = Arena.ofAuto().allocate((long) n * dtype.byteSize(), 8);
        for (int i = 0; i < n; i++) {
            float v = (float) (r.nextGaussian() * scale);
            switch (dtype) {
                case F32 -> seg.setAtIndex(F32, i, v);
                case F16 -> seg.setAtIndex(I16, i, Float.floatToFloat16(v));
                case BF16 -> seg.setAtIndex(I16, i, (short) (Float.floatToRawIntBits(v) >>> 16));
                default -> throw new IllegalArgumentException(dtype.toString());
            }
        }
        return new WeightTensor("w" + java.util.Arrays.toString(shape), dtype, shape, seg);
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    static double maxErr(double[] ref, float[] got) {
        if (ref.length != got.length) throw new AssertionError("length " + got.length + " vs " + ref.length);
        double m = 0;
        for (int i = 0; i < ref.length; i++) {
            double e = Math.abs(ref[i] - got[i]);
            if (!(e <= m)) m = e; // NaN propagates as a failure
        }
        return m;
    }
}
