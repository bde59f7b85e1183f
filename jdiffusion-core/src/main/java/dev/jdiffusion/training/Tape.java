package dev.jdiffusion.training;

import dev.jdiffusion.tensor.Autograd;
import dev.jdiffusion.tensor.FlopCounter;
import dev.jdiffusion.tensor.OpProfile;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Reverse-mode differentiation over the kernels: while installed ({@link #record}), every operation that
 * depends on a trained weight or on a tensor marked with {@link #requireGrad} is appended with its backward
 * ({@link Autograd}); {@link #backward} then runs those backwards in reverse order from a seed gradient,
 * adding weight gradients into {@link Parameters} and dropping each operation (and the activations its
 * backward captured) as soon as it has run. Tensors are identified by their data arrays, so reshaped views
 * share their base's gradient.
 *
 * <p>With checkpointing, each block of layers that the models mark ({@link Autograd#block}: ResNet blocks,
 * transformers, CLIP layers) is run without recording and recorded as one operation whose backward runs
 * the block again under a tape of its own: only block inputs and outputs are kept (recompute instead of
 * store).
 */
public final class Tape implements Autograd.Recorder {
    private final Parameters parameters;
    private final boolean checkpointing;
    private final Map<float[], Boolean> requiring = new IdentityHashMap<>();
    private final List<Node> nodes = new ArrayList<>();
    private final Map<float[], float[]> leafGrads = new IdentityHashMap<>();

    private record Node(String op, float[] output, float[][] inputs, boolean[] wants, Autograd.Backward backward) {}

    /** @param parameters the trained weights (their gradients accumulate there); @param checkpointing recompute blocks */
    public Tape(Parameters parameters, boolean checkpointing) {
        this.parameters = parameters;
        this.checkpointing = checkpointing;
    }

    /** Marks a tensor that is not computed from trained weights as needing a gradient (see {@link #gradient}). */
    public void requireGrad(Tensor t) { requiring.put(t.data(), Boolean.TRUE); }

    /** Runs {@code body} with this tape recording on the calling thread. */
    public <T> T record(Supplier<T> body) { return Autograd.with(this, body); }

    @Override
    public boolean requiresGrad(Tensor t) { return requiring.containsKey(t.data()); }

    @Override
    public boolean trainable(WeightTensor w) { return parameters.gradientOf(w) != null; }

    @Override
    public void record(String op, Tensor output, Tensor[] inputs, Autograd.Backward backward) {
        float[][] in = new float[inputs.length][];
        boolean[] wants = new boolean[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            if (inputs[i] == null) continue;
            in[i] = inputs[i].data();
            wants[i] = requiring.containsKey(in[i]);
        }
        nodes.add(new Node(op, output.data(), in, wants, backward));
        requiring.put(output.data(), Boolean.TRUE);
    }

    @Override
    public Tensor block(Supplier<Tensor> body, Tensor... inputs) {
        if (!checkpointing) return body.get();
        Tensor out = Autograd.with(null, body);
        record("checkpoint", out, inputs, grads -> {
            Tape inner = new Tape(parameters, false);
            for (int i = 0; i < inputs.length; i++) if (grads.wants(i)) inner.requireGrad(inputs[i]);
            Tensor again = inner.record(body);
            inner.backward(again, grads.output());
            for (int i = 0; i < inputs.length; i++) {
                if (!grads.wants(i)) continue;
                float[] g = inner.gradient(inputs[i]);
                if (g != null) grads.input(i, g);
            }
        });
        return out;
    }

    /** Operations recorded and not yet run backward. */
    public int size() { return nodes.size(); }

    /**
     * Runs the recorded backwards in reverse, starting from {@code seed} = ∂loss/∂{@code root} (taken over).
     * Weight gradients are added to the parameters' accumulators; gradients of tensors marked with
     * {@link #requireGrad} are kept for {@link #gradient}. The tape is empty afterwards.
     */
    public void backward(Tensor root, float[] seed) {
        if (seed.length != root.size())
            throw new IllegalArgumentException("seed gradient of " + seed.length + " values for " + root);
        Map<float[], float[]> grads = new IdentityHashMap<>();
        grads.put(root.data(), seed);
        for (int n = nodes.size() - 1; n >= 0; n--) {
            Node node = nodes.get(n);
            nodes.set(n, null);
            float[] go = grads.remove(node.output);
            if (go == null) continue;  // nothing downstream of this operation reached the loss
            long t0 = OpProfile.enabled() ? System.nanoTime() : 0, f0 = OpProfile.enabled() ? FlopCounter.total() : 0;
            node.backward.apply(new Autograd.Grads() {
                @Override public float[] output() { return go; }

                @Override public boolean wants(int i) { return node.wants[i]; }

                @Override public void input(int i, float[] g) {
                    if (!node.wants[i]) return;
                    float[] key = node.inputs[i];
                    if (g.length != key.length)
                        throw new IllegalStateException(node.op + ": gradient of " + g.length + " values for an input of " + key.length);
                    float[] acc = grads.get(key);
                    if (acc == null) grads.put(key, g);
                    else for (int j = 0; j < acc.length; j++) acc[j] += g[j];
                }

                @Override public float[] weight(WeightTensor w) { return parameters.gradientOf(w); }
            });
            if (OpProfile.enabled()) OpProfile.add("backward " + node.op, System.nanoTime() - t0, FlopCounter.total() - f0);
        }
        nodes.clear();
        // What is left are gradients of leaves: tensors marked by requireGrad.
        grads.forEach((k, g) -> { if (requiring.containsKey(k)) leafGrads.put(k, g); });
    }

    /** The gradient {@link #backward} found for a tensor marked with {@link #requireGrad}, or null if none reached it. */
    public float[] gradient(Tensor t) { return leafGrads.get(t.data()); }
}
