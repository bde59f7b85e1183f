package dev.jdiffusion.cli;

import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * scripts/java-env.sh, which ./jdiffusion and ./run-tests source, finds a JDK >= 25 among fake JDK folders: a
 * {@code bin/java} that answers {@code -XshowSettings:properties -version} with its version, and a {@code bin/javac}.
 */
class JavaEnvTest {
    @TempDir Path dir;
    static final Path SCRIPT = Fixtures.root().getParent().resolve("scripts").resolve("java-env.sh");

    record Result(int code, String out, String err) {}

    private Path fakeJdk(String name, String version, boolean withJavac) throws IOException {
        Path bin = Files.createDirectories(dir.resolve(name).resolve("bin"));
        script(bin.resolve("java"), "echo '    java.specification.version = " + version + "' >&2");
        if (withJavac) script(bin.resolve("javac"), "exit 0");
        return dir.resolve(name);
    }

    private static void script(Path file, String body) throws IOException {
        Files.writeString(file, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** A PATH holding only the tools java-env.sh uses, plus {@code java} when given: the machine's own java stays out. */
    private Path toolsOnly(Path java) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("path-bin"));
        for (String tool : List.of("dirname", "readlink", "sed", "head", "cat")) {
            Path real = List.of(Path.of("/usr/bin", tool), Path.of("/bin", tool)).stream().filter(Files::isExecutable)
                    .findFirst().orElseThrow(() -> new IllegalStateException(tool + " not found"));
            Files.deleteIfExists(bin.resolve(tool));
            Files.createSymbolicLink(bin.resolve(tool), real);
        }
        Files.deleteIfExists(bin.resolve("java"));
        if (java != null) Files.createSymbolicLink(bin.resolve("java"), java);
        return bin;
    }

    /** Sources java-env.sh under set -euo pipefail, as the launchers do, and prints the JAVA_HOME it chose. */
    private Result source(String javaHome, Path pathBin, String jdkDirs) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(bashPath(), "-c",
                "set -euo pipefail; source \"$1\"; printf '%s\\n' \"$JAVA_HOME\"", "test", SCRIPT.toString());
        Map<String, String> env = pb.environment();
        env.clear();
        env.put("HOME", dir.toString());
        env.put("PATH", pathBin.toString());
        if (javaHome != null) env.put("JAVA_HOME", javaHome);
        if (jdkDirs != null) env.put("JDIFFUSION_JDK_DIRS", jdkDirs);
        pb.redirectOutput(dir.resolve("out").toFile()).redirectError(dir.resolve("err").toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "java-env.sh finished");
        return new Result(p.exitValue(), Files.readString(dir.resolve("out"), StandardCharsets.UTF_8).strip(),
                Files.readString(dir.resolve("err"), StandardCharsets.UTF_8));
    }

    private static String bashPath() {
        return List.of("/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash").stream()
                .filter(p -> Files.isExecutable(Path.of(p))).findFirst().orElseThrow();
    }

    @Test
    void javaHome17WithA25AmongTheInstallFoldersPicksThe25() throws Exception {
        Path jdk17 = fakeJdk("jdk-17", "17", true), jre25 = fakeJdk("jre-25", "25", false), jdk25 = fakeJdk("jdk-25", "25", true);
        // java on PATH is a 17 too, reached through a symlink as /usr/bin/java is through /etc/alternatives
        Result r = source(jdk17.toString(), toolsOnly(jdk17.resolve("bin").resolve("java")),
                dir.resolve("missing") + ":" + jre25 + ":" + jdk25);
        assertEquals(0, r.code(), r.err());
        assertEquals(jdk25.toString(), r.out(), "a JRE without javac is no JDK");
    }

    @Test
    void javaHome25IsTakenAsItIs() throws Exception {
        Path jdk25 = fakeJdk("jdk-25", "25", true), jdk26 = fakeJdk("jdk-26", "26", true);
        Result r = source(jdk25.toString(), toolsOnly(null), jdk26.toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(jdk25.toString(), r.out());
    }

    @Test
    void javaOnThePathIsFollowedThroughSymlinksToItsJdk() throws Exception {
        Path jdk25 = fakeJdk("jdk-25", "25", true);
        Path alternatives = Files.createDirectories(dir.resolve("etc-alternatives"));
        Files.createSymbolicLink(alternatives.resolve("java"), Path.of("../jdk-25/bin/java"));  // relative, as update-alternatives makes them
        Result r = source(null, toolsOnly(alternatives.resolve("java")), "");
        assertEquals(0, r.code(), r.err());
        assertEquals(jdk25.toRealPath().toString(), r.out());
    }

    @Test
    void noJdk25SaysWhatToInstallAndExits1() throws Exception {
        Path jdk17 = fakeJdk("jdk-17", "17", true), jdk8 = fakeJdk("jdk-8", "1.8", true);
        Result r = source(jdk17.toString(), toolsOnly(null), jdk8.toString());
        assertEquals(1, r.code(), r.out());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("jdiffusion needs a JDK 25 or newer"), r.err());
        assertTrue(r.err().contains("openjdk-25-jdk") && r.err().contains("brew install openjdk@25")
                && r.err().contains("sdk install java 25"), r.err());

        // Nothing at all: no JAVA_HOME, no java on PATH, no install folders (an empty list under set -u).
        Result none = source(null, toolsOnly(null), "");
        assertEquals(1, none.code(), none.err());
        assertTrue(none.err().startsWith("jdiffusion needs a JDK 25 or newer"), none.err());
        assertFalse(none.err().contains("unbound variable"), none.err());
    }
}
