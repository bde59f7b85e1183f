package dev.jdiffusion.io;

import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Weights made up on demand, in whatever shape the model code asks for: a full-size architecture with
 * random weights costs exactly what the real one costs, without a download. Values follow PyTorch's
 * default initialisation (uniform within ±1/sqrt(fan_in); norm scales 1, biases 0), so activations stay
 * in range, and live off the Java heap like a mapped checkpoint.
 */
public final class RandomWeights implements WeightSource {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final DType dtype;
    private final long seed;
    private final Map<String, WeightTensor> made = new ConcurrentHashMap<>();

    /** @param dtype F32, F16 or BF16, as the checkpoint being imitated stores its weights */
    public RandomWeights(DType dtype, long seed) {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16)
            throw new IllegalArgumentException("random weights are F32, F16 or BF16, not " + dtype);
        this.dtype = dtype;
        this.seed = seed;
    }

    @Override
    public WeightTensor get(String name) {
        WeightTensor t = made.get(name);
        if (t == null) throw new IllegalStateException("random weights need a shape: ask for '" + name + "' with one");
        return t;
    }

    @Override
    public WeightTensor get(String name, int... shape) {
        return made.computeIfAbsent(name, n -> make(n, shape));
    }

    /** Layers choose between 2-D and 1×1-conv weights by rank: the linear (2-D) form costs the same. */
    @Override
    public int rank(String name) { return made.containsKey(name) ? made.get(name).rank() : 2; }

    @Override
    public boolean contains(String name) { return true; }

    @Override
    public String describe() { return "random " + dtype + " weights"; }

    /** Every tensor handed out so far, by name (sorted): what a checkpoint of this model would hold. */
    public java.util.SortedMap<String, WeightTensor> tensors() { return new java.util.TreeMap<>(made); }

    /** Off-heap bytes handed out so far. */
    public long bytes() { return made.values().stream().mapToLong(t -> t.segment().byteSize()).sum(); }

    private WeightTensor make(String name, int[] shape) {
        long n = 1, fanIn = 1;
        for (int i = 0; i < shape.length; i++) {
            n *= shape[i];
            if (i > 0) fanIn *= shape[i];
        }
        MemorySegment seg = Arena.ofAuto().allocate(n * dtype.byteSize(), 8);
        float constant = shape.length == 1 ? (name.endsWith(".bias") ? 0f : 1f) : Float.NaN;
        float bound = (float) (1.0 / Math.sqrt(fanIn));
        long state = seed ^ name.hashCode() * 0x9E3779B97F4A7C15L;
        for (long i = 0; i < n; i++) {
            float v;
            if (!Float.isNaN(constant)) v = constant;
            else {
                state ^= state << 13; state ^= state >>> 7; state ^= state << 17;  // xorshift64
                v = bound * (((state >>> 40) / (float) (1 << 24)) * 2f - 1f);
            }
            switch (dtype) {
                case F32 -> seg.setAtIndex(F32, i, v);
                case F16 -> seg.setAtIndex(I16, i, Float.floatToFloat16(v));
                default -> seg.setAtIndex(I16, i, (short) (Float.floatToRawIntBits(v) >>> 16));
            }
        }
        return new WeightTensor(name, dtype, shape, seg);
    }
}
