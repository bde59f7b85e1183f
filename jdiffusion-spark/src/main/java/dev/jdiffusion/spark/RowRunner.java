package dev.jdiffusion.spark;

import dev.jdiffusion.pipelines.GenerationCancelledException;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.GenerationResult;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Row;

import java.io.IOException;
import java.io.Serial;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What a task does with its partition of rows, on an executor: for each row, skip it when an earlier run finished
 * exactly this row, else generate it with this JVM's shared pipeline and write its PNG and record; a row that fails
 * becomes a manifest row with the reason in {@code errors}, and the task goes on with the next one.
 */
final class RowRunner implements FlatMapFunction<Iterator<BatchRow>, Row> {
    @Serial private static final long serialVersionUID = 1L;

    private final ModelSpec model;
    private final String output;
    private final BatchDefaults defaults;
    private final Set<String> duplicateIds;
    private final String jobId;

    RowRunner(ModelSpec model, String output, BatchDefaults defaults, Set<String> duplicateIds, String jobId) {
        this.model = model;
        this.output = output;
        this.defaults = defaults;
        this.duplicateIds = duplicateIds;
        this.jobId = jobId;
    }

    @Override
    public Iterator<Row> call(Iterator<BatchRow> rows) {
        Path out = Path.of(output);
        List<Row> manifest = new ArrayList<>();
        while (rows.hasNext()) {
            ManifestEntry e = run(out, rows.next());
            manifest.add(e.toRow());
            BatchProgress.rowFinished(jobId, e);
        }
        return manifest.iterator();
    }

    ManifestEntry run(Path out, BatchRow row) {
        BatchRow.Resolved resolved;
        try {
            if (row.id() != null && duplicateIds.contains(row.id()))
                throw new IllegalArgumentException("id '" + row.id() + "' appears more than once in the table");
            resolved = row.resolve(defaults);
        } catch (IllegalArgumentException e) {
            return new ManifestEntry(row.id(), row.prompt(), row.negativePrompt(), null, null, null, null, null, null,
                    null, null, null, ManifestEntry.FAILED, e.getMessage());
        }
        GenerationRequest r = resolved.request();
        String stem = BatchRow.fileStem(resolved.id()), fingerprint = BatchRow.fingerprint(model.key(), resolved);
        try {
            Optional<RowRecords.Done> earlier = RowRecords.finished(out, stem, fingerprint);
            if (earlier.isPresent()) return entry(r, resolved.id(), earlier.get(), ManifestEntry.SKIPPED);
            StableDiffusionPipeline pipeline = ExecutorPipelines.get(model);  // a model that does not load fails the job
            long t0 = System.nanoTime();
            GenerationResult result;
            try {
                result = pipeline.generate(r);
            } catch (GenerationCancelledException e) {
                throw e;  // Spark is killing the task
            } catch (RuntimeException e) {  // this row's request does not fit the model (size, clip skip, ...)
                String why = e instanceof IllegalArgumentException ? e.getMessage() : e.toString();
                return new ManifestEntry(resolved.id(), r.prompt(), r.negativePrompt(), r.seed(), r.steps(),
                        r.guidanceScale(), r.sampler(), null, null, null, null, null, ManifestEntry.FAILED, why);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            String file = RowRecords.imageFile(stem);
            Path png = out.resolve(file);
            result.image(0).save(png);
            RowRecords.Done d = new RowRecords.Done(fingerprint, file, RowRecords.sha256(png),
                    result.request().width(), result.request().height(), seconds);
            RowRecords.write(out, stem, d);
            return entry(r, resolved.id(), d, ManifestEntry.GENERATED);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot write row '" + resolved.id() + "': " + e.getMessage(), e);
        }
    }

    private static ManifestEntry entry(GenerationRequest r, String id, RowRecords.Done d, String status) {
        return new ManifestEntry(id, r.prompt(), r.negativePrompt(), r.seed(), r.steps(), r.guidanceScale(), r.sampler(),
                d.width(), d.height(), d.file(), d.sha256(), d.seconds(), status, null);
    }
}
