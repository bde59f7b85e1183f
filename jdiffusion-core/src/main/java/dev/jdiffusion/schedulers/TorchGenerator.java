package dev.jdiffusion.schedulers;

/**
 * PyTorch's CPU random generator, {@code torch.Generator("cpu").manual_seed(seed)}, reproduced bit for bit so
 * that a seed gives the same latents, and so the same image, as diffusers. Successive calls continue one stream,
 * as they do on one torch generator. Not thread-safe; holds no static state.
 *
 * <p>What {@code torch.randn} does on the CPU (PyTorch 1.13, {@code normal_kernel}):
 * <ul>
 *   <li>fewer than 16 values: each value is {@code at::normal_distribution<double>}, Box–Muller on two 53-bit
 *       uniform doubles; the second result of each pair is cached in the generator and returned by the next
 *       scalar draw, even one in a later call;</li>
 *   <li>16 values or more: {@code normal_fill}: every value is first drawn as a 24-bit uniform float, then each
 *       block of 16 becomes 8 Box–Muller pairs (u1 from the first half, u2 from the second); when the count is
 *       not a multiple of 16, the last 16 values are drawn again and recomputed. The reference machine ran the
 *       AVX2 kernel, whose log and sin/cos are the Cephes polynomials of {@code avx_mathfun.h} in float32, and
 *       GCC fused their multiply-adds into FMAs; {@link #log256} and {@link #boxMuller} repeat those exact
 *       operations (checked bit for bit against torch's output).</li>
 * </ul>
 * The values depend only on how many are drawn, never on the shape: a {@code [2, 4, 8, 8]} tensor holds the same
 * 512 floats as a {@code [512]} one.
 */
public final class TorchGenerator implements NoiseSource {
    private final long initialSeed;
    private final Mt19937 engine;
    private double nextDoubleNormal;
    private boolean hasNextDoubleNormal;

    /**
     * {@code torch.Generator("cpu").manual_seed(seed)}. Seeds are 64-bit (Python allows 0 … 2^64-1; pass values
     * above 2^63-1 as their two's-complement long); the Mersenne Twister uses the low 32 bits, as torch does.
     */
    public TorchGenerator(long seed) {
        this.initialSeed = seed;
        this.engine = new Mt19937(seed);
    }

    /** The seed this generator was created with ({@code generator.initial_seed()}). */
    public long initialSeed() { return initialSeed; }

    /** {@code torch.randn(shape, generator=g)} in float32. */
    @Override
    public float[] randn(int... shape) {
        float[] out = new float[numel(shape)];
        if (out.length >= 16) {
            normalFill(out);
        } else {
            for (int i = 0; i < out.length; i++) out[i] = (float) normalDouble();
        }
        return out;
    }

    /** {@code torch.rand(shape, generator=g)}: uniform float32 in [0, 1). */
    public float[] rand(int... shape) {
        float[] out = new float[numel(shape)];
        for (int i = 0; i < out.length; i++) out[i] = uniformFloat();
        return out;
    }

