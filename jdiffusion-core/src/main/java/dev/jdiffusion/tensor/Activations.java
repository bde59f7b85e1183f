package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Element-wise activations, as PyTorch defines them. */
public final class Activations {
    private Activations() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();

    public static float silu(float x) { return x / (1f + (float) Math.exp(-x)); }

    /** SiLU per lane: x / (1 + e^-x). */
    public static FloatVector silu(FloatVector x) {
        return x.div(VMath.exp(x.neg()).add(1f));
    }

    /** Exact-erf GELU per lane, float32 with the same erfc fit as {@link #gelu(float)} (|error| ≲ 3e-7·|x|). */
    public static FloatVector gelu(FloatVector x) { return x.mul(0.5f).mul(onePlusErf(x)); }

    /** GELU'(x) = Φ(x) + x·φ(x) per lane: ½(1 + erf(x/√2)) + x·e^(−x²/2)/√(2π). */
    static FloatVector geluDerivative(FloatVector x) {
        FloatVector density = VMath.exp(x.mul(x).mul(-0.5f)).mul((float) (1 / Math.sqrt(2 * Math.PI)));
        return onePlusErf(x).mul(0.5f).add(x.mul(density));
    }

    /** SiLU'(x) = σ(x)·(1 + x·(1 − σ(x))) per lane. */
    public static FloatVector siluDerivative(FloatVector x) {
        FloatVector sig = VMath.exp(x.neg()).add(1f);
        sig = FloatVector.broadcast(S, 1f).div(sig);
        return sig.mul(x.mul(sig.neg().add(1f)).add(1f));
    }

    /** 1 + erf(x/√2) per lane. */
    private static FloatVector onePlusErf(FloatVector x) {
        FloatVector u = x.mul((float) (1 / Math.sqrt(2.0)));
        FloatVector z = u.abs();
        FloatVector t = z.mul(0.5f).add(1f);
        t = FloatVector.broadcast(S, 1f).div(t);
        FloatVector poly = t.fma(FloatVector.broadcast(S, 0.17087277f), FloatVector.broadcast(S, -0.82215223f));
        poly = t.fma(poly, FloatVector.broadcast(S, 1.48851587f));
        poly = t.fma(poly, FloatVector.broadcast(S, -1.13520398f));
        poly = t.fma(poly, FloatVector.broadcast(S, 0.27886807f));
        poly = t.fma(poly, FloatVector.broadcast(S, -0.18628806f));
        poly = t.fma(poly, FloatVector.broadcast(S, 0.09678418f));
        poly = t.fma(poly, FloatVector.broadcast(S, 0.37409196f));
        poly = t.fma(poly, FloatVector.broadcast(S, 1.00002368f));
        poly = t.fma(poly, FloatVector.broadcast(S, -1.26551223f));
        FloatVector r = t.mul(VMath.exp(poly.sub(z.mul(z)))); // erfc(|u|)
        // 1 + erf(u) = 2 - r for u >= 0, r for u < 0.
        return r.neg().add(2f).blend(r, u.compare(VectorOperators.LT, 0f));
    }

    /** GELU with the exact erf form (PyTorch's default, approximate='none'). */
    public static float gelu(float x) { return (float) (0.5 * x * (1.0 + erf(x / Math.sqrt(2.0)))); }

    /** CLIP's quick GELU: x * sigmoid(1.702 x). */
    public static float quickGelu(float x) { return x / (1f + (float) Math.exp(-1.702f * x)); }

    public enum Kind { SILU, GELU, QUICK_GELU }

    public static float apply(Kind kind, float x) {
        return switch (kind) {
            case SILU -> silu(x);
            case GELU -> gelu(x);
            case QUICK_GELU -> quickGelu(x);
        };
    }

