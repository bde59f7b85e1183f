package dev.jdiffusion.cli;

import dev.jdiffusion.io.hub.HubDownloader;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * One line per file on a terminal, redrawn in place at most ten times a second:
 * {@code unet/diffusion_pytorch_model.safetensors  [###########-------------]  45%  1.5 GB/3.4 GB  42.0 MB/s}.
 */
final class DownloadProgressBar implements HubDownloader.Listener {
    private static final int WIDTH = 24;
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintWriter err;
    private long startNanos;
    private long startBytes;
    private long lastDraw;

    DownloadProgressBar(PrintWriter err) { this.err = err; }

    @Override public void fileStarted(String path, long size, long resumedFrom) {
        startNanos = System.nanoTime();
        startBytes = resumedFrom;
        lastDraw = startNanos;
        draw(path, resumedFrom, size, false);
    }

    @Override public void progress(String path, long bytesDone, long size) {
        long now = System.nanoTime();
        if (now - lastDraw < REDRAW_NANOS) return;
        lastDraw = now;
        draw(path, bytesDone, size, false);
    }

    @Override public void fileFinished(String path, long size, boolean cached) {
        if (cached) {
            err.println(path + "  (cached)");
        } else {
            draw(path, size, size, true);
        }
        err.flush();
    }

    private void draw(String path, long done, long size, boolean last) {
        double fraction = size > 0 ? Math.min(1.0, (double) done / size) : 1.0;
        int filled = (int) Math.round(fraction * WIDTH);
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        double rate = seconds > 0 ? (done - startBytes) / seconds : 0;
        String line = String.format(Locale.ROOT, "%s  [%s%s] %3d%%  %s/%s  %s/s", shorten(path),
                "#".repeat(filled), "-".repeat(WIDTH - filled), Math.round(fraction * 100),
                bytes(done, size), bytes(size, size), bytes((long) rate, (long) rate));
        err.print("\r" + line + "\u001b[K" + (last ? "\n" : ""));   // ESC[K: clear what a longer line left
        err.flush();
    }

    private static String shorten(String path) {
        return path.length() <= 48 ? path : "…" + path.substring(path.length() - 47);
    }

    /** Bytes in the unit that suits {@code scale} (so "1.5/3.4 GB" share one unit). */
    private static String bytes(long n, long scale) {
        String[] units = {"B", "kB", "MB", "GB", "TB"};
        int u = 0;
        double s = Math.max(scale, 1);
        while (s >= 1000 && u < units.length - 1) { s /= 1000; u++; }
        double v = n / Math.pow(1000, u);
        return u == 0 ? n + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
