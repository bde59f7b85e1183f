package dev.jdiffusion.spark;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.GenerationResult;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.testing.Fixtures;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** The request tables of the batch tests, and the images the CLI's code path makes for their rows. */
final class BatchTables {
    static final String MODEL = Fixtures.model("tiny-sd15").toString();
    static final long JOB_SEED = 1234;
    static final String[] SAMPLERS = {"euler_a", "euler", "ddim", "dpmpp_2m", "dpmpp_2m_karras", "unipc", "heun", "lms"};

    private BatchTables() {}

    /** A row of the 20-row table, with every value as the CSV holds it ("" = absent). */
    record Line(String id, String prompt, String negative, String seed, String steps, String guidance, String sampler,
                String width, String height) {}

    /** 20 rows: varied prompts, samplers, steps, sizes; every fourth without a seed (derived from id + job seed). */
    static List<Line> twentyRows() {
        List<Line> rows = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            String size = i % 5 == 3 ? "32" : "";
            rows.add(new Line("img-" + i, "a photo of thing number " + i + ", with \"quotes\", commas", i % 3 == 0 ? "blurry" : "",
                    i % 4 == 1 ? "" : Long.toString(1000 + 7L * i), Integer.toString(2 + i % 3), i % 2 == 0 ? "7.5" : "5",
                    SAMPLERS[i % SAMPLERS.length], size, i % 5 == 3 ? "48" : ""));
        }
        return rows;
    }

    static Path writeCsv(Path file, List<Line> rows) throws IOException {
        StringBuilder b = new StringBuilder("id,prompt,negative_prompt,seed,steps,guidance,sampler,width,height\n");
        for (Line l : rows)
            b.append(String.join(",", csv(l.id()), csv(l.prompt()), csv(l.negative()), l.seed(), l.steps(), l.guidance(),
                    csv(l.sampler()), l.width(), l.height())).append('\n');
        Files.writeString(file, b.toString());
        return file;
    }

    private static String csv(String s) {
        return s.isEmpty() ? "" : "\"" + s.replace("\"", "\"\"") + "\"";
    }

    /** The request that `jdiffusion generate` runs for this row's values (the CLI's defaults for what is absent). */
    static GenerationRequest request(Line l) {
        GenerationRequest.Builder b = GenerationRequest.builder(l.prompt()).negativePrompt(l.negative())
                .seed(l.seed().isEmpty() ? BatchRow.derivedSeed(JOB_SEED, l.id()) : Long.parseLong(l.seed()))
                .steps(Integer.parseInt(l.steps())).guidanceScale(Double.parseDouble(l.guidance())).sampler(l.sampler());
        if (!l.width().isEmpty()) b.size(Integer.parseInt(l.width()), Integer.parseInt(l.height()));
        return b.build();
    }

    /** The PNG that `jdiffusion generate` writes for this row (same calls as GenerateCommand), as bytes. */
    static byte[] cliPng(StableDiffusionPipeline pipeline, Line l, Path scratch) throws IOException {
        GenerationResult r = pipeline.generate(request(l));
        Path file = scratch.resolve(l.id() + ".png");
        PngFiles.write(file, r.images().getFirst(), Map.of("parameters", r.parameters().getFirst()));
        return Files.readAllBytes(file);
    }

    /** A local[2] session as the CLI starts one (no UI, loopback only). */
    static SparkSession localSpark() {
        return SparkSession.builder().master("local[2]").appName("jdiffusion-batch-test")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "2")
                .getOrCreate();
    }
}
