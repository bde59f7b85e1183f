package dev.jdiffusion.tensor;

import java.util.concurrent.atomic.LongAdder;

/**
 * Counts the multiply-add work the kernels do (2 FLOPs per multiply-add of the plain matrix multiply,
 * convolution and attention counts), so that a benchmark can report GFLOP/s. A process-wide tally:
 * diagnostic only, never read by the computation itself.
 */
public final class FlopCounter {
    private static final LongAdder FLOPS = new LongAdder();

    private FlopCounter() {}

    static void add(long flops) { FLOPS.add(flops); }

    /** FLOPs counted since the process started; take differences around the work to measure. */
    public static long total() { return FLOPS.sum(); }
}
