package dev.jdiffusion.training;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.TempFiles;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes a trained model as a complete diffusers folder, the layout {@code save_pretrained} writes: every file
 * of the starting folder copied (configs byte for byte), and each trained part's weights file rewritten with
 * the same file name, tensor names, order ({@link SafeTensorsWriter#inSaveFileOrder}) and metadata, its float
 * tensors in float32 or float16. Other weight variants of a trained part (fp16 copies, .bin) would be stale
 * and are left out. Every file is written beside its place and renamed into it.
 */
public final class ModelExport {
    private ModelExport() {}

    public static void write(DiffusersFolder source, Path output, Parameters params, boolean fp16) {
        try {
            if (Files.isSameFile(source.root(), output) || output.toAbsolutePath().normalize().startsWith(source.root().toAbsolutePath().normalize()))
                throw new IllegalArgumentException("--output " + output + " must not be the starting model's folder (or inside it)");
        } catch (IOException ignored) {
            // output does not exist yet: not the same file
        }
        List<String> trainedParts = params.all().stream().map(p -> p.name().substring(0, p.name().indexOf('.'))).distinct().toList();
        // The pipeline's files: those at the top (model_index.json, README, ...) and the parts model_index.json names.
        List<String> parts = new ArrayList<>();
        source.modelIndex().root().fields().forEachRemaining(e -> {
            if (e.getValue().isArray() && e.getValue().size() == 2 && !e.getValue().get(0).isNull()) parts.add(e.getKey());
        });
        try (Stream<Path> files = Files.walk(source.root())) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                Path rel = source.root().relativize(file);
                if (rel.getNameCount() > 1 && !parts.contains(rel.getName(0).toString())) continue;
                String part = rel.getNameCount() > 1 ? rel.getName(0).toString() : null;
                if (part != null && trainedParts.contains(part) && isWeights(rel.getFileName().toString())) continue;
                Path dst = output.resolve(rel.toString());
                Files.createDirectories(dst.getParent());
                Path tmp = TempFiles.beside(dst);
                try {
                    Files.copy(file, tmp, StandardCopyOption.REPLACE_EXISTING);
                    Files.move(tmp, dst, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } finally {
                    TempFiles.release(tmp);
                }
            }
            for (String part : trainedParts) {
                SafeTensors original = source.weights(part, false);
                Path dst = output.resolve(part).resolve(original.file().getFileName().toString().replace(".fp16.", "."));
                List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
                for (String name : original.names()) {
                    Parameters.Parameter p = params.get(part + "." + name);
                    WeightTensor t = p != null ? TrainingCheckpoint.floats(name, p.value(), p.shape()) : original.tensor(name);
                    DType dtype = !t.dtype().isFloatingPoint() ? t.dtype() : fp16 ? DType.F16 : DType.F32;
                    if (dtype == DType.F32 && t.dtype() != DType.F32) t = TrainingCheckpoint.floats(name, t.toFloatArray(), t.shape());
                    entries.add(new SafeTensorsWriter.Entry(name, dtype, t.shape(), List.of(t)));
                }
                Map<String, String> meta = original.metadata().isEmpty() ? Map.of("format", "pt") : original.metadata();
                SafeTensorsWriter.write(dst, SafeTensorsWriter.inSaveFileOrder(entries), meta);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("writing the trained model to " + output + ": " + e.getMessage(), e);
        }
    }

    private static boolean isWeights(String fileName) {
        return fileName.endsWith(".safetensors") || fileName.endsWith(".bin") || fileName.endsWith(".ckpt")
                || fileName.endsWith(".msgpack") || fileName.endsWith(".onnx") || fileName.endsWith(".pb");
    }
}
