package dev.jdiffusion.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The vector conversions against the JDK's scalar ones on every 16-bit pattern, at odd offsets and lengths. */
class HalfFloatsTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Test
    void everyHalfAndBfloatConvertsBitForBit() {
        int n = 1 << 16;
        MemorySegment seg = Arena.ofAuto().allocate(2L * n + 2, 2);
        for (int v = 0; v < n; v++) seg.set(I16, 2L + 2L * v, (short) v); // one short in: an odd element offset
        float[] f16 = new float[n + 3], bf16 = new float[n + 3];
        HalfFloats.f16ToFloat(seg, 2, f16, 3, n);
        HalfFloats.bf16ToFloat(seg, 2, bf16, 3, n);
        for (int v = 0; v < n; v++) {
            int fv = v;
            assertEquals(Float.floatToRawIntBits(Float.float16ToFloat((short) v)), Float.floatToRawIntBits(f16[3 + v]),
                    () -> "f16 0x" + Integer.toHexString(fv));
            assertEquals(v << 16, Float.floatToRawIntBits(bf16[3 + v]), () -> "bf16 0x" + Integer.toHexString(fv));
        }
        // Lengths that are not whole vectors: the scalar tail.
        float[] tail = new float[37];
        HalfFloats.f16ToFloat(seg, 2 + 2 * 0x3c00, tail, 0, 37); // 1.0 and up
        for (int i = 0; i < 37; i++) assertEquals(Float.float16ToFloat((short) (0x3c00 + i)), tail[i]);
    }
}
