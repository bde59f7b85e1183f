package dev.jdiffusion.training;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * The weights being trained: float32 copies on the heap (the file's may be fp16 and are read-only), each
 * with a float32 gradient accumulator of the same layout. A model is built over {@link #source}, so its
 * layers hold views of these arrays: an optimizer's in-place update is what the next forward pass reads.
 * Weights are keyed by their diffusers name with the part's prefix ({@code unet.conv_in.weight}), in the
 * order the model asked for them.
 */
public final class Parameters {
    /** One trained tensor. */
    public record Parameter(String name, int[] shape, float[] value, float[] grad) {
        public int size() { return value.length; }
    }

    private final Map<String, Parameter> byName = new LinkedHashMap<>();
    private final Map<float[], Parameter> byArray = Collections.synchronizedMap(new IdentityHashMap<>());

    /**
     * A weight source for building one model part: names accepted by {@code trained} come as float32 copies
     * registered here under {@code part + "." + name}; the others straight from {@code base} (frozen).
     */
    public WeightSource source(String part, WeightSource base, Predicate<String> trained) {
        return new WeightSource() {
            @Override public WeightTensor get(String name) { return trainable(name, base.get(name)); }

            // Sources that make weights from the expected shape (RandomWeights: full-size benchmarks) need it asked.
            @Override public WeightTensor get(String name, int... shape) { return trainable(name, base.get(name, shape)); }

            private WeightTensor trainable(String name, WeightTensor w) {
                if (!trained.test(name)) return w;
                Parameter p = byName.get(part + "." + name);
                if (p == null) {
                    if (w.size() > Integer.MAX_VALUE) throw new IllegalArgumentException(w.name() + " is too large to train");
                    float[] v = w.toFloatArray();
                    p = new Parameter(part + "." + name, w.shape(), v, new float[v.length]);
                    byName.put(p.name(), p);
                    byArray.put(v, p);
                }
                return view(p, w.name());
            }

            @Override public boolean contains(String name) { return base.contains(name); }

            @Override public int rank(String name) { return base.rank(name); }

            @Override public String describe() { return base.describe(); }
        };
    }

    private static WeightTensor view(Parameter p, String name) {
        return new WeightTensor(name, DType.F32, p.shape(), MemorySegment.ofArray(p.value()));
    }

    /** The gradient accumulator of a weight that is a view of a trained parameter; null for any other weight. */
    public float[] gradientOf(WeightTensor w) {
        Object base = w.segment().heapBase().orElse(null);
        if (!(base instanceof float[] array)) return null;
        Parameter p = byArray.get(array);
        return p == null ? null : p.grad();
    }

    /** All trained tensors, in the order the models asked for them. */
    public List<Parameter> all() { return new ArrayList<>(byName.values()); }

    public Parameter get(String name) { return byName.get(name); }

    /** Total number of trained values. */
    public long count() { return byName.values().stream().mapToLong(Parameter::size).sum(); }

    /** Sets every gradient to zero (after an optimizer step, as optimizer.zero_grad()). */
    public void zeroGrad() { byName.values().forEach(p -> java.util.Arrays.fill(p.grad(), 0f)); }
}
