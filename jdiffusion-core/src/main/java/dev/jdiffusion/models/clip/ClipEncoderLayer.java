package dev.jdiffusion.models.clip;

import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.nn.LayerNorm;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Activations;
import dev.jdiffusion.tensor.Attention;
import dev.jdiffusion.tensor.Autograd;
import dev.jdiffusion.tensor.Buffers;
import dev.jdiffusion.tensor.Tensor;

/**
 * transformers' CLIPEncoderLayer, shared by the text and the vision tower: pre-norm self-attention
 * ({@code self_attn.{q,k,v,out}_proj}) and MLP ({@code mlp.fc1}, activation, {@code mlp.fc2}), each added to
 * the residual. The text tower's attention is causal, the vision tower's is not.
 */
public final class ClipEncoderLayer {
    private final LayerNorm layerNorm1, layerNorm2;
    private final Linear q, k, v, out, fc1, fc2;
    private final int heads;
    private final Activations.Kind act;
    private final boolean causal;

    /** {@code w}: the layer's weights ({@code encoder.layers.N.}). */
    public ClipEncoderLayer(WeightSource w, int hidden, int intermediate, int heads, Activations.Kind act,
                            double layerNormEps, boolean causal) {
        layerNorm1 = new LayerNorm(w, "layer_norm1", hidden, layerNormEps);
        layerNorm2 = new LayerNorm(w, "layer_norm2", hidden, layerNormEps);
        q = new Linear(w, "self_attn.q_proj", hidden, hidden, true);
        k = new Linear(w, "self_attn.k_proj", hidden, hidden, true);
        v = new Linear(w, "self_attn.v_proj", hidden, hidden, true);
        out = new Linear(w, "self_attn.out_proj", hidden, hidden, true);
        fc1 = new Linear(w, "mlp.fc1", hidden, intermediate, true);
        fc2 = new Linear(w, "mlp.fc2", intermediate, hidden, true);
        this.heads = heads;
        this.act = act;
        this.causal = causal;
    }

    /** x: (N, L, hidden); x itself is left as it was (the text model keeps every hidden state). */
    public Tensor forward(Tensor x) { return Autograd.block(() -> compute(x), x); }

    private Tensor compute(Tensor x) {
        Tensor h = layerNorm1.forward(x);
        Tensor qh = q.forward(h), kh = k.forward(h), vh = v.forward(h);
        Buffers.recycle(h);
        Tensor a = Attention.attend(qh, kh, vh, heads, causal);
        Buffers.recycle(qh, kh, vh);
        Tensor mid = out.forward(a, x);
        Buffers.recycle(a);
        h = layerNorm2.forward(mid);
        Tensor f = fc1.forward(h);
        Buffers.recycle(h);
        Tensor g = Activations.map(f, act);
        Buffers.recycle(f);
        Tensor y = fc2.forward(g, mid);
        Buffers.recycle(g, mid);
        return y;
    }
}
