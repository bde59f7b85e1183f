package dev.jdiffusion.tensor;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reuse of large activation arrays. A denoising loop runs the same layers on the same shapes every
 * step, so the arrays one step lets go of are exactly those the next step asks for: kernels take their
 * output arrays here, and models hand back the intermediates they are done with ({@link #recycle}).
 * Without this every step would leave gigabytes of garbage behind, and the garbage collector would grow
 * the heap to hold it (peak memory, not speed, is what that costs).
 *
 * <p>Arrays are pooled by exact length, only from {@link #MIN_POOLED} floats up, and only up to a cap
 * (a quarter of the maximum heap); what does not fit is left to the garbage collector. Arrays handed
 * out here hold arbitrary values: only kernels that overwrite every element take them.
 */
public final class Buffers {
    /** Smaller arrays are cheap for the garbage collector: allocate them plainly. */
    static final int MIN_POOLED = 1 << 16;
    private static final long CAP_BYTES = Long.getLong("jdiffusion.buffers.capBytes", Runtime.getRuntime().maxMemory() / 4);
    private static final Map<Integer, ConcurrentLinkedDeque<float[]>> FREE = new ConcurrentHashMap<>();
    private static final AtomicLong POOLED_BYTES = new AtomicLong();

    private Buffers() {}

    /** An array of exactly {@code size} floats with arbitrary contents: the caller overwrites all of them. */
    static float[] take(int size) {
        if (size >= MIN_POOLED) {
            ConcurrentLinkedDeque<float[]> free = FREE.get(size);
            float[] a = free == null ? null : free.pollFirst();
            if (a != null) {
                POOLED_BYTES.addAndGet(-4L * size);
                return a;
            }
        }
        return new float[size];
    }

    /** A copy of {@code src} in an array from the pool. */
    static float[] copyOf(float[] src) {
        float[] a = take(src.length);
        System.arraycopy(src, 0, a, 0, src.length);
        return a;
    }

    /**
     * Hands the tensors' arrays back for reuse. The caller promises that nothing reads or writes them
     * afterwards — no other tensor (a {@link Tensor#reshape} view) shares them. Null entries are skipped.
     */
    public static void recycle(Tensor... tensors) {
        if (Autograd.recording()) return;  // the tape still holds them for the backward pass
        for (Tensor t : tensors) if (t != null) recycle(t.data());
    }

    static void recycle(float[] a) {
        int size = a.length;
        if (size < MIN_POOLED) return;
        if (POOLED_BYTES.addAndGet(4L * size) > CAP_BYTES) {
            POOLED_BYTES.addAndGet(-4L * size);
            return;
        }
        ConcurrentLinkedDeque<float[]> free = FREE.computeIfAbsent(size, s -> new ConcurrentLinkedDeque<>());
        for (float[] f : free)
            if (f == a) throw new IllegalStateException("an array of " + size + " floats was recycled twice");
        free.addFirst(a);
    }

    /** Bytes held for reuse right now (for tests and diagnostics). */
    public static long pooledBytes() { return POOLED_BYTES.get(); }

    /** Drops every pooled array (e.g. after a generation at an unusual size). */
    public static void clear() {
        FREE.values().forEach(d -> {
            for (float[] a; (a = d.pollFirst()) != null; ) POOLED_BYTES.addAndGet(-4L * a.length);
        });
    }
}
