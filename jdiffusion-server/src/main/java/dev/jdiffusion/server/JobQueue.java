package dev.jdiffusion.server;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * One job computes at a time (it has both cores); the others wait in order of arrival. At most {@code capacity}
 * jobs wait behind the running one: one more is refused at once (503), never queued. A job whose client went away
 * is dropped from the queue, or, when running, told to stop at its next step.
 */
final class JobQueue implements AutoCloseable {
    /** What a job computes; runs on the worker thread. */
    interface Work {
        Object run(Job job) throws Exception;
    }

    static final class Job {
        final String taskId;
        final Work work;
        final CompletableFuture<Object> result = new CompletableFuture<>();
        /** The client is gone: stop at the next step and throw the work away. */
        volatile boolean cancelled;

        Job(String taskId, Work work) {
            this.taskId = taskId;
            this.work = work;
        }
    }

    private static final int FINISHED_KEPT = 256;

    private final int capacity;
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private final Deque<String> finished = new ArrayDeque<>();
    private Job running;
    private boolean closed;
    private final Thread worker;

    JobQueue(int capacity) {
        this.capacity = capacity;
        worker = Thread.ofPlatform().name("jdiffusion-worker").daemon(true).start(this::loop);
    }

    /**
     * Queues a job.
     *
     * @throws ApiException 503 when {@code capacity} jobs already wait
     */
    synchronized Job submit(String taskId, Work work) {
        if (closed) throw new ApiException(503, null, "the server is stopping");
        if (waiting.size() + (running != null ? 1 : 0) > capacity)
            throw new ApiException(503, null, "the queue is full: " + waiting.size() + " job(s) waiting behind the running one"
                    + " (--queue-size " + capacity + "); try again later");
        Job job = new Job(taskId, work);
        waiting.addLast(job);
        notifyAll();
        return job;
    }

    /** The client of {@code job} went away: frees its place, or stops it at its next step when it runs. */
    void cancel(Job job) {
        boolean removed;
        synchronized (this) {
            removed = waiting.remove(job);
            if (!removed && running == job) job.cancelled = true;
            if (removed) notifyAll();
        }
        if (removed) job.result.cancel(false);
    }

    synchronized int waitingCount() { return waiting.size(); }

    synchronized boolean isActive(String taskId) { return running != null && running.taskId.equals(taskId); }

    /** 1-based place of a waiting task, 0 when it does not wait. */
    synchronized int position(String taskId) {
        int i = 1;
        for (Job j : waiting) {
            if (j.taskId.equals(taskId)) return i;
            i++;
        }
        return 0;
    }

    synchronized boolean isFinished(String taskId) { return finished.contains(taskId); }

    synchronized List<String> waitingTasks() {
        List<String> ids = new ArrayList<>();
        for (Job j : waiting) ids.add(j.taskId);
        return ids;
    }

    private void loop() {
        while (true) {
            Job job;
            synchronized (this) {
                while (waiting.isEmpty() && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                if (closed) return;
                job = waiting.pollFirst();
                running = job;
            }
            try {
                job.result.complete(job.work.run(job));
            } catch (Throwable t) {
                job.result.completeExceptionally(t);
            } finally {
                synchronized (this) {
                    running = null;
                    finished.addLast(job.taskId);
                    while (finished.size() > FINISHED_KEPT) finished.pollFirst();
                }
            }
        }
    }

    @Override
    public void close() {
        List<Job> dropped;
        synchronized (this) {
            closed = true;
            dropped = new ArrayList<>(waiting);
            waiting.clear();
            if (running != null) running.cancelled = true;
            notifyAll();
        }
        for (Job j : dropped) j.result.cancel(false);
    }
}
