package dev.jdiffusion.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Time spent per kernel call signature (operation and shapes), for finding where a model's time goes:
 * on with {@code -Djdiffusion.profile=true} (what {@code bench --profile} sets), off otherwise at the cost
 * of one constant test per call. Process-wide and diagnostic only, like {@link FlopCounter}.
 */
public final class OpProfile {
    static final boolean ON = Boolean.getBoolean("jdiffusion.profile");
    private static final ConcurrentHashMap<String, long[]> TOTALS = new ConcurrentHashMap<>();

    private OpProfile() {}

    /** Adds one call: its wall time and its FLOPs (plain count). */
    public static void add(String signature, long nanos, long flops) {
        long[] t = TOTALS.computeIfAbsent(signature, k -> new long[3]);
        synchronized (t) {
            t[0] += nanos;
            t[1]++;
            t[2] += flops;
        }
    }

    public static boolean enabled() { return ON; }

    public static void reset() { TOTALS.clear(); }

    /** The heaviest signatures since the last reset, one line each: time, share, calls, GFLOP/s, signature. */
    public static List<String> report(int limit) {
        long total = TOTALS.values().stream().mapToLong(t -> t[0]).sum();
        List<String> lines = new ArrayList<>();
        TOTALS.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0])).limit(limit).forEach(e -> {
            long[] t = e.getValue();
            lines.add(String.format(Locale.ROOT, "%9.1f ms %5.1f%% %5d calls %7.1f GFLOP/s  %s", t[0] / 1e6,
                    100.0 * t[0] / Math.max(1, total), t[1], t[2] / (double) Math.max(1, t[0]), e.getKey()));
        });
        return lines;
    }
}
