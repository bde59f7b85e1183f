package dev.jdiffusion.cli;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.schedulers.Schedulers;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The model jdiffusion trained itself and ships ({@code models/jdiffusion-emoji}, see its model card): what
 * {@code generate} and {@code serve} use when no {@code --model} is given. It is found under the project folder, which
 * the launcher passes as {@code -Djdiffusion.home} (or {@code JDIFFUSION_HOME}); without either, in the folders above
 * the jar or classes this code runs from.
 */
final class BundledModel {
    /** The bundled model's folder, relative to the project folder. */
    static final String RELATIVE = "models/jdiffusion-emoji";

    private BundledModel() {}

    /** The bundled model's folder; an IllegalArgumentException that says what to do when it is missing or untrained. */
    static Path locate() {
        List<Path> tried = new ArrayList<>();
        for (Path home : homes()) {
            Path dir = home.resolve(RELATIVE).toAbsolutePath().normalize();
            if (tried.contains(dir)) continue;
            tried.add(dir);
            if (Files.isRegularFile(dir.resolve("model_index.json"))) {
                if (!Files.isRegularFile(dir.resolve("unet/diffusion_pytorch_model.safetensors")))
                    throw new IllegalArgumentException("the bundled model " + dir + " has no weights"
                            + " (unet/diffusion_pytorch_model.safetensors is missing); give a model with --model");
                return dir;
            }
        }
        throw new IllegalArgumentException("no --model given and the bundled model (" + RELATIVE + ") was not found in "
                + tried + "; give a model with --model, or run jdiffusion from the project folder");
    }

    /** The sampler the bundled model's own scheduler config names (its {@code scheduler/scheduler_config.json}). */
    static String sampler(Path dir) {
        return Schedulers.nameOf(JsonConfig.read(dir.resolve("scheduler/scheduler_config.json")));
    }

    private static List<Path> homes() {
        List<Path> homes = new ArrayList<>();
        String prop = System.getProperty("jdiffusion.home");
        if (prop != null && !prop.isBlank()) homes.add(Path.of(prop));
        String env = System.getenv("JDIFFUSION_HOME");
        if (env != null && !env.isBlank()) homes.add(Path.of(env));
        try {
            var source = BundledModel.class.getProtectionDomain().getCodeSource();
            if (source != null) {
                // jdiffusion-cli/target/jdiffusion.jar or jdiffusion-cli/target/classes: the project is 2-3 folders up.
                Path p = Path.of(source.getLocation().toURI()).toAbsolutePath();
                for (int up = 0; up < 4 && p != null; up++, p = p.getParent()) homes.add(p);
            }
        } catch (URISyntaxException | SecurityException | java.nio.file.FileSystemNotFoundException e) {
            // not from a file: only the explicit homes
        }
        homes.add(Path.of(""));
        return homes;
    }
}
