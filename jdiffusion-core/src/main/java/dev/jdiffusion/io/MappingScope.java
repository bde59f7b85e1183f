package dev.jdiffusion.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.Supplier;

/**
 * Which {@link Arena} the files opened now are memory-mapped into. By default each file gets an automatic
 * arena: the mapping lives as long as any weight view of it is reachable, and the garbage collector unmaps it
 * some time after. Code that must release the mappings at a known moment (a pipeline's {@code close()}) opens
 * its files inside {@link #call(Arena, Supplier)} with an arena it closes itself.
 *
 * <p>The scope is a {@link ScopedValue}: it applies to the calling thread for the duration of the call only.
 */
public final class MappingScope {
    private static final ScopedValue<Arena> ARENA = ScopedValue.newInstance();

    private MappingScope() {}

    /** The arena for a file mapped now: the enclosing {@link #call}'s, else a new automatic one. */
    public static Arena arena() { return ARENA.isBound() ? ARENA.get() : Arena.ofAuto(); }

    /**
     * Maps all of {@code file} read-only into {@link #arena()}. A missing file is a {@link ModelFormatException}
     * "file not found"; any other I/O problem one that reads "cannot read {@code what}: ..." — both naming the file.
     */
    public static MemorySegment mapReadOnly(Path file, String what) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena());
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file, null, "file not found");
        } catch (IOException e) {
            throw new ModelFormatException(file, null, "cannot read " + what + ": " + e.getMessage(), e);
        }
    }

    /** Runs {@code body} with every file it maps placed in {@code arena}; closing the arena unmaps them all. */
    public static <T> T call(Arena arena, Supplier<T> body) {
        return ScopedValue.where(ARENA, arena).call(body::get);
    }
}
