package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Vectorised elementary functions (float32, a few ulp), for softmax and activations. */
public final class VMath {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    private static final float ROUND_MAGIC = 12582912f; // 1.5 * 2^23: adding it rounds to an integer
    private static final int MAGIC_BITS = 0x4B400000;

    private VMath() {}

    /**
     * e^x per lane, with the Cephes expf polynomial (relative error below 3e-7, tested). Not the Vector
     * API's EXP: its intrinsic (the JDK's SIMD math library) and its Java fallback round differently,
     * so results would depend on whether the JIT had compiled the caller yet, and the same seed would
     * not always give the same image. Only +, ×, fma and bit operations here: identical in every tier,
     * and lane for lane equal to {@link #exp(float)}.
     */
    public static FloatVector exp(FloatVector x) {
        return expPoly(x);
    }

    /**
     * The sum of the lanes in a fixed order (lane 0 first). {@code reduceLanes(ADD)} may add in any
     * order, and its intrinsic and Java fallback do differ: that would make results depend on the JIT.
     */
    public static float sumLanes(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    /** e^x per lane with the Cephes expf polynomial. */
    static FloatVector expPoly(FloatVector x) {
        FloatVector xc = x.max(-87.3f).min(88.3f);
        FloatVector t = xc.fma(FloatVector.broadcast(S, LOG2E), FloatVector.broadcast(S, ROUND_MAGIC));
        FloatVector n = t.sub(ROUND_MAGIC);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), xc);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(S, 1.9875691500e-4f);
        p = p.fma(r, FloatVector.broadcast(S, 1.3981999507e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(S, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(S, 5.0000001201e-1f));
        p = p.mul(r.mul(r)).add(r).add(1f);
        IntVector e = ((IntVector) t.reinterpretAsInts()).sub(MAGIC_BITS - 127).lanewise(VectorOperators.LSHL, 23);
        return p.mul((FloatVector) e.reinterpretAsFloats());
    }

    /** Scalar e^x with the Cephes polynomial (for loop tails; relative error below 3e-7). */
    public static float exp(float x) {
        if (x < -87.3f) return 0f;
        if (x > 88.3f) return Float.POSITIVE_INFINITY;
        float t = Math.fma(x, LOG2E, ROUND_MAGIC);
        float n = t - ROUND_MAGIC;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float p = 1.9875691500e-4f;
        p = Math.fma(p, r, 1.3981999507e-3f);
        p = Math.fma(p, r, 8.3334519073e-3f);
        p = Math.fma(p, r, 4.1665795894e-2f);
        p = Math.fma(p, r, 1.6666665459e-1f);
        p = Math.fma(p, r, 5.0000001201e-1f);
        p = p * (r * r) + r + 1f;
        return p * Float.intBitsToFloat((Float.floatToRawIntBits(t) - MAGIC_BITS + 127) << 23);
    }
}
