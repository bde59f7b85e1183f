package dev.jdiffusion.tensor;

import jdk.incubator.vector.FloatVector;

/**
 * 2-D convolution on channels-last activations (N, H, W, C) with PyTorch's weight layout
 * [out, in, kh, kw]. 3×3 stride-1 convolutions over enough pixels run as Winograd F(4×4, 3×3)
 * ({@link Winograd}); the others as an implicit GEMM on {@link PackedGemm}: the kernel reads the
 * (shifted) input pixels in place, one tap and channel block at a time, so there is no im2col buffer;
 * the weight is packed per call, reordered to (kh, kw, in), from its memory-mapped dtype.
 */
public final class Conv2d {
    private static final int PIXELS_PER_TASK = 64;

    private Conv2d() {}

    public static Tensor forward(Tensor x, WeightTensor w, WeightTensor bias, int stride, int padding) {
        return forward(x, w, bias, stride, padding, null);
    }

    /**
     * Convolution plus a fused residual add: {@code residual} (the output's shape, may be null, not
     * modified) is added to the result in the same pass.
     */
    public static Tensor forward(Tensor x, WeightTensor w, WeightTensor bias, int stride, int padding, Tensor residual) {
        Tensor y = profiled(x, null, w, bias, stride, padding, residual);
        Tensor[] inputs = {x, residual};
        Autograd.Recorder r = Autograd.needed(inputs, w, bias);
        if (r != null) r.record("conv", y, inputs, g -> backward(g, x, w, bias, stride, padding));
        return y;
    }

