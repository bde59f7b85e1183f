package dev.jdiffusion.io.adapters;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.tensor.WeightTensor;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A view of a model part's weights that notes every tensor the part reads and its shape: the part's inventory,
 * by which LoRA layers are matched to the model ({@link LoraMerge#plan}). Costs a map entry per tensor.
 */
public final class RecordingWeights implements WeightSource {
    private final WeightSource base;
    private final Map<String, int[]> shapes = Collections.synchronizedMap(new LinkedHashMap<>());

    public RecordingWeights(WeightSource base) { this.base = base; }

    /** The unrecorded weights. */
    public WeightSource base() { return base; }

    /** Every tensor read so far, in reading order, with its shape. */
    public Map<String, int[]> shapes() {
        synchronized (shapes) {
            return Collections.unmodifiableMap(new LinkedHashMap<>(shapes));
        }
    }

    private WeightTensor note(WeightTensor t, String name) {
        shapes.put(name, t.shape());
        return t;
    }

    @Override public WeightTensor get(String name) { return note(base.get(name), name); }

    @Override public WeightTensor get(String name, int... expectedShape) { return note(base.get(name, expectedShape), name); }

    @Override public boolean contains(String name) { return base.contains(name); }

    @Override public int rank(String name) { return base.rank(name); }

    @Override public String describe() { return base.describe(); }
}
