package dev.jdiffusion.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/** Splits index ranges over the cores (the common fork-join pool, one worker per core). */
public final class Parallel {
    private Parallel() {}

    public interface RangeBody { void run(int from, int to); }

    private static final int THREADS = Math.max(1, Integer.getInteger("jdiffusion.threads",
            ForkJoinPool.getCommonPoolParallelism() + 1));

    /**
     * Number of threads the kernels use: the common pool's workers plus the calling thread (or the
     * {@code jdiffusion.threads} system property, e.g. 1 to measure one core).
     */
    public static int threads() { return THREADS; }

    /**
     * Runs {@code body.accept(t)} for every t in [0, tasks), spread over all cores: one worker per core
     * takes the next task number from a shared counter, so uneven tasks (or a core busy elsewhere)
     * balance themselves, and the cost is one fork per core rather than one per task. Tasks should
     * be big (a millisecond or more); a single task, or a single core, runs on the calling thread.
     */
    public static void forTasks(int tasks, IntConsumer body) {
        if (tasks <= 0) return;
        int threads = Math.min(tasks, threads());
        if (threads <= 1) {
            for (int t = 0; t < tasks; t++) body.accept(t);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        Runnable worker = () -> {
            for (int t; (t = next.getAndIncrement()) < tasks; ) body.accept(t);
        };
        ForkJoinTask<?>[] helpers = new ForkJoinTask<?>[threads - 1];
        for (int i = 0; i < helpers.length; i++) helpers[i] = ForkJoinTask.adapt(worker).fork();
        Throwable failure = null;
        try {
            worker.run();
        } catch (Throwable e) {
            failure = e;
            next.set(tasks);
        }
        for (ForkJoinTask<?> h : helpers) {
            try {
                h.join();
            } catch (Throwable e) {
                if (failure == null) failure = e;
            }
        }
        if (failure instanceof RuntimeException re) throw re;
        if (failure instanceof Error er) throw er;
        if (failure != null) throw new RuntimeException(failure);
    }

    /** Runs {@code body} over [0, n) in chunks of at least {@code grain} indices, on all cores. */
    public static void forRange(int n, int grain, RangeBody body) {
        if (n <= 0) return;
        int threads = threads();
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