    private static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + java.util.Arrays.toString(shape));
            n *= d;
        }
        return Math.toIntExact(n);
    }

    /** {@code uniform_real_distribution<float>(0, 1)}: the low 24 bits of one 32-bit draw, times 2^-24. */
    private float uniformFloat() {
        return (engine.nextInt() & 0xFFFFFF) * 0x1.0p-24f;
    }

    /** {@code uniform_real_distribution<double>(0, 1)}: the low 53 bits of a 64-bit draw (first word high). */
    private double uniformDouble() {
        long hi = engine.nextInt() & 0xFFFFFFFFL;
        long lo = engine.nextInt() & 0xFFFFFFFFL;
        return ((hi << 32 | lo) & ((1L << 53) - 1)) * 0x1.0p-53;
    }

    /** {@code normal_distribution<double>(0, 1)} with the generator's cached second Box–Muller value. */
    private double normalDouble() {
        if (hasNextDoubleNormal) {
            hasNextDoubleNormal = false;
            return nextDoubleNormal;
        }
        double u1 = uniformDouble();
        double u2 = uniformDouble();
        double r = StrictMath.sqrt(-2.0 * StrictMath.log(1.0 - u2));
        double theta = 2.0 * Math.PI * u1;
        nextDoubleNormal = r * StrictMath.sin(theta);
        hasNextDoubleNormal = true;
        return r * StrictMath.cos(theta);
    }

    private void normalFill(float[] data) {
        int size = data.length;
        for (int i = 0; i < size; i++) data[i] = uniformFloat();
        for (int i = 0; i + 16 <= size; i += 16) boxMuller16(data, i);
        if (size % 16 != 0) {
            int tail = size - 16;  // recomputed from fresh uniforms, as torch does
            for (int i = 0; i < 16; i++) data[tail + i] = uniformFloat();
            boxMuller16(data, tail);
        }
    }

    private static void boxMuller16(float[] data, int offset) {
        for (int j = 0; j < 8; j++) boxMuller(data, offset + j, offset + j + 8);
    }

    // Constants of avx_mathfun.h: C initialises its float arrays from double literals, hence the casts.
    private static final float TWO_PI = (float) (2.0 * Math.PI);
    private static final float SQRTHF = (float) 0.707106781186547524;
    private static final float LOG_P0 = (float) 7.0376836292E-2;
    private static final float LOG_P1 = (float) -1.1514610310E-1;
    private static final float LOG_P2 = (float) 1.1676998740E-1;
    private static final float LOG_P3 = (float) -1.2420140846E-1;
    private static final float LOG_P4 = (float) 1.4249322787E-1;
    private static final float LOG_P5 = (float) -1.6668057665E-1;
    private static final float LOG_P6 = (float) 2.0000714765E-1;
    private static final float LOG_P7 = (float) -2.4999993993E-1;
    private static final float LOG_P8 = (float) 3.3333331174E-1;
    private static final float LOG_Q1 = (float) -2.12194440e-4;
    private static final float LOG_Q2 = (float) 0.693359375;
    private static final float MINUS_DP1 = (float) -0.78515625;
    private static final float MINUS_DP2 = (float) -2.4187564849853515625e-4;
    private static final float MINUS_DP3 = (float) -3.77489497744594108e-8;
    private static final float SINCOF_P0 = (float) -1.9515295891E-4;
    private static final float SINCOF_P1 = (float) 8.3321608736E-3;
    private static final float SINCOF_P2 = (float) -1.6666654611E-1;
    private static final float COSCOF_P0 = (float) 2.443315711809948E-005;
    private static final float COSCOF_P1 = (float) -1.388731625493765E-003;
    private static final float COSCOF_P2 = (float) 4.166664568298827E-002;
    private static final float FOPI = (float) 1.27323954473516;  // 4 / pi

    /**
     * One pair of {@code normal_fill_16_AVX2}: u1 = 1 - data[j] (in (0, 1] for the log), u2 = data[k];
     * data[j] = r cos(theta), data[k] = r sin(theta) with r = sqrt(-2 log u1), theta = 2 pi u2.
     * The sine and cosine are {@code sincos256_ps}.
     */
    private static void boxMuller(float[] data, int j, int k) {
        float u1 = 1f - data[j];
        float u2 = data[k];
        float radius = (float) Math.sqrt(-2f * log256(u1));
        float x = TWO_PI * u2;

        // Range reduction: octant j, x reduced to [-pi/4, pi/4] in three steps (Cody-Waite).
        int signSin = Float.floatToRawIntBits(x) & 0x80000000;
        x = Math.abs(x);
        int octant = (int) (x * FOPI);
        octant = (octant + 1) & ~1;
        float y = octant;
        int swapSignSin = (octant & 4) << 29;
        boolean sinFromSinPoly = (octant & 2) == 0;
        x = Math.fma(y, MINUS_DP1, x);
        x = Math.fma(y, MINUS_DP2, x);
        x = Math.fma(y, MINUS_DP3, x);
        int signCos = (~(octant - 2) & 4) << 29;
        signSin ^= swapSignSin;

        float z = x * x;
        float cosPoly = Math.fma(COSCOF_P0, z, COSCOF_P1);
        cosPoly = Math.fma(cosPoly, z, COSCOF_P2);
        cosPoly = cosPoly * z;
        cosPoly = Math.fma(cosPoly, z, -(z * 0.5f));
        cosPoly = cosPoly + 1f;
        float sinPoly = Math.fma(SINCOF_P0, z, SINCOF_P1);
        sinPoly = Math.fma(sinPoly, z, SINCOF_P2);
        sinPoly = sinPoly * z;
        sinPoly = Math.fma(sinPoly, x, x);

        float sin = sinFromSinPoly ? sinPoly : cosPoly;
        float cos = sinFromSinPoly ? cosPoly : sinPoly;
        sin = Float.intBitsToFloat(Float.floatToRawIntBits(sin) ^ signSin);
        cos = Float.intBitsToFloat(Float.floatToRawIntBits(cos) ^ signCos);
        // _mm256_fmadd_ps(n, std = 1, mean = 0) leaves the product as it is.
        data[j] = radius * cos;
        data[k] = radius * sin;
    }

    /** {@code log256_ps} for one lane, x in (0, 1]: exponent and mantissa split, then a degree-9 polynomial. */
    private static float log256(float x) {
        x = Math.max(x, Float.MIN_NORMAL);
        int bits = Float.floatToRawIntBits(x);
        int exponent = (bits >>> 23) - 0x7f;
        x = Float.intBitsToFloat((bits & ~0x7f800000) | Float.floatToRawIntBits(0.5f));  // mantissa in [0.5, 1)
        float e = exponent;
        e = e + 1f;
        boolean small = x < SQRTHF;
        float tmp = small ? x : 0f;
        x = x - 1f;
        e = e - (small ? 1f : 0f);
        x = x + tmp;

        float z = x * x;
        float y = Math.fma(LOG_P0, x, LOG_P1);
        y = Math.fma(y, x, LOG_P2);
        y = Math.fma(y, x, LOG_P3);
        y = Math.fma(y, x, LOG_P4);
        y = Math.fma(y, x, LOG_P5);
        y = Math.fma(y, x, LOG_P6);
        y = Math.fma(y, x, LOG_P7);
        y = Math.fma(y, x, LOG_P8);
        y = y * x;
        y = Math.fma(y, z, e * LOG_Q1);
        y = Math.fma(-z, 0.5f, y);
        x = x + y;
        return Math.fma(e, LOG_Q2, x);
    }
}
