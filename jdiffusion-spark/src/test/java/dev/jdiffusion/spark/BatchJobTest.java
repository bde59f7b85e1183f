package dev.jdiffusion.spark;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.testing.Fixtures;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static dev.jdiffusion.spark.BatchTables.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The batch job in Spark's local[2] mode on the tiny model: 20 rows give the CLI's 20 PNGs byte for byte and a correct
 * manifest; a re-run skips everything; a run killed partway resumes to the full set; bad rows fail alone.
 */
class BatchJobTest {
    static SparkSession spark;
    static StableDiffusionPipeline cli;
    static final List<Line> ROWS = twentyRows();
    /** The CLI's PNG of each row, by id. */
    static final Map<String, byte[]> EXPECTED = new HashMap<>();
    @TempDir static Path shared;

    @BeforeAll
    static void start() throws IOException {
        spark = localSpark();
        cli = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));
        Path scratch = Files.createDirectories(shared.resolve("cli"));
        for (Line l : ROWS) EXPECTED.put(l.id(), cliPng(cli, l, scratch));
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    static BatchJob job(Path out) {
        return new BatchJob(ModelSpec.of(MODEL), out, BatchDefaults.CLI.withJobSeed(JOB_SEED));
    }

    @Test
    void twentyRowsGiveTheCliImagesAManifestAndARerunSkipsThemAll(@TempDir Path dir) throws Exception {
        Path csv = writeCsv(dir.resolve("requests.csv"), ROWS), out = dir.resolve("out");
        List<String> heard = java.util.Collections.synchronizedList(new ArrayList<>());
        Map<String, String> threads = new ConcurrentHashMap<>();
        BatchSummary s = job(out).listener(e -> {
            heard.add(e.id());
            threads.put(Thread.currentThread().getName(), e.id());
        }).run(spark, BatchJob.readTable(spark, csv.toString()));
        assertEquals(new BatchSummary(s.manifest(), out.resolve("manifest.parquet"), 20, 20, 0, 0), s);
        assertEquals(20, heard.size(), "the listener hears every row as it finishes");
        assertTrue(threads.size() >= 2, "rows ran in at least two tasks at once: " + threads.keySet());
        assertEquals(1, ExecutorPipelines.loads(), "one model load for the JVM, shared by its tasks");

        Map<String, ManifestEntry> manifest = byId(s.entries());
        assertEquals(ROWS.stream().map(Line::id).collect(Collectors.toSet()), manifest.keySet());
        for (Line l : ROWS) {
            ManifestEntry e = manifest.get(l.id());
            byte[] png = Files.readAllBytes(out.resolve(e.file()));
            assertArrayEquals(EXPECTED.get(l.id()), png, l.id() + ": the CLI's PNG, byte for byte");
            var request = request(l);
            assertEquals(new ManifestEntry(l.id(), l.prompt(), l.negative(), request.seed(), request.steps(),
                    request.guidanceScale(), l.sampler(), l.width().isEmpty() ? 64 : 32, l.height().isEmpty() ? 64 : 48,
                    "images/" + l.id() + ".png", RowRecords.sha256(out.resolve(e.file())), e.seconds(),
                    ManifestEntry.GENERATED, null), e);
            assertTrue(e.seconds() > 0, l.id());
            assertEquals(request.seed(), PngFiles.read(out.resolve(e.file())).text().get("parameters").lines()
                    .filter(x -> x.startsWith("Steps:")).map(x -> Long.parseLong(x.replaceAll(".*Seed: (\\d+).*", "$1")))
                    .findFirst().orElseThrow(), "the PNG's infotext records the seed used");
        }
        assertEquals(1000 + 7 * 2L, manifest.get("img-2").seed(), "a row's own seed");
        assertEquals(BatchRow.derivedSeed(JOB_SEED, "img-1"), manifest.get("img-1").seed(), "derived from id and job seed");

        // Re-run: every row is skipped, no file is rewritten, the manifest says so and keeps the first run's times.
        Map<Path, FileTime> mtimes = new HashMap<>();
        try (Stream<Path> files = Files.walk(out.resolve("images"))) {
            for (Path p : (Iterable<Path>) files::iterator) mtimes.put(p, Files.getLastModifiedTime(p));
        }
        BatchSummary again = job(out).run(spark, BatchJob.readTable(spark, csv.toString()));
        assertEquals(List.of(20L, 0L, 20L, 0L), List.of(again.rows(), again.generated(), again.skipped(), again.failed()));
        for (ManifestEntry e : again.entries()) {
            ManifestEntry first = manifest.get(e.id());
            assertEquals(ManifestEntry.SKIPPED, e.status());
            assertEquals(first.sha256(), e.sha256());
            assertEquals(first.seconds(), e.seconds());
        }
        for (var m : mtimes.entrySet()) assertEquals(m.getValue(), Files.getLastModifiedTime(m.getKey()), m.getKey() + " untouched");

        // The same requests as JSON lines (numbers typed, not text) are the same rows: all skipped.
        StringBuilder jsonl = new StringBuilder();
        for (Line l : ROWS.subList(0, 5))
            jsonl.append(String.format(java.util.Locale.ROOT, "{\"id\":\"%s\",\"prompt\":%s,\"negative_prompt\":\"%s\",%s\"steps\":%s,\"guidance\":%s,\"sampler\":\"%s\"%s}%n",
                    l.id(), com.fasterxml.jackson.databind.node.TextNode.valueOf(l.prompt()).toString(), l.negative(),
                    l.seed().isEmpty() ? "" : "\"seed\":" + l.seed() + ",", l.steps(), l.guidance(), l.sampler(),
                    l.width().isEmpty() ? "" : ",\"width\":" + l.width() + ",\"height\":" + l.height()));
        Path json = Files.writeString(dir.resolve("requests.jsonl"), jsonl);
        BatchSummary fromJson = job(out).run(spark, BatchJob.readTable(spark, json.toString()));
        assertEquals(List.of(5L, 0L, 5L), List.of(fromJson.rows(), fromJson.generated(), fromJson.skipped()));
        // A changed PNG is not "done": it is generated again, back to the right bytes.
        Path changed = out.resolve("images/img-7.png");
        Files.write(changed, "not the image".getBytes(StandardCharsets.UTF_8));
        BatchSummary repaired = job(out).run(spark, BatchJob.readTable(spark, csv.toString()));
        assertEquals(List.of(1L, 19L), List.of(repaired.generated(), repaired.skipped()));
        assertArrayEquals(EXPECTED.get("img-7"), Files.readAllBytes(changed));
    }

    @Test
    void badRowsFailAloneWithTheirReasonInTheErrorsColumn(@TempDir Path dir) throws Exception {
        List<Line> rows = new ArrayList<>(ROWS.subList(0, 3));
        rows.add(new Line("neg-steps", "a cat", "", "1", "-3", "7.5", "euler", "", ""));
        rows.add(new Line("bad-sampler", "a cat", "", "1", "2", "7.5", "k_lms_turbo", "", ""));
        rows.add(new Line("odd-size", "a cat", "", "1", "2", "7.5", "euler", "33", "32"));
        rows.add(new Line("bad-seed", "a cat", "", "twelve", "2", "7.5", "euler", "", ""));
        rows.add(new Line("img-0", "a duplicate id", "", "1", "2", "7.5", "euler", "", ""));
        Path out = dir.resolve("out");
        BatchSummary s = job(out).run(spark, BatchJob.readTable(spark, writeCsv(dir.resolve("r.csv"), rows).toString()));
        assertEquals(List.of(8L, 2L, 6L), List.of(s.rows(), s.generated(), s.failed()));
        Map<String, List<ManifestEntry>> byId = s.entries().stream().collect(Collectors.groupingBy(ManifestEntry::id));
        assertError(byId, "neg-steps", "steps must be at least 1, got -3");
        assertError(byId, "bad-sampler", "unknown sampler 'k_lms_turbo'; valid samplers: ddim");
        assertError(byId, "odd-size", "width and height must be positive multiples of 2 for this model, got 33x32");
        assertError(byId, "bad-seed", "seed must be an integer, got 'twelve'");
        assertEquals(2, byId.get("img-0").size());
        for (ManifestEntry e : byId.get("img-0")) {
            assertEquals(ManifestEntry.FAILED, e.status());
            assertEquals("id 'img-0' appears more than once in the table", e.errors());
        }
        for (String ok : List.of("img-1", "img-2")) {
            ManifestEntry e = byId.get(ok).getFirst();
            assertEquals(ManifestEntry.GENERATED, e.status());
            assertNull(e.errors());
            assertArrayEquals(EXPECTED.get(ok), Files.readAllBytes(out.resolve(e.file())));
        }
        try (Stream<Path> images = Files.list(out.resolve("images"))) {
            assertEquals(List.of("img-1.png", "img-2.png"), images.map(p -> p.getFileName().toString()).sorted().toList(),
                    "failed rows write nothing");
        }
    }

    private static void assertError(Map<String, List<ManifestEntry>> byId, String id, String reasonStart) {
        ManifestEntry e = byId.get(id).getFirst();
        assertEquals(ManifestEntry.FAILED, e.status(), id);
        assertNotNull(e.errors(), id);
        assertTrue(e.errors().startsWith(reasonStart), id + ": " + e.errors());
        assertNull(e.file(), id);
    }

    @Test
    void aRunKilledPartwayResumesToTheFullCorrectSet(@TempDir Path dir) throws Exception {
        Path csv = writeCsv(dir.resolve("requests.csv"), ROWS), out = dir.resolve("out");
        Path log = Files.createDirectories(Path.of("target")).resolve("killed-batch-child.log");  // kept for diagnosis
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx2g",
                "-cp", System.getProperty("java.class.path"), SlowBatchMain.class.getName(), csv.toString(), out.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Path records = out.resolve("_rows");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (count(records) < 5) {
            assertTrue(child.isAlive(), "the child ended early:\n" + Files.readString(log));
            assertTrue(System.nanoTime() < deadline, "no 5 rows within 300 s:\n" + Files.readString(log));
            Thread.sleep(50);
        }
        child.destroyForcibly();  // SIGKILL: no shutdown hook runs, as when a machine or an executor dies
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        int done = count(records);
        assertTrue(done >= 5 && done < 20, done + " rows were done when it was killed");
        assertFalse(Files.exists(out.resolve("manifest.parquet/_SUCCESS")), "the killed run wrote no manifest");

        BatchSummary s = job(out).run(spark, BatchJob.readTable(spark, csv.toString()));
        assertEquals(20, s.rows());
        assertEquals(0, s.failed());
        assertTrue(s.skipped() >= done, s.toString());  // a PNG without its record yet is made again, identically
        assertEquals(20, s.generated() + s.skipped());
        for (ManifestEntry e : s.entries())
            assertArrayEquals(EXPECTED.get(e.id()), Files.readAllBytes(out.resolve(e.file())), e.id());
        try (Stream<Path> images = Files.list(out.resolve("images"))) {
            assertEquals(20, images.filter(p -> p.getFileName().toString().endsWith(".png")
                    && !p.getFileName().toString().startsWith(".")).count());
        }
        try (Stream<Path> all = Files.walk(out)) {
            assertEquals(List.of(), all.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList(),
                    "the killed run's temporary files are gone");
        }
    }

    private static int count(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return 0;
        try (Stream<Path> files = Files.list(dir)) {
            return (int) files.filter(p -> p.getFileName().toString().endsWith(".json")).count();
        }
    }

    private static Map<String, ManifestEntry> byId(List<ManifestEntry> entries) {
        return entries.stream().collect(Collectors.toMap(ManifestEntry::id, e -> e));
    }
}
