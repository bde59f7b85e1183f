package dev.jdiffusion.tensor;

import java.util.function.Supplier;

/**
 * The recording protocol of reverse-mode differentiation, as the kernels see it. While a
 * {@link Recorder} is installed on the calling thread, every differentiable operation that reads a
 * tensor needing a gradient, or a trainable weight, reports itself with a {@link Backward}: the
 * backward kernel of that operation, which lives beside its forward twin in this package. What is
 * recorded, in which order the backward runs, and where gradients are kept, belongs to the recorder
 * (the training layer's tape); the models above call their usual forward code and gain a backward
 * pass without a second copy of themselves.
 *
 * <p>Tensors are identified by their data array: {@link Tensor#reshape} views share it, so a view's
 * gradient is its base's. While recording, {@link Buffers#recycle} does nothing (the tape still holds
 * the activations), and the fused paths that never make an intermediate (lazily normalized or upsampled
 * convolution inputs) make it, since the backward needs it.
 */
public final class Autograd {
    private static final ThreadLocal<Recorder> CURRENT = new ThreadLocal<>();

    private Autograd() {}

    /** What an operation's backward reads and writes. */
    public interface Grads {
        /**
         * The gradient of the operation's output (its flat layout). It may be handed on, once, as one
         * input's gradient: the recorder does not read it after this backward.
         */
        float[] output();

        /** Whether input {@code i} (in the order given to {@link Recorder#record}) needs a gradient. */
        boolean wants(int i);

        /** Adds {@code g} to input i's gradient; the recorder takes the array over (do not write it afterwards). */
        void input(int i, float[] g);

        /** The gradient accumulator (float32, the weight's flat layout) of a trainable weight; null when frozen. */
        float[] weight(WeightTensor w);
    }

    /** An operation's backward: reads {@link Grads#output()}, adds to its inputs' and weights' gradients. */
    @FunctionalInterface
    public interface Backward {
        void apply(Grads grads);
    }

    /** Receives the operations as they run (the training layer's tape). */
    public interface Recorder {
        /** Whether the tensor's value depends on something being trained (so its gradient is needed). */
        boolean requiresGrad(Tensor t);

        /** Whether the weight is being trained. */
        boolean trainable(WeightTensor w);

        /** Records that {@code output} was computed from {@code inputs} (nulls allowed) by an operation with this backward. */
        void record(String op, Tensor output, Tensor[] inputs, Backward backward);

        /**
         * Runs a block of layers; a recorder that checkpoints records it as one operation and runs it again
         * during the backward (recompute instead of store). {@code inputs}: every tensor the block reads that
         * may need a gradient.
         */
        default Tensor block(Supplier<Tensor> body, Tensor... inputs) { return body.get(); }
    }

    /** The recorder of the calling thread, or null when nothing records. */
    public static Recorder recorder() { return CURRENT.get(); }

    public static boolean recording() { return CURRENT.get() != null; }

    /** Runs {@code body} with {@code recorder} installed on this thread (null: with recording off), then restores the previous one. */
    public static <T> T with(Recorder recorder, Supplier<T> body) {
        Recorder previous = CURRENT.get();
        if (recorder == null) CURRENT.remove();
        else CURRENT.set(recorder);
        try {
            return body.get();
        } finally {
            if (previous == null) CURRENT.remove();
            else CURRENT.set(previous);
        }
    }

    /**
     * The recorder if the operation needs recording: one of its inputs requires a gradient or one of its
     * weights is trained; else null.
     */
    static Recorder needed(Tensor[] inputs, WeightTensor... weights) {
        Recorder r = CURRENT.get();
        if (r == null) return null;
        for (Tensor t : inputs) if (t != null && r.requiresGrad(t)) return r;
        for (WeightTensor w : weights) if (w != null && r.trainable(w)) return r;
        return null;
    }

    /** A block of layers (a ResNet block, a transformer): checkpointed when the recorder does so. */
    public static Tensor block(Supplier<Tensor> body, Tensor... inputs) {
        Recorder r = CURRENT.get();
        return r == null ? body.get() : r.block(body, inputs);
    }

    /** g added into acc (same length). */
    static void accumulate(float[] acc, float[] g) {
        for (int i = 0; i < acc.length; i++) acc[i] += g[i];
    }
}
