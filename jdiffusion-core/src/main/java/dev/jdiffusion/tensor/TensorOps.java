package dev.jdiffusion.tensor;

/** Shape and element-wise operations that models glue their layers with. */
public final class TensorOps {
    private TensorOps() {}

    /** a + b, element-wise (same shapes). */
    public static Tensor add(Tensor a, Tensor b) {
        if (a.size() != b.size()) throw new IllegalArgumentException("add: " + a + " vs " + b);
        float[] x = a.data(), y = b.data(), z = Buffers.take(x.length);
        for (int i = 0; i < z.length; i++) z[i] = x[i] + y[i];
        return new Tensor(z, a.shape());
    }

    /** x * s, element-wise. */
    public static Tensor scale(Tensor x, float s) {
        float[] a = x.data(), z = Buffers.take(a.length);
        for (int i = 0; i < z.length; i++) z[i] = a[i] * s;
        return new Tensor(z, x.shape());
    }

    /** Adds a per-batch vector to every position: x (N, ..., C) + v (N, C). */
    public static Tensor addPerChannel(Tensor x, Tensor v) {
        int n = x.dim(0), c = x.dim(-1), per = x.size() / n;
        if (v.size() != n * c) throw new IllegalArgumentException("addPerChannel: " + x + " vs " + v);
        float[] xs = x.data(), vs = v.data(), z = Buffers.take(xs.length);
        for (int b = 0; b < n; b++)
            for (int i = 0; i < per; i++) z[b * per + i] = xs[b * per + i] + vs[b * c + i % c];
        return new Tensor(z, x.shape());
    }

    /** Concatenates along the last (channel) dimension: (…, Ca) ⧺ (…, Cb) → (…, Ca+Cb). */
    public static Tensor concatLast(Tensor a, Tensor b) {
        int ca = a.dim(-1), cb = b.dim(-1), rows = a.size() / ca;
        if (b.size() / cb != rows) throw new IllegalArgumentException("concat: " + a + " vs " + b);
        float[] z = Buffers.take(rows * (ca + cb));
        for (int r = 0; r < rows; r++) {
            System.arraycopy(a.data(), r * ca, z, r * (ca + cb), ca);
            System.arraycopy(b.data(), r * cb, z, r * (ca + cb) + ca, cb);
        }
        int[] shape = a.shape();
        shape[shape.length - 1] = ca + cb;
        return new Tensor(z, shape);
    }

    /** Concatenates along the first (batch) dimension. */
    public static Tensor concatBatch(Tensor a, Tensor b) {
        float[] z = Buffers.take(a.size() + b.size());
        System.arraycopy(a.data(), 0, z, 0, a.size());
        System.arraycopy(b.data(), 0, z, a.size(), b.size());
        int[] shape = a.shape();
        shape[0] = a.dim(0) + b.dim(0);
        return new Tensor(z, shape);
    }

    /** Nearest-neighbour 2× upsampling of (N, H, W, C). */
    public static Tensor upsampleNearest2x(Tensor x) {
        int n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
        float[] xs = x.data(), z = Buffers.take(n * 4 * h * w * c);
        Parallel.forRange(n * h * 2, 8, (from, to) -> {
            for (int row = from; row < to; row++) {
                int b = row / (2 * h), oy = row % (2 * h), iy = oy / 2;
                for (int ox = 0; ox < 2 * w; ox++)
                    System.arraycopy(xs, ((b * h + iy) * w + ox / 2) * c, z, ((b * 2 * h + oy) * 2 * w + ox) * c, c);
            }
        });
        return new Tensor(z, n, 2 * h, 2 * w, c);
    }

    /** (N, C, H, W) → (N, H, W, C): from PyTorch's layout to ours. */
    public static Tensor nchwToNhwc(float[] data, int n, int c, int h, int w) {
        float[] z = new float[data.length];
        for (int b = 0; b < n; b++)
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < h * w; p++) z[(b * h * w + p) * c + ch] = data[(b * c + ch) * h * w + p];
        return new Tensor(z, n, h, w, c);
    }

    /** (N, H, W, C) → (N, C, H, W) flat data. */
    public static float[] nhwcToNchw(Tensor x) {
        int n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
        float[] xs = x.data(), z = new float[xs.length];
        for (int b = 0; b < n; b++)
            for (int p = 0; p < h * w; p++)
                for (int ch = 0; ch < c; ch++) z[(b * c + ch) * h * w + p] = xs[(b * h * w + p) * c + ch];
        return z;
    }

    /**
     * Sinusoidal timestep embedding as diffusers' get_timestep_embedding: half the channels are
     * sin, half cos, at frequencies exp(-ln(10000)·i / (half - shift)); {@code flipSinToCos} puts cos first.
     */
    public static Tensor timestepEmbedding(float[] timesteps, int dim, boolean flipSinToCos, float downscaleFreqShift) {
        int half = dim / 2, n = timesteps.length;
        float[] z = new float[n * dim];
        for (int b = 0; b < n; b++) {
            for (int i = 0; i < half; i++) {
                // float32 like torch: exponent = -ln(10000) * i / (half - shift), then exp, then t * freq.
                float exponent = (float) (-Math.log(10000.0)) * i / (half - downscaleFreqShift);
                float freq = (float) Math.exp(exponent);
                float arg = timesteps[b] * freq;
                float s = (float) Math.sin(arg), c = (float) Math.cos(arg);
                z[b * dim + i] = flipSinToCos ? c : s;
                z[b * dim + half + i] = flipSinToCos ? s : c;
            }
        }
        return new Tensor(z, n, dim);
    }

    /** Nearest-neighbour resize of (N, H, W, C) to (outH, outW), as torch's 'nearest' (src = floor(dst·in/out)). */
    public static Tensor upsampleNearest(Tensor x, int outH, int outW) {
        int n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
        float[] xs = x.data(), z = Buffers.take(n * outH * outW * c);
        float sy = (float) h / outH, sx = (float) w / outW;
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < outH; oy++) {
                int iy = Math.min(h - 1, (int) Math.floor(oy * sy));
                for (int ox = 0; ox < outW; ox++) {
                    int ix = Math.min(w - 1, (int) Math.floor(ox * sx));
                    System.arraycopy(xs, ((b * h + iy) * w + ix) * c, z, ((b * outH + oy) * outW + ox) * c, c);
                }
            }
        return new Tensor(z, n, outH, outW, c);
    }

    /** Zero-pads (N, H, W, C) by {@code pad} rows at the bottom and columns at the right. */
    public static Tensor padRightBottom(Tensor x, int pad) {
        int n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
        int oh = h + pad, ow = w + pad;
        float[] z = new float[n * oh * ow * c];
        for (int b = 0; b < n; b++)
            for (int y = 0; y < h; y++)
                System.arraycopy(x.data(), (b * h + y) * w * c, z, (b * oh + y) * ow * c, w * c);
        return new Tensor(z, n, oh, ow, c);
    }
}
