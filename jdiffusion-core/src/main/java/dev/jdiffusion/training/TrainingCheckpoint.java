package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A resumable training state, {@code OUTPUT/checkpoint-N/}: the trained weights ({@code parameters.safetensors},
 * float32), the optimizer's state ({@code optimizer.safetensors}), the EMA weights ({@code ema.safetensors}) and
 * {@code state.json} (step, counts, what the run was). Written into a temporary folder that is renamed into place,
 * so a checkpoint exists whole or not at all.
 */
public final class TrainingCheckpoint {
    private TrainingCheckpoint() {}

    public static Path save(Path output, int step, Parameters params, Optimizer optimizer, Ema ema, String fingerprint) {
        Path dir = output.resolve("checkpoint-" + step);
        Path tmp = output.resolve(".checkpoint-" + step + ".tmp");
        try {
            deleteTree(tmp);
            Files.createDirectories(tmp);
            Map<String, WeightTensor> values = new LinkedHashMap<>();
            for (Parameters.Parameter p : params.all()) values.put(p.name(), floats(p.name(), p.value(), p.shape()));
            SafeTensorsWriter.write(tmp.resolve("parameters.safetensors"), values, Map.of("format", "pt"));
            Map<String, WeightTensor> state = new LinkedHashMap<>();
            optimizer.state().forEach((k, v) -> state.put(k, floats(k, v, new int[]{v.length})));
            SafeTensorsWriter.write(tmp.resolve("optimizer.safetensors"), state, Map.of("format", "pt"));
            if (ema != null) {
                Map<String, WeightTensor> shadow = new LinkedHashMap<>();
                ema.shadow().forEach((k, v) -> shadow.put(k, floats(k, v, new int[]{v.length})));
                SafeTensorsWriter.write(tmp.resolve("ema.safetensors"), shadow, Map.of("format", "pt"));
            }
            ObjectMapper json = new ObjectMapper();
            ObjectNode s = json.createObjectNode();
            s.put("step", step);
            s.put("optimizer", optimizer.name());
            s.put("optimizer_steps", optimizer.stepCount());
            s.put("ema_steps", ema == null ? 0 : ema.steps());
            s.put("run", fingerprint);
            Files.writeString(tmp.resolve("state.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(s));
            deleteTree(dir);
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("writing checkpoint " + dir + ": " + e.getMessage(), e);
        }
    }

    /** {@code resume}: a checkpoint folder, or "latest" for the highest-numbered one under {@code output}. */
    public static Path locate(Path output, String resume) {
        if (!resume.equals("latest")) {
            Path dir = Path.of(resume);
            if (!Files.isRegularFile(dir.resolve("state.json")))
                throw new IllegalArgumentException("--resume " + resume + " is not a checkpoint folder (no state.json)");
            return dir;
        }
        try (Stream<Path> s = Files.list(output)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+") && Files.isRegularFile(p.resolve("state.json")))
                    .max(Comparator.comparingInt(p -> Integer.parseInt(p.getFileName().toString().substring(11))))
                    .orElseThrow(() -> new IllegalArgumentException("--resume latest: no checkpoint-N folder in " + output));
        } catch (IOException e) {
            throw new IllegalArgumentException("--resume latest: cannot list " + output + ": " + e.getMessage());
        }
    }

    /** Restores a checkpoint into the live parameters, optimizer and EMA; returns its step. */
    public static int load(Path dir, Parameters params, Optimizer optimizer, Ema ema, String fingerprint) {
        try {
            JsonNode s = new ObjectMapper().readTree(dir.resolve("state.json").toFile());
            if (!fingerprint.equals(s.path("run").asText()))
                throw new IllegalArgumentException("--resume " + dir + " was written by another kind of run (" + s.path("run").asText()
                        + ", this one is " + fingerprint + ")");
            SafeTensors values = SafeTensors.open(dir.resolve("parameters.safetensors"));
            for (Parameters.Parameter p : params.all()) {
                if (!values.contains(p.name())) throw new IllegalArgumentException(values.file() + ": tensor " + p.name() + " is missing");
                WeightTensor t = values.tensor(p.name());
                if (t.size() != p.size()) throw new IllegalArgumentException(values.file() + ": tensor " + p.name() + " has the wrong size");
                t.copyTo(0, p.value(), 0, p.size());
            }
            optimizer.restore(read(dir.resolve("optimizer.safetensors")), s.path("optimizer_steps").asLong());
            if (ema != null) {
                if (!Files.exists(dir.resolve("ema.safetensors"))) throw new IllegalArgumentException(dir + " holds no EMA weights");
                ema.restore(read(dir.resolve("ema.safetensors")), s.path("ema_steps").asLong());
            }
            return s.path("step").asInt();
        } catch (IOException e) {
            throw new UncheckedIOException("reading checkpoint " + dir + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, float[]> read(Path file) {
        SafeTensors f = SafeTensors.open(file);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (String name : f.names()) out.put(name, f.tensor(name).toFloatArray());
        return out;
    }

    static WeightTensor floats(String name, float[] values, int[] shape) {
        return new WeightTensor(name, DType.F32, shape, MemorySegment.ofArray(values));
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}
