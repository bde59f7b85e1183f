package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;

/**
 * How diffusers picks the inference timesteps among the training ones (config key {@code timestep_spacing}),
 * reproducing numpy's arithmetic so the values, and their rounding, are the same.
 */
enum TimestepSpacing {
    /** {@code np.linspace(0, T - 1, n)}: evenly spread, fractional until a scheduler rounds them. */
    LINSPACE,
    /** {@code arange(n) * (T // n) + steps_offset}: multiples of the step ratio from 0. */
    LEADING,
    /** {@code round(arange(T, 0, -T / n)) - 1}: multiples of the step ratio counted down from T - 1. */
    TRAILING;

    static TimestepSpacing fromConfig(JsonConfig config, String fallback) {
        return valueOf(config.getEnum("timestep_spacing", fallback, "linspace", "leading", "trailing")
                .toUpperCase(java.util.Locale.ROOT));
    }

    /**
     * The timesteps for {@code n} steps out of {@code numTrain}, descending, as float64 before diffusers casts
     * them (LINSPACE values are not rounded here).
     */
    double[] descending(int n, int numTrain, int stepsOffset) {
        return switch (this) {
            case LINSPACE -> reverse(linspace(0, numTrain - 1, n));
            case LEADING -> {
                int ratio = numTrain / n;
                double[] t = new double[n];
                for (int i = 0; i < n; i++) t[i] = (double) (n - 1 - i) * ratio + stepsOffset;
                yield t;
            }
            case TRAILING -> trailing(numTrain, (double) numTrain / n);
        };
    }

    /** {@code np.round(np.arange(start, 0, -ratio)) - 1}. */
    static double[] trailing(double start, double ratio) {
        double[] t = arange(start, 0, -ratio);
        for (int i = 0; i < t.length; i++) t[i] = Math.rint(t[i]) - 1;
        return t;
    }

    /** {@code np.linspace(start, stop, num)}: {@code i * step + start}, the last value exactly {@code stop}. */
    static double[] linspace(double start, double stop, int num) {
        if (num == 1) return new double[] {start};
        double[] y = new double[num];
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) y[i] = i * step + start;
        if (num > 1) y[num - 1] = stop;
        return y;
    }

    /**
     * {@code np.arange(start, stop, step)} for floats: ceil((stop - start) / step) values, each
     * {@code start + i * delta} with delta recomputed as {@code (start + step) - start}, as numpy's fill does.
     */
    static double[] arange(double start, double stop, double step) {
        int len = (int) Math.max(0, Math.ceil((stop - start) / step));
        double[] y = new double[len];
        if (len == 0) return y;
        y[0] = start;
        if (len > 1) y[1] = start + step;
        double delta = (start + step) - start;
        for (int i = 2; i < len; i++) y[i] = start + i * delta;
        return y;
    }

    static double[] reverse(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) r[i] = a[a.length - 1 - i];
        return r;
    }
}
