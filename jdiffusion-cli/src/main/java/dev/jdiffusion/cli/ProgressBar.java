package dev.jdiffusion.cli;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A one-line progress bar redrawn in place on stderr: step, iterations per second and time left.
 * Silent when disabled (not a terminal, or --quiet).
 */
final class ProgressBar {
    private static final int WIDTH = 30;
    private final PrintWriter err;
    private final boolean enabled;
    private final String label;
    private final long start = System.nanoTime();

    ProgressBar(PrintWriter err, boolean enabled, String label) {
        this.err = err;
        this.enabled = enabled;
        this.label = label;
    }

    /** True when stderr is a terminal: the launcher tells us, since Java cannot see it for stderr. */
    static boolean stderrIsTerminal() { return Boolean.getBoolean("jdiffusion.stderr.tty"); }

    void update(int done, int total) { update(done, total, null); }

    /** With {@code extra} (e.g. the loss) after the rate. */
    void update(int done, int total, String extra) {
        if (!enabled) return;
        double elapsed = (System.nanoTime() - start) / 1e9;
        double rate = done > 0 ? done / elapsed : 0;
        double left = rate > 0 ? (total - done) / rate : 0;
        int filled = total == 0 ? WIDTH : (int) ((long) WIDTH * done / total);
        String bar = "█".repeat(filled) + "░".repeat(WIDTH - filled);
        String speed = rate >= 1 || rate == 0 ? String.format(Locale.ROOT, "%.2f it/s", rate)
                : String.format(Locale.ROOT, "%.2f s/it", 1 / rate);
        err.printf(Locale.ROOT, "\r%s %3d%% |%s| %d/%d [%s<%s, %s%s]", label, total == 0 ? 100 : 100 * done / total,
                bar, done, total, clock(elapsed), clock(left), speed, extra == null ? "" : ", " + extra);
        if (done >= total) err.println();
        err.flush();
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%02d:%02d", s / 60, s % 60);
    }
}
