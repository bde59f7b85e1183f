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
        if (args.length == 4 && args[0].equals("controlnet")) {
            controlNet(args[1].equals("sd21") ? ModelFamily.SD2 : ModelFamily.SD1, DType.valueOf(args[2].toUpperCase(Locale.ROOT)),
                    Path.of(args[3]));
            return;
        }
        if (args.length != 3) {
            System.err.println("usage: RandomModel sd15|sd21 f16|f32|bf16 DIR | RandomModel controlnet sd15|sd21 f16|f32|bf16 DIR");
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

    /**
     * A diffusers ControlNetModel folder for the family's UNet (lllyasviel's ControlNet 1.1 architecture: the UNet's
     * down half, conditioning embedding 16, 32, 96, 256) with random weights.
     */
    static void controlNet(ModelFamily family, DType dtype, Path dir) throws IOException {
        JsonConfig unet = BuiltinConfigs.read(family, "unet", "config.json");
        var config = unet.root().deepCopy();
        var o = (com.fasterxml.jackson.databind.node.ObjectNode) config;
        o.put("_class_name", "ControlNetModel");
        o.remove(java.util.List.of("up_block_types", "out_channels", "sample_size", "center_input_sample"));
        o.put("in_channels", 4).put("conditioning_channels", 3).put("controlnet_conditioning_channel_order", "rgb")
                .put("global_pool_conditions", false);
        o.putArray("conditioning_embedding_out_channels").add(16).add(32).add(96).add(256);
        JsonConfig cfg = new JsonConfig(dir.resolve("config.json"), config);
        RandomWeights w = new RandomWeights(dtype, 4);
        new dev.jdiffusion.models.controlnet.ControlNetModel("random", dev.jdiffusion.models.controlnet.ControlNetConfig.from(cfg), w);
        Files.createDirectories(dir);
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), config);
        SafeTensorsWriter.write(dir.resolve("diffusion_pytorch_model.safetensors"), w.tensors(), Map.of("format", "pt"));
        System.out.printf("wrote %s: %s ControlNet %s, %.2f GB of weights%n", dir, family.builtInConfigs(), dtype, w.bytes() / 1e9);
    }
}
