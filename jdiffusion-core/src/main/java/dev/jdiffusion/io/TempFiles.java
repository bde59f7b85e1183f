package dev.jdiffusion.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The hidden temporary files of atomic writes (written beside their target, then renamed over it) that are not
 * finished yet. When the JVM stops first (Ctrl-C, SIGTERM), a shutdown hook deletes them, so an interrupted run
 * leaves neither a torn file nor a stray temporary one. Process-wide by nature, like the shutdown itself.
 */
public final class TempFiles {
    private static final Set<Path> UNFINISHED = ConcurrentHashMap.newKeySet();
    private static final AtomicBoolean HOOKED = new AtomicBoolean();

    private TempFiles() {}

    /** A new hidden name beside {@code file} ({@link SafeTensorsWriter#temporarySibling}), deleted at exit until released. */
    public static Path beside(Path file) {
        if (HOOKED.compareAndSet(false, true)) {
            try {
                Runtime.getRuntime().addShutdownHook(new Thread(TempFiles::deleteUnfinished, "jdiffusion-temp-files"));
            } catch (IllegalStateException alreadyStopping) {
                // the JVM is stopping: nothing would run the hook anyway
            }
        }
        Path tmp = SafeTensorsWriter.temporarySibling(file);
        UNFINISHED.add(tmp);
        return tmp;
    }

    /** Deletes {@code tmp} unless it was renamed into place, and forgets it. */
    public static void release(Path tmp) throws IOException {
        try {
            Files.deleteIfExists(tmp);
        } finally {
            UNFINISHED.remove(tmp);
        }
    }

    private static void deleteUnfinished() {
        for (Path tmp : UNFINISHED) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException | RuntimeException e) {
                // best effort while the JVM stops; the name is hidden and says .tmp
            }
        }
    }
}
