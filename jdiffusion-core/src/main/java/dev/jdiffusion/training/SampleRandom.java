package dev.jdiffusion.training;

/**
 * Randomness addressed by position rather than drawn from a running stream: every choice of a training run
 * (data order, crops, flips, captions, noise, timesteps) is a function of the seed and of counters (epoch,
 * sample, step), so a run resumed from a checkpoint draws exactly what an uninterrupted run draws, and the
 * checkpoint's "RNG state" is just the step it was taken at. SplitMix64 over the mixed key.
 */
public final class SampleRandom {
    private long state;

    public SampleRandom(long... key) {
        long h = 0x9E3779B97F4A7C15L;
        for (long k : key) h = mix(h ^ mix(k + 0x632BE59BD9B4E019L));
        state = h;
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public long nextLong() {
        state += 0x9E3779B97F4A7C15L;
        return mix(state);
    }

    /** Uniform in [0, bound). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound " + bound);
        return (int) Math.floorMod(nextLong(), (long) bound);
    }

    /** Uniform in [0, 1). */
    public double nextDouble() { return (nextLong() >>> 11) * 0x1.0p-53; }

    /** A permutation of 0 … n−1 (Fisher–Yates). */
    public int[] permutation(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = nextInt(i + 1), t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
