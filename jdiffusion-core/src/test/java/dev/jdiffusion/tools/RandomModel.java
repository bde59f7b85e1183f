package dev.jdiffusion.tools;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.checkpoint.BuiltinConfigs;
import dev.jdiffusion.io.checkpoint.ModelFamily;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.tensor.DType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a diffusers folder of the published SD 1.5 / 2.1 architecture with random weights, for measuring
 * a real generation from a file (memory-mapped, as a downloaded model) without downloading one:
 * {@code scripts/make-random-model.sh sd15|sd21 f16|f32|bf16 DIR}. Not a test.
 */
public final class RandomModel {
    public static void main(String[] args) throws IOException {
        if (args.length != 3) {
            System.err.println("usage: RandomModel sd15|sd21 f16|f32|bf16 DIR");
            System.exit(2);
        }
        ModelFamily family = args[0].equals("sd21") ? ModelFamily.SD2 : ModelFamily.SD1;
        DType dtype = DType.valueOf(args[1].toUpperCase(Locale.ROOT));
        Path dir = Path.of(args[2]);
        ObjectMapper json = new ObjectMapper();

        JsonConfig unet = BuiltinConfigs.read(family, "unet", "config.json"), vae = BuiltinConfigs.read(family, "vae", "config.json"),
                text = BuiltinConfigs.read(family, "text_encoder", "config.json");
        RandomWeights unetW = new RandomWeights(dtype, 2), vaeW = new RandomWeights(dtype, 3), textW = new RandomWeights(dtype, 1);
        new UNet2DConditionModel(UNet2DConditionConfig.from(unet), unetW);
        new AutoencoderKL(AutoencoderKLConfig.from(vae), vaeW);
        new ClipTextModel(ClipTextConfig.from(text), textW);

        for (String part : new String[]{"unet", "vae", "text_encoder", "scheduler", "tokenizer"}) Files.createDirectories(dir.resolve(part));
        json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("unet/config.json").toFile(), unet.root());
        json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("vae/config.json").toFile(), vae.root());
        json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("text_encoder/config.json").toFile(), text.root());
        json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("scheduler/scheduler_config.json").toFile(),
                BuiltinConfigs.read(family, "scheduler", "scheduler_config.json").root());
        try (var files = Files.list(BuiltinConfigs.tokenizerDir(family))) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve("tokenizer").resolve(f.getFileName()),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        try (var in = BuiltinConfigs.class.getResourceAsStream("/dev/jdiffusion/io/checkpoint/" + family.builtInConfigs() + "/model_index.json")) {
            Files.copy(in, dir.resolve("model_index.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        SafeTensorsWriter.write(dir.resolve("unet/diffusion_pytorch_model.safetensors"), unetW.tensors(), Map.of("format", "pt"));
        SafeTensorsWriter.write(dir.resolve("vae/diffusion_pytorch_model.safetensors"), vaeW.tensors(), Map.of("format", "pt"));
        SafeTensorsWriter.write(dir.resolve("text_encoder/model.safetensors"), textW.tensors(), Map.of("format", "pt"));
        System.out.printf("wrote %s: %s %s, %.2f GB of weights%n", dir, family.builtInConfigs(), dtype,
                (unetW.bytes() + vaeW.bytes() + textW.bytes()) / 1e9);
    }
}
