package dev.jdiffusion.tensor;

/** Shape and element-wise operations that models glue their layers with. */
public final class TensorOps {
    private TensorOps() {}

    /** a + b, element-wise (same shapes). */
    public static Tensor add(Tensor a, Tensor b) {
        if (a.size() != b.size()) throw new IllegalArgumentException("add: " + a + " vs " + b);
        float[] x = a.data(), y = b.data(), z = Buffers.take(x.length);
        for (int i = 0; i < z.length; i++) z[i] = x[i] + y[i];
        Tensor out = new Tensor(z, a.shape());
        Tensor[] inputs = {a, b};
        Autograd.Recorder r = Autograd.needed(inputs);
        if (r != null) r.record("add", out, inputs, g -> {
            float[] go = g.output();
            if (g.wants(0)) g.input(0, g.wants(1) ? go.clone() : go);
            if (g.wants(1)) g.input(1, go);
        });
        return out;
    }

    /** x * s, element-wise. */
    public static Tensor scale(Tensor x, float s) {
        float[] a = x.data(), z = Buffers.take(a.length);
        for (int i = 0; i < z.length; i++) z[i] = a[i] * s;
        Tensor out = new Tensor(z, x.shape());
        Autograd.Recorder r = Autograd.needed(new Tensor[]{x});
        if (r != null) r.record("scale", out, new Tensor[]{x}, g -> {
            float[] go = g.output();
            for (int i = 0; i < go.length; i++) go[i] *= s;
            g.input(0, go);
        });
        return out;
    }

    /** Adds a per-batch vector to every position: x (N, ..., C) + v (N, C). */
    public static Tensor addPerChannel(Tensor x, Tensor v) {
        int n = x.dim(0), c = x.dim(-1), per = x.size() / n;
        if (v.size() != n * c) throw new IllegalArgumentException("addPerChannel: " + x + " vs " + v);
        float[] xs = x.data(), vs = v.data(), z = Buffers.take(xs.length);
        for (int b = 0; b < n; b++)
            for (int i = 0; i < per; i++) z[b * per + i] = xs[b * per + i] + vs[b * c + i % c];
        Tensor out = new Tensor(z, x.shape());
        Tensor[] inputs = {x, v};
        Autograd.Recorder r = Autograd.needed(inputs);
        if (r != null) r.record("addPerChannel", out, inputs, g -> {
            float[] go = g.output();
            if (g.wants(1)) {
                float[] gv = new float[n * c];
                for (int b = 0; b < n; b++) {
                    float[] sums = new float[c];
                    addColumnSums(go, b * per, per / c, c, sums);
                    System.arraycopy(sums, 0, gv, b * c, c);
                }
                g.input(1, gv);
            }
            if (g.wants(0)) g.input(0, go);
        });
        return out;
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
        Tensor out = new Tensor(z, shape);
        Tensor[] inputs = {a, b};
        Autograd.Recorder rec = Autograd.needed(inputs);
        if (rec != null) rec.record("concatLast", out, inputs, g -> {
            float[] go = g.output();
            if (g.wants(0)) {
                float[] ga = new float[rows * ca];
                for (int r = 0; r < rows; r++) System.arraycopy(go, r * (ca + cb), ga, r * ca, ca);
                g.input(0, ga);
            }
            if (g.wants(1)) {
                float[] gb = new float[rows * cb];
                for (int r = 0; r < rows; r++) System.arraycopy(go, r * (ca + cb) + ca, gb, r * cb, cb);
                g.input(1, gb);
            }
        });
        return out;
    }

    /** Concatenates along the first (batch) dimension. */
    public static Tensor concatBatch(Tensor a, Tensor b) {
        float[] z = Buffers.take(a.size() + b.size());
        System.arraycopy(a.data(), 0, z, 0, a.size());
        System.arraycopy(b.data(), 0, z, a.size(), b.size());
        int[] shape = a.shape();
        shape[0] = a.dim(0) + b.dim(0);
        Tensor out = new Tensor(z, shape);
        Tensor[] inputs = {a, b};
        Autograd.Recorder r = Autograd.needed(inputs);
        if (r != null) r.record("concatBatch", out, inputs, g -> {
            float[] go = g.output();
            if (g.wants(0)) g.input(0, java.util.Arrays.copyOfRange(go, 0, a.size()));
            if (g.wants(1)) g.input(1, java.util.Arrays.copyOfRange(go, a.size(), go.length));
        });
        return out;
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
        Tensor out = new Tensor(z, n, 2 * h, 2 * w, c);
        recordResize(out, x, 2 * h, 2 * w);
        return out;
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
        Tensor out = new Tensor(z, n, outH, outW, c);
        recordResize(out, x, outH, outW);
        return out;
    }

