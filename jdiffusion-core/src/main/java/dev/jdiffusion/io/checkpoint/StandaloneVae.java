package dev.jdiffusion.io.checkpoint;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.TensorFiles;
import dev.jdiffusion.io.WeightSource;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A VAE to swap in (the common "--vae" practice): a diffusers vae/ folder, a diffusers pipeline folder
 * (its vae/ is taken), or a single file in either layout — diffusers names, or the original SD layout
 * bare ({@code encoder.down.0...}, as the published fine-tuned VAEs ship) or inside a whole checkpoint.
 */
public record StandaloneVae(JsonConfig config, WeightSource weights) {

    /** @param modelVaeConfig the model's own VAE config, used for single files (which carry none) */
    public static StandaloneVae open(Path path, JsonConfig modelVaeConfig) {
        if (Files.isDirectory(path)) {
            if (Files.isRegularFile(path.resolve("model_index.json"))) {
                DiffusersFolder f = DiffusersFolder.open(path);
                return new StandaloneVae(f.config("vae"), WeightSource.of(f.weights("vae", false)));
            }
            if (!Files.isRegularFile(path.resolve("config.json")))
                throw new ModelFormatException(path, null, "not a VAE folder: config.json is missing");
            JsonConfig config = JsonConfig.read(path.resolve("config.json"));
            for (String n : new String[]{"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"})
                if (Files.isRegularFile(path.resolve(n)))
                    return new StandaloneVae(config, WeightSource.of(TensorFiles.open(path.resolve(n))));
            throw new ModelFormatException(path, null, "no diffusion_pytorch_model.safetensors in this VAE folder");
        }
        TensorFile file = TensorFiles.open(path);
        if (file.contains("decoder.conv_in.weight") && file.contains("decoder.mid_block.resnets.0.conv1.weight"))
            return new StandaloneVae(modelVaeConfig, WeightSource.of(file));
        return new StandaloneVae(modelVaeConfig, new MappedWeights(file, LdmKeyMaps.vae(modelVaeConfig, file), "vae"));
    }
}
