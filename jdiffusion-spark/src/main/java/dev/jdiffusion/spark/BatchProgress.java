package dev.jdiffusion.spark;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Hands finished rows to the {@link BatchListener} of their job when the job's driver is this JVM (local mode). On a
 * cluster's executors no listener is registered and this does nothing.
 */
final class BatchProgress {
    private static final Map<String, BatchListener> LISTENERS = new ConcurrentHashMap<>();

    private BatchProgress() {}

    static void register(String jobId, BatchListener listener) { LISTENERS.put(jobId, listener); }

    static void unregister(String jobId) { LISTENERS.remove(jobId); }

    static void rowFinished(String jobId, ManifestEntry entry) {
        BatchListener l = LISTENERS.get(jobId);
        if (l != null) l.rowFinished(entry);
    }
}
