package dev.jdiffusion.server;

import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.StepPreview;

/**
 * What the running job is doing, as A1111's {@code shared.state}: job count and number, sampling step, the
 * interrupt and skip flags, and the latest step preview. Written by the worker, read by /progress; every method is
 * synchronized, and readers get copies.
 */
final class Progress {
    record Snapshot(String taskId, String job, int jobCount, int jobNo, int samplingStep, int samplingSteps,
                    boolean interrupted, boolean skipped, long timeStartNanos, String jobTimestamp, long previewId) {}

    private String taskId;
    private String job = "";
    private int jobCount, jobNo, samplingStep, samplingSteps;
    private boolean interrupted, skipped;
    private long timeStart;
    private String jobTimestamp = "0";
    /** The latest preview: latents (cheap approximation made on request) or an image (full decode). */
    private StepPreview previewLatents;
    private RgbImage previewImage;
    private long previewId;

    synchronized void begin(String taskId, String job, int jobCount, String jobTimestamp) {
        this.taskId = taskId;
        this.job = job;
        this.jobCount = jobCount;
        this.jobNo = 0;
        this.samplingStep = 0;
        this.samplingSteps = 0;
        this.interrupted = false;
        this.skipped = false;
        this.timeStart = System.nanoTime();
        this.jobTimestamp = jobTimestamp;
        this.previewLatents = null;
        this.previewImage = null;
    }

    synchronized void end() {
        taskId = null;
        job = "";
        jobCount = 0;
        jobNo = 0;
        samplingStep = 0;
        samplingSteps = 0;
        previewLatents = null;
        previewImage = null;
    }

    synchronized void step(int step, int total) {
        samplingStep = step;
        samplingSteps = total;
    }

    synchronized void nextImage(int jobNo) {
        this.jobNo = jobNo;
        this.samplingStep = 0;
        this.skipped = false;
    }

    synchronized void preview(StepPreview latents, RgbImage image) {
        previewLatents = latents;
        previewImage = image;
        previewId++;
    }

    /** The latest preview as an image (the cheap approximation is made here, on the caller's thread), or null. */
    RgbImage previewImage() {
        StepPreview latents;
        synchronized (this) {
            if (previewImage != null) return previewImage;
            latents = previewLatents;
        }
        return latents == null ? null : LatentPreview.approximate(latents);
    }

    /** A1111's interrupt: the running job stops at the next step and returns what it has. */
    synchronized boolean interrupt() {
        if (taskId == null) return false;
        interrupted = true;
        return true;
    }

    /** A1111's skip: the running image stops at the next step (kept as it is); the job goes on with the next one. */
    synchronized void skip() {
        if (taskId != null) skipped = true;
    }

    synchronized boolean interrupted() { return interrupted; }

    synchronized boolean skipped() { return skipped; }

    synchronized Snapshot snapshot() {
        return new Snapshot(taskId, job, jobCount, jobNo, samplingStep, samplingSteps, interrupted, skipped, timeStart,
                jobTimestamp, previewId);
    }
}