    /** Records a nearest resize (torch's index rule): its backward adds each output pixel's gradient to its source pixel. */
    private static void recordResize(Tensor out, Tensor x, int outH, int outW) {
        Autograd.Recorder r = Autograd.needed(new Tensor[]{x});
        if (r == null) return;
        r.record("upsampleNearest", out, new Tensor[]{x}, g -> {
            int n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
            float[] go = g.output(), gx = new float[x.size()];
            float sy = (float) h / outH, sx = (float) w / outW;
            for (int b = 0; b < n; b++)
                for (int oy = 0; oy < outH; oy++) {
                    int iy = Math.min(h - 1, (int) Math.floor(oy * sy));
                    for (int ox = 0; ox < outW; ox++) {
                        int ix = Math.min(w - 1, (int) Math.floor(ox * sx));
                        int src = ((b * outH + oy) * outW + ox) * c, dst = ((b * h + iy) * w + ix) * c;
                        for (int ch = 0; ch < c; ch++) gx[dst + ch] += go[src + ch];
                    }
                }
            g.input(0, gx);
        });
    }

    /** Zero-pads (N, H, W, C) by {@code pad} rows at the bottom and columns at the right. */
    public static Tensor padRightBottom(Tensor x, int pad) {
        int n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
        int oh = h + pad, ow = w + pad;
        float[] z = new float[n * oh * ow * c];
        for (int b = 0; b < n; b++)
            for (int y = 0; y < h; y++)
                System.arraycopy(x.data(), (b * h + y) * w * c, z, (b * oh + y) * ow * c, w * c);
        Tensor out = new Tensor(z, n, oh, ow, c);
        Autograd.Recorder r = Autograd.needed(new Tensor[]{x});
        if (r != null) r.record("pad", out, new Tensor[]{x}, g -> {
            float[] go = g.output(), gx = new float[x.size()];
            for (int b = 0; b < n; b++)
                for (int y = 0; y < h; y++)
                    System.arraycopy(go, (b * oh + y) * ow * c, gx, (b * h + y) * w * c, w * c);
            g.input(0, gx);
        });
        return out;
    }

    /** acc[j] += Σ_{r < rows} a[r·cols + j]: a bias gradient (row sums in float32, fixed order). */
    static void addColumnSums(float[] a, int rows, int cols, float[] acc) { addColumnSums(a, 0, rows, cols, acc); }

    static void addColumnSums(float[] a, int off, int rows, int cols, float[] acc) {
        double[] s = new double[cols];
        for (int r = 0; r < rows; r++) {
            int o = off + r * cols;
            for (int j = 0; j < cols; j++) s[j] += a[o + j];
        }
        for (int j = 0; j < cols; j++) acc[j] += (float) s[j];
    }

    /**
     * Token embeddings plus position embeddings, as CLIP's text embeddings: out[b, t] = token[ids[b][t]] +
     * position[t]. Its backward adds each position's gradient to the rows it read.
     */
    public static Tensor embed(int[][] ids, WeightTensor token, WeightTensor position) {
        return embed(ids, token, position, token.dim(0), new float[0]);
    }

    /**
     * {@link #embed(int[][], WeightTensor, WeightTensor)} where ids from {@code extraFirstId} on read rows of
     * {@code extraRows} (added tokens, e.g. textual-inversion vectors; they get no gradient).
     */
    public static Tensor embed(int[][] ids, WeightTensor token, WeightTensor position, int extraFirstId, float[] extraRows) {
        int n = ids.length, len = ids[0].length, d = token.dim(1), vocab = token.dim(0);
        if (len > position.dim(0))
            throw new IllegalArgumentException(len + " tokens exceed the " + position.dim(0) + " position embeddings");
        float[] x = new float[n * len * d], pos = new float[d];
        for (int b = 0; b < n; b++) {
            if (ids[b].length != len) throw new IllegalArgumentException("token sequences of different lengths: " + len + " and " + ids[b].length);
            for (int t = 0; t < len; t++) {
                int id = ids[b][t];
                int off = (b * len + t) * d;
                long extra = (long) id - extraFirstId;
                if (extra >= 0 && extra * d < extraRows.length) {
                    System.arraycopy(extraRows, (int) extra * d, x, off, d);
                } else {
                    if (id < 0 || id >= vocab)
                        throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + vocab);
                    token.copyTo((long) id * d, x, off, d);
                }
                position.copyTo((long) t * d, pos, 0, d);
                for (int j = 0; j < d; j++) x[off + j] += pos[j];
            }
        }
        Tensor out = new Tensor(x, n, len, d);
        Autograd.Recorder r = Autograd.needed(new Tensor[0], token, position);
        if (r != null) r.record("embed", out, new Tensor[0], g -> {
            float[] go = g.output(), gt = g.weight(token), gp = g.weight(position);
            for (int b = 0; b < n; b++)
                for (int t = 0; t < len; t++) {
                    int off = (b * len + t) * d;
                    if (gt != null && ids[b][t] < vocab) for (int j = 0; j < d; j++) gt[ids[b][t] * d + j] += go[off + j];
                    if (gp != null) for (int j = 0; j < d; j++) gp[t * d + j] += go[off + j];
                }
        });
        return out;
    }
}
