package dev.jdiffusion.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/** Splits index ranges over the cores (the common fork-join pool, one worker per core). */
public final class Parallel {
    private Parallel() {}

    public interface RangeBody { void run(int from, int to); }

    /** Runs {@code body} over [0, n) in chunks of at least {@code grain} indices, on all cores. */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int threads = ForkJoinPool.getCommonPoolParallelism() + 1;
        if (n <= grain || threads <= 1) {
            body.run(0, n);
            return;
        }
        // About 4 chunks per thread balances uneven work without much scheduling overhead.
        int chunk = Math.max(grain, (n + threads * 4 - 1) / (threads * 4));
        ForkJoinPool.commonPool().invoke(new Chunk(body, 0, n, chunk));
    }

    private static final class Chunk extends RecursiveAction {
        private final RangeBody body;
        private final int from, to, chunk;

        Chunk(RangeBody body, int from, int to, int chunk) {
            this.body = body;
            this.from = from;
            this.to = to;
            this.chunk = chunk;
        }

        @Override
        protected void compute() {
            if (to - from <= chunk) {
                body.run(from, to);
                return;
            }
            int mid = from + ((to - from) / chunk / 2) * chunk;
            if (mid == from) mid = from + chunk;
            invokeAll(new Chunk(body, from, mid, chunk), new Chunk(body, mid, to, chunk));
        }
    }
}
