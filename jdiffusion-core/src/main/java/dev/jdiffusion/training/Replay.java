package dev.jdiffusion.training;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * Each step's inputs from a file, instead of the data loader and the random generator (for verifying a
 * training run against another implementation): {@code pixel_values.K} float32 [B,3,H,W] in [-1, 1],
 * {@code posterior_noise.K} [B,C,h,w]; for the UNet also {@code input_ids.K} int64 [B,77], {@code noise.K}
 * [B,C,h,w] and {@code timesteps.K} int64 [B]. As many steps as the file holds, K = 0, 1, ….
 */
public final class Replay {
    /** One step's inputs (NCHW). */
    public record Step(int n, int height, int width, float[] pixels, float[] posteriorNoise, int[][] inputIds,
                       float[] noise, int[] timesteps) {}

    private final SafeTensors file;
    private final boolean unet;
    private final int steps;

    private Replay(SafeTensors file, boolean unet, int steps) {
        this.file = file;
        this.unet = unet;
        this.steps = steps;
    }

    public static Replay open(Path path, boolean unet) {
        SafeTensors f = SafeTensors.open(path);
        int steps = 0;
        while (f.contains("pixel_values." + steps)) steps++;
        if (steps == 0) throw new IllegalArgumentException(path + ": no pixel_values.0 — not a replay file");
        Replay r = new Replay(f, unet, steps);
        for (int k = 0; k < steps; k++) r.step(k);  // every shape checked before training starts
        return r;
    }

    public int steps() { return steps; }

    public int batch(int k) { return file.tensor("pixel_values." + k).dim(0); }

    public Step step(int k) {
        WeightTensor px = require("pixel_values." + k, 4);
        int n = px.dim(0), h = px.dim(2), w = px.dim(3);
        if (px.dim(1) != 3) throw bad("pixel_values." + k, px, "[B, 3, H, W]");
        WeightTensor pn = require("posterior_noise." + k, 4);
        if (pn.dim(0) != n) throw bad("posterior_noise." + k, pn, "batch " + n);
        if (!unet) return new Step(n, h, w, px.toFloatArray(), pn.toFloatArray(), null, null, null);
        WeightTensor ids = require("input_ids." + k, 2), noise = require("noise." + k, 4), ts = require("timesteps." + k, 1);
        if (ids.dim(0) != n) throw bad("input_ids." + k, ids, "[" + n + ", L]");
        if (!Arrays.equals(noise.shape(), pn.shape())) throw bad("noise." + k, noise, Arrays.toString(pn.shape()) + " (posterior_noise's)");
        if (ts.dim(0) != n) throw bad("timesteps." + k, ts, "[" + n + "]");
        int l = ids.dim(1);
        int[][] idArr = new int[n][l];
        for (int b = 0; b < n; b++) for (int j = 0; j < l; j++) idArr[b][j] = Math.toIntExact(ids.getLong((long) b * l + j));
        long[] tl = ts.toLongArray();
        int[] t = new int[n];
        for (int b = 0; b < n; b++) t[b] = Math.toIntExact(tl[b]);
        return new Step(n, h, w, px.toFloatArray(), pn.toFloatArray(), idArr, noise.toFloatArray(), t);
    }

    private WeightTensor require(String name, int rank) {
        if (!file.contains(name)) throw new IllegalArgumentException(file.file() + ": tensor " + name + " is missing");
        WeightTensor t = file.tensor(name);
        if (t.rank() != rank) throw bad(name, t, rank + " dimensions");
        return t;
    }

    private IllegalArgumentException bad(String name, WeightTensor t, String expected) {
        return new IllegalArgumentException(file.file() + ": tensor " + name + " has shape " + Arrays.toString(t.shape())
                + ", expected " + expected);
    }
}