    /** {@link #compute}, timed per call shape when {@link OpProfile} is on. */
    private static Tensor profiled(Tensor x, Norms.Normalized norm, WeightTensor w, WeightTensor bias, int stride,
                                   int padding, Tensor residual) {
        if (!OpProfile.ON) return compute(x, norm, w, bias, stride, padding, residual, true);
        long t0 = System.nanoTime();
        Tensor y = compute(x, norm, w, bias, stride, padding, residual, true);
        OpProfile.add("conv" + w.dim(2) + "x" + w.dim(3) + "/" + stride + " " + java.util.Arrays.toString(x.shape()) + " -> " + w.dim(0)
                + (Winograd.applies(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), stride, padding) ? " winograd"
                : FewRowsGemm.suits(y.size() / w.dim(0), w.dim(0), x.dim(3) * w.dim(2) * w.dim(3)) ? " few-rows" : "")
                + (norm != null ? ", normalized input" : ""),
                System.nanoTime() - t0, 2L * y.size() * x.dim(3) * w.dim(2) * w.dim(3));
        return y;
    }

    /**
     * conv(upsampleNearest2x(x)) for a 3×3, stride-1, padding-1 weight (diffusers' Upsample2D). Where the
     * Winograd path runs, the upsampled image is read in place and never made (in the VAE decoder it is
     * the largest tensor of the whole generation).
     */
    public static Tensor forwardUpsampled2x(Tensor x, WeightTensor w, WeightTensor bias) {
        int n = x.dim(0), h = 2 * x.dim(1), wd = 2 * x.dim(2), cin = x.dim(3), cout = w.dim(0);
        if (w.dim(1) != cin || w.dim(2) != 3 || w.dim(3) != 3)
            throw new IllegalArgumentException(w.name() + ": expected a [" + cout + ", " + cin + ", 3, 3] weight, got " + w);
        if (!Winograd.applies(n, h, wd, cin, cout, 3, 3, 1, 1) || Autograd.needed(new Tensor[]{x}, w, bias) != null) {
            Tensor up = TensorOps.upsampleNearest2x(x);
            Tensor y = forward(up, w, bias, 1, 1);
            Buffers.recycle(up);
            return y;
        }
        FlopCounter.add(2L * n * h * wd * cout * cin * 9);
        float[] out = Buffers.take(n * h * wd * cout);
        Winograd.conv3x3(x.data(), n, h, wd, cin, true, null, w, bias == null ? null : bias.toFloatArray(), out, false);
        return new Tensor(out, n, h, wd, cout);
    }

    /**
     * The convolution of a group-normalized (+ SiLU) input, plus residual (may be null). For big inputs on
     * the Winograd path the normalization is applied as tiles are loaded and the normalized tensor is never
     * made; otherwise it is made, used and handed back to the pool. Same results either way.
     */
    public static Tensor forward(Norms.Normalized in, WeightTensor w, WeightTensor bias, int stride, int padding, Tensor residual) {
        Tensor x = in.x();
        // Applying the norm while loading costs SiLU 2.25 times per value (tiles overlap) and the in-place
        // reading of interior tiles: worth it only where the normalized tensor would be big (the VAE).
        if (x.size() >= LAZY_NORM_MIN_VALUES && w.dim(1) == x.dim(3) && !in.recorded() && Autograd.needed(new Tensor[0], w, bias) == null
                && Winograd.applies(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3), stride, padding))
            return profiled(x, in, w, bias, stride, padding, residual);
        Tensor normed = in.materialize();
        Tensor y = forward(normed, w, bias, stride, padding, residual);
        Buffers.recycle(normed);
        return y;
    }

    /** The convolution as an implicit GEMM even where Winograd applies: the benchmarks' baseline. */
    static Tensor forwardImplicitGemm(Tensor x, WeightTensor w, WeightTensor bias, int stride, int padding) {
        return compute(x, null, w, bias, stride, padding, null, false);
    }

    /** @param norm applied to x by the Winograd path as it loads tiles; non-null only where that path runs */
    private static Tensor compute(Tensor x, Norms.Normalized norm, WeightTensor w, WeightTensor bias, int stride,
                                  int padding, Tensor residual, boolean winograd) {
        int n = x.dim(0), h = x.dim(1), wd = x.dim(2), cin = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        if (w.dim(1) != cin)
            throw new IllegalArgumentException(w.name() + ": input has " + cin + " channels, weight expects " + w.dim(1));
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1;
        int pixels = n * oh * ow;
        FlopCounter.add(2L * pixels * cout * cin * kh * kw);
        float[] out;
        if (residual != null) {
            if (residual.size() != pixels * cout)
                throw new IllegalArgumentException(w.name() + ": residual " + residual + " does not match output");
            out = Buffers.copyOf(residual.data());
        } else {
            out = Buffers.take(pixels * cout);
        }
        float[] bf = bias == null ? null : bias.toFloatArray();
        if (winograd && Winograd.applies(n, h, wd, cin, cout, kh, kw, stride, padding)) {
            Winograd.conv3x3(x.data(), n, h, wd, cin, false, norm, w, bf, out, residual != null);
        } else if (cout <= NARROW_OUTPUTS && cin % PackedGemm.L == 0 && pixels >= 64) {
            narrow(x.data(), n, h, wd, cin, w, bf, stride, padding, oh, ow, out, residual != null);
        } else if (kh == 1 && kw == 1 && stride == 1 && padding == 0) {
            PackedGemm.linear(pixels, x.data(), 0, flatView(w), bf, out, 0, residual != null);
        } else if (FewRowsGemm.suits(pixels, cout, cin * kh * kw)) {
            FewRowsGemm.multiply(pixels, cin * kh * kw, FewRowsGemm.convPatches(x.data(), n, h, wd, cin, kh, kw, stride, padding),
                    flatView(w), bf, out, 0, cout, residual != null);
        } else {
            PackedGemm.multiply(pixels, cout, cin * kh * kw,
                    PackedGemm.convPatches(x.data(), n, h, wd, cin, kh, kw, stride, padding),
                    PackedGemm.convWeight(w), out, 0, cout, bf, residual != null);
        }
        return new Tensor(out, n, oh, ow, cout);
    }

    /** Output pixels per GEMM of a backward pass (bounds the packed patch buffers). */
    private static final int BACKWARD_PIXELS = 4096;

    /**
     * The backward of a convolution (inputs: x, residual): the weight gradient gᵀ·patches(x) on the packed
     * kernel (pixels in blocks, weights in (ky, kx, c) order, then permuted to PyTorch's [out, in, kh, kw]);
     * the input gradient as the convolution of g with the flipped, transposed weight where the stride is 1
     * (the forward's own paths, Winograd included), else as patch gradients g·W scattered back (col2im).
     */
    static void backward(Autograd.Grads grads, Tensor x, WeightTensor w, WeightTensor bias, int stride, int padding) {
        int n = x.dim(0), h = x.dim(1), wd = x.dim(2), cin = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3), taps = kh * kw, k = cin * taps;
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1, pixels = n * oh * ow;
        float[] g = grads.output(), xs = x.data();
        FlopCounter.add(4L * pixels * cout * k);
        float[] gw = grads.weight(w);
        long t0 = OpProfile.ON ? System.nanoTime() : 0;
        if (gw != null) {
            float[] perm = new float[cout * k];  // [out][(ky, kx, c)]
            for (int p0 = 0; p0 < pixels; p0 += BACKWARD_PIXELS) {
                int count = Math.min(BACKWARD_PIXELS, pixels - p0);
                PackedGemm.multiply(cout, k, count, PackedGemm.transposedRows(g, p0 * cout, cout, cout, count),
                        PackedGemm.patchColumns(xs, n, h, wd, cin, kh, kw, stride, padding, p0, count), perm, 0, k, null, true);
            }
            for (int o = 0; o < cout; o++)
                for (int t = 0; t < taps; t++)
                    for (int c = 0; c < cin; c++) gw[(o * cin + c) * taps + t] += perm[o * k + t * cin + c];
        }
        float[] gb = bias == null ? null : grads.weight(bias);
        if (gb != null) TensorOps.addColumnSums(g, pixels, cout, gb);
        if (OpProfile.ON) OpProfile.add("conv backward dW+db " + java.util.Arrays.toString(x.shape()) + " -> " + cout + " k" + kh + "/" + stride,
                System.nanoTime() - t0, 2L * pixels * cout * k);
        long t1 = OpProfile.ON ? System.nanoTime() : 0;
        if (grads.wants(0)) {
            float[] wf = w.toFloatArray();
            float[] gx;
            if (stride == 1 && kh == kw && padding <= kh - 1) {
                // gx = conv(g, W') with W'[c][o][ky][kx] = W[o][c][kh-1-ky][kw-1-kx], padding k-1-p.
                float[] flipped = new float[wf.length];
                for (int o = 0; o < cout; o++)
                    for (int c = 0; c < cin; c++)
                        for (int t = 0; t < taps; t++) flipped[(c * cout + o) * taps + (taps - 1 - t)] = wf[(o * cin + c) * taps + t];
                WeightTensor wt = new WeightTensor(w.name() + "ᵀ", DType.F32, new int[]{cin, cout, kh, kw},
                        java.lang.foreign.MemorySegment.ofArray(flipped));
                gx = compute(new Tensor(g, n, oh, ow, cout), null, wt, null, 1, kh - 1 - padding, null, true).data();
            } else {
                gx = new float[x.size()];
                float[] patch = new float[Math.min(BACKWARD_PIXELS, pixels) * k];
                for (int p0 = 0; p0 < pixels; p0 += BACKWARD_PIXELS) {
                    int count = Math.min(BACKWARD_PIXELS, pixels - p0);
                    PackedGemm.multiply(count, k, cout, PackedGemm.rows(g, p0 * cout, cout, cout),
                            PackedGemm.convWeightColumns(wf, cout, cin, kh, kw), patch, 0, k, null, false);
                    scatterPatches(patch, p0, count, gx, h, wd, cin, kh, kw, stride, padding, oh, ow);
                }
            }
            grads.input(0, gx);
            if (OpProfile.ON) OpProfile.add("conv backward dX " + java.util.Arrays.toString(x.shape()) + " -> " + cout + " k" + kh + "/" + stride,
                    System.nanoTime() - t1, 2L * pixels * cout * k);
        }
        if (grads.wants(1)) grads.input(1, g);
    }

    /** col2im: adds each patch gradient (k ordered (ky, kx, c)) of output pixels p0.. to the input pixels it read. */
    private static void scatterPatches(float[] patch, int p0, int count, float[] gx, int h, int w, int cin, int kh, int kw,
                                       int stride, int padding, int oh, int ow) {
        int k = cin * kh * kw, ohw = oh * ow;
        for (int p = 0; p < count; p++) {
            int i = p0 + p, b = i / ohw, rem = i - b * ohw, oy = rem / ow, ox = rem - oy * ow;
            for (int t = 0; t < kh * kw; t++) {
                int iy = oy * stride - padding + t / kw, ix = ox * stride - padding + t % kw;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                int dst = ((b * h + iy) * w + ix) * cin, src = p * k + t * cin;
                for (int c = 0; c < cin; c++) gx[dst + c] += patch[src + c];
            }
        }
    }

    /** From this many values (64 MB) up a normalized input is applied by the convolution, not stored. */
    static final int LAZY_NORM_MIN_VALUES = Integer.getInteger("jdiffusion.lazyNormMinValues", 1 << 24);

    /** Up to this many output channels a convolution runs as per-pixel dot products ({@link #narrow}). */
    static final int NARROW_OUTPUTS = 4;

    /**
     * Convolutions to a handful of channels (the VAE's image out, 128 → 3; the UNet's, 320 → 4): a GEMM
     * panel is 2·L output channels wide, so all but 3 or 4 of its lanes would be wasted. Here each output
     * pixel is a dot product per output channel, vectorised along the input channels, lanes summed in a
     * fixed order.
     */
    private static void narrow(float[] x, int n, int h, int w, int cin, WeightTensor weight, float[] bias, int stride,
                               int padding, int oh, int ow, float[] out, boolean accumulate) {
        int cout = weight.dim(0), kh = weight.dim(2), kw = weight.dim(3), taps = kh * kw, l = PackedGemm.L;
        // Weights as [o][tap][c], float32 (a few KB), padded with zero rows to NARROW_OUTPUTS so that the
        // four accumulators are plain locals (vectors in an array would be boxed).
        float[] src = weight.toFloatArray(), wt = new float[NARROW_OUTPUTS * taps * cin];
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
                for (int t = 0; t < taps; t++) wt[(o * taps + t) * cin + c] = src[(o * cin + c) * taps + t];
        int pixels = n * oh * ow, plane = taps * cin;
        Parallel.forRange(pixels, 256, (from, to) -> {
            for (int p = from; p < to; p++) {
                int b = p / (oh * ow), rem = p % (oh * ow), oy = rem / ow, ox = rem % ow;
                FloatVector a0 = FloatVector.zero(PackedGemm.S), a1 = a0, a2 = a0, a3 = a0;
                for (int t = 0; t < taps; t++) {
                    int iy = oy * stride - padding + t / kw, ix = ox * stride - padding + t % kw;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                    int xo = ((b * h + iy) * w + ix) * cin, wo = t * cin;
                    for (int c = 0; c < cin; c += l) {
                        FloatVector xv = FloatVector.fromArray(PackedGemm.S, x, xo + c);
                        a0 = xv.fma(FloatVector.fromArray(PackedGemm.S, wt, wo + c), a0);
                        a1 = xv.fma(FloatVector.fromArray(PackedGemm.S, wt, plane + wo + c), a1);
                        a2 = xv.fma(FloatVector.fromArray(PackedGemm.S, wt, 2 * plane + wo + c), a2);
                        a3 = xv.fma(FloatVector.fromArray(PackedGemm.S, wt, 3 * plane + wo + c), a3);
                    }
                }
                float[] sums = {VMath.sumLanes(a0), VMath.sumLanes(a1), VMath.sumLanes(a2), VMath.sumLanes(a3)};
                for (int o = 0; o < cout; o++) {
                    float v = sums[o] + (bias == null ? 0f : bias[o]);
                    out[p * cout + o] = accumulate ? out[p * cout + o] + v : v;
                }
            }
        });
    }

    /** The previous implementation (im2col blocks of 64 pixels, 4×4 dot-product GEMM): kept as a baseline. */
    static Tensor forwardReference(Tensor x, WeightTensor w, WeightTensor bias, int stride, int padding) {
        int n = x.dim(0), h = x.dim(1), wd = x.dim(2), cin = x.dim(3);
        int cout = w.dim(0), kh = w.dim(2), kw = w.dim(3);
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1;
        int k = cin * kh * kw;
        float[] bf = bias == null ? null : bias.toFloatArray();
        float[] out = new float[n * oh * ow * cout];
        float[] xs = x.data();
        float[] wf = reorder(w, cout, cin, kh, kw);
        int pixels = n * oh * ow;
        Parallel.forRange((pixels + PIXELS_PER_TASK - 1) / PIXELS_PER_TASK, 1, (t0, t1) -> {
            float[] patches = new float[PIXELS_PER_TASK * k];
            for (int t = t0; t < t1; t++) {
                int p0 = t * PIXELS_PER_TASK, p1 = Math.min(pixels, p0 + PIXELS_PER_TASK);
                for (int p = p0; p < p1; p++) {
                    int b = p / (oh * ow), rem = p % (oh * ow), oy = rem / ow, ox = rem % ow;
                    int row = (p - p0) * k;
                    for (int ky = 0; ky < kh; ky++) {
                        int iy = oy * stride - padding + ky;
                        for (int kx = 0; kx < kw; kx++) {
                            int ix = ox * stride - padding + kx;
                            int dst = row + (ky * kw + kx) * cin;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) java.util.Arrays.fill(patches, dst, dst + cin, 0f);
                            else System.arraycopy(xs, ((b * h + iy) * wd + ix) * cin, patches, dst, cin);
                        }
                    }
                }
                Gemm.ntBlocked(p1 - p0, cout, k, patches, 0, k, wf, 0, k, out, p0 * cout, cout, false);
                if (bf != null) for (int p = p0; p < p1; p++) for (int j = 0; j < cout; j++) out[p * cout + j] += bf[j];
            }
        });
        return new Tensor(out, n, oh, ow, cout);
    }

    /** [out, in, kh, kw] → rows of (kh, kw, in), so that a patch row is contiguous channel runs. */
    private static float[] reorder(WeightTensor w, int cout, int cin, int kh, int kw) {
        float[] src = w.toFloatArray();
        float[] dst = new float[src.length];
        int k = cin * kh * kw;
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++)
                        dst[o * k + (ky * kw + kx) * cin + c] = src[((o * cin + c) * kh + ky) * kw + kx];
        return dst;
    }

    /** A convolution weight [out, in, kh, kw] seen as rows [out, in·kh·kw] (same bytes): a 1×1 one is a linear weight. */
    private static WeightTensor flatView(WeightTensor w) {
        return new WeightTensor(w.name(), w.dtype(), new int[]{w.dim(0), w.dim(1) * w.dim(2) * w.dim(3)}, w.segment());
    }
}