    /** A new tensor with {@code kind} applied to every element. */
    public static Tensor map(Tensor x, Kind kind) {
        float[] xs = x.data(), y = Buffers.take(xs.length);
        Parallel.forRange(xs.length, 4096, (from, to) -> {
            int i = from;
            if (kind != Kind.QUICK_GELU)
                for (; i + L <= to; i += L) {
                    FloatVector v = FloatVector.fromArray(S, xs, i);
                    (kind == Kind.SILU ? silu(v) : gelu(v)).intoArray(y, i);
                }
            for (; i < to; i++) y[i] = apply(kind, xs[i]);
        });
        Tensor out = new Tensor(y, x.shape());
        Autograd.Recorder r = Autograd.needed(new Tensor[]{x});
        if (r != null) r.record(kind.name().toLowerCase(java.util.Locale.ROOT), out, new Tensor[]{x}, g -> {
            float[] go = g.output();
            Parallel.forRange(xs.length, 4096, (from, to) -> {
                int i = from;
                if (kind != Kind.QUICK_GELU)
                    for (; i + L <= to; i += L) {
                        FloatVector v = FloatVector.fromArray(S, xs, i);
                        FloatVector dv = kind == Kind.SILU ? siluDerivative(v) : geluDerivative(v);
                        FloatVector.fromArray(S, go, i).mul(dv).intoArray(go, i);
                    }
                for (; i < to; i++) go[i] *= derivative(kind, xs[i]);
            });
            g.input(0, go);
        });
        return out;
    }

    /** d/dx of {@code kind} at x, in double then rounded (the backward's local slope). */
    public static float derivative(Kind kind, float x) {
        return switch (kind) {
            case SILU -> {
                double s = 1.0 / (1.0 + Math.exp(-x));
                yield (float) (s * (1.0 + x * (1.0 - s)));
            }
            case GELU -> geluDerivative(x);
            case QUICK_GELU -> {
                double s = 1.0 / (1.0 + Math.exp(-1.702 * x));
                yield (float) (s + 1.702 * x * s * (1.0 - s));
            }
        };
    }

    /** GELU'(x) = Φ(x) + x·φ(x) (exact erf form). */
    static float geluDerivative(float x) {
        return (float) (0.5 * (1.0 + erf(x / Math.sqrt(2.0))) + x * Math.exp(-0.5 * (double) x * x) / Math.sqrt(2 * Math.PI));
    }

    /**
     * GEGLU: the last dimension holds [value, gate] halves; returns value * gelu(gate), as diffusers'
     * GEGLU does after its projection.
     */
    public static Tensor geglu(Tensor h) {
        int d2 = h.dim(-1), d = d2 / 2, rows = h.size() / d2;
        float[] hs = h.data(), y = Buffers.take(rows * d);
        Parallel.forRange(rows, 16, (from, to) -> {
            for (int r = from; r < to; r++) {
                int j = 0;
                for (; j + L <= d; j += L)
                    FloatVector.fromArray(S, hs, r * d2 + j).mul(gelu(FloatVector.fromArray(S, hs, r * d2 + d + j)))
                            .intoArray(y, r * d + j);
                for (; j < d; j++) y[r * d + j] = hs[r * d2 + j] * gelu(hs[r * d2 + d + j]);
            }
        });
        int[] shape = h.shape();
        shape[shape.length - 1] = d;
        Tensor out = new Tensor(y, shape);
        Autograd.Recorder rec = Autograd.needed(new Tensor[]{h});
        if (rec != null) rec.record("geglu", out, new Tensor[]{h}, g -> {
            float[] go = g.output(), gh = new float[hs.length];
            Parallel.forRange(rows, 16, (from, to) -> {
                for (int r = from; r < to; r++) {
                    int j = 0;
                    for (; j + L <= d; j += L) {
                        FloatVector a = FloatVector.fromArray(S, hs, r * d2 + j), gate = FloatVector.fromArray(S, hs, r * d2 + d + j);
                        FloatVector gy = FloatVector.fromArray(S, go, r * d + j);
                        gy.mul(gelu(gate)).intoArray(gh, r * d2 + j);
                        gy.mul(a).mul(geluDerivative(gate)).intoArray(gh, r * d2 + d + j);
                    }
                    for (; j < d; j++) {
                        float a = hs[r * d2 + j], gate = hs[r * d2 + d + j], gy = go[r * d + j];
                        gh[r * d2 + j] = gy * gelu(gate);
                        gh[r * d2 + d + j] = gy * a * geluDerivative(gate);
                    }
                }
            });
            g.input(0, gh);
        });
        return out;
    }

    /**
     * erf(x) to double precision's float needs (|error| < 1.2e-7): the Chebyshev-fitted erfc of
     * Numerical Recipes (erfcc), which is accurate over the whole real line.
     */
    static double erf(double x) {
        double z = Math.abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - r : r - 1.0;
    }
}
