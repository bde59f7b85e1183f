package dev.jdiffusion.cli;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The packaged jar, run as a user runs it (a separate JVM process), makes diffusers' image. */
class GenerateCliIT {
    @TempDir Path dir;

    record Run(int code, String stdout, String stderr) {}

    private Run jdiffusion(String... args) throws IOException, InterruptedException {
        return jdiffusion(List.of(), args);
    }

    /** The jar run with extra JVM options, e.g. the terminal flag the launcher passes. */
    private Run jdiffusion(List<String> jvmOptions, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-jar", System.getProperty("jdiffusion.jar")));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectOutput(dir.resolve("stdout").toFile())
                .redirectError(dir.resolve("stderr").toFile()).start();
        int code = p.waitFor();
        return new Run(code, Files.readString(dir.resolve("stdout")), Files.readString(dir.resolve("stderr"), StandardCharsets.UTF_8));
    }

    /** stderr without the JVM's own notice about the incubating Vector API. */
    private static List<String> ourLines(String stderr) {
        return stderr.lines().filter(l -> !l.startsWith("WARNING: Using incubator modules")).toList();
    }

    @Test
    void generatesTheReferenceImage() throws Exception {
        Path png = dir.resolve("nocfg.png");
        // What ./jdiffusion passes when stderr is not a terminal.
        Run r = jdiffusion(List.of("-Djdiffusion.stderr.tty=false"), "generate", "--model", Fixtures.model("tiny-sd15").toString(),
                "--prompt", "4k 8K 1080p 3.14159 2024-11-24 #1 100%", "--sampler", "euler", "--steps", "25",
                "--guidance", "1.0", "--seed", "0", "--output", png.toString());
        assertEquals(0, r.code(), r.stderr());
        assertEquals(png.toString(), r.stdout().strip());
        assertEquals(List.of(), ourLines(r.stderr()), "no progress bar when stderr is not a terminal");
        GenerateCommandTest.assertPixelsMatch(png, Fixtures.expected("tiny-sd15", "pipeline/euler_nocfg_seed0.safetensors"), 0);
        assertEquals("""
                4k 8K 1080p 3.14159 2024-11-24 #1 100%
                Steps: 25, Sampler: Euler, Schedule type: Automatic, CFG scale: 1, Seed: 0, Size: 64x64, Model: tiny-sd15, Version: jdiffusion""",
                PngFiles.read(png).text().get("parameters"));
    }

    @Test
    void progressBarWhenTheLauncherSaysStderrIsATerminal() throws Exception {
        Path png = dir.resolve("bar.png");
        Run r = jdiffusion(List.of("-Djdiffusion.stderr.tty=true"), "generate", "--model", Fixtures.model("tiny-sd15").toString(),
                "--prompt", "x", "--steps", "2", "--seed", "1", "--output", png.toString());
        assertEquals(0, r.code(), r.stderr());
        String bar = r.stderr().replaceFirst("^WARNING: Using incubator modules[^\n]*\n", "");
        assertTrue(bar.startsWith("\rgenerating ") && bar.contains(" 1/2 [") && bar.contains(" 2/2 [")
                && bar.matches("(?s).*(it/s|s/it)]\n"), bar);
    }

    @Test
    void badArgumentIsOneLineAndStatus2() throws Exception {
        Run r = jdiffusion("generate", "--model", Fixtures.model("tiny-sd15").toString(), "--prompt", "x", "--sampler", "nope");
        assertEquals(2, r.code());
        List<String> lines = ourLines(r.stderr());
        assertEquals(1, lines.size(), r.stderr());
        assertTrue(lines.getFirst().contains("unknown sampler 'nope'; valid samplers: ddim"), lines.getFirst());
    }
}
