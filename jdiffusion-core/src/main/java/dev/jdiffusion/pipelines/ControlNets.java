package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.TensorFiles;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.checkpoint.SingleFileControlNet;
import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.models.controlnet.ControlNetConfig;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Loads ControlNets: a diffusers {@code ControlNetModel} folder (config.json + diffusion_pytorch_model.safetensors,
 * also as a Hugging Face cache snapshot), or one file in the original layout ({@code control_v11p_sd15_canny.safetensors},
 * .pth/.ckpt read safely) or in diffusers' names. A single file carries no config: its architecture is the UNet's it
 * will steer, with what the file itself says (conditioning embedding, channels), as diffusers' {@code from_unet}
 * builds it. Weights stay mapped.
 */
public final class ControlNets {
    private ControlNets() {}

    private static final List<String> WEIGHT_FILES = List.of("diffusion_pytorch_model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors");

    /**
     * @param path a folder or a file (resolve hub ids with {@code ModelLocator} first)
     * @param unet the config of the UNet the net will steer: a single file's architecture, and checked against
     *             every net (a ControlNet for SD 2.x cannot steer SD 1.x)
     * @param modelName the model's name, for messages
     */
    public static ControlNetModel load(Path path, UNet2DConditionConfig unet, String modelName) {
        String name = StableDiffusionModel.modelName(path);
        ControlNetModel net;
        if (Files.isDirectory(path) && Files.isRegularFile(path.resolve("config.json"))) {
            JsonConfig config = JsonConfig.read(path.resolve("config.json"));
            String cls = config.getString("_class_name", "ControlNetModel");
            if (!cls.equals("ControlNetModel"))
                throw new ModelFormatException(path.resolve("config.json"), "_class_name", "is " + cls
                        + ", not a ControlNetModel (give a ControlNet folder or file as --controlnet)");
            ControlNetConfig cc = ControlNetConfig.from(config);
            ControlNetGuidance.checkFits(name, cc, unet, modelName);  // before the weights: say what is wrong first
            Path weights = WEIGHT_FILES.stream().map(path::resolve).filter(Files::isRegularFile).findFirst()
                    .orElseThrow(() -> new ModelFormatException(path, null, "no ControlNet weights found (expected "
                            + String.join(" or ", WEIGHT_FILES) + ")"));
            net = new ControlNetModel(name, cc, WeightSource.of(SafeTensors.open(weights)));
        } else if (Files.isDirectory(path)) {
            Path file = HubCache.checkpointIn(path).orElseThrow(() -> new ModelFormatException(path, null,
                    "not a ControlNet: the folder has neither config.json nor a checkpoint file"));
            net = loadFile(file, name, unet, modelName);
        } else {
            net = loadFile(path, name, unet, modelName);
        }
        ControlNetGuidance.checkFits(name, net.config(), unet, modelName);
        return net;
    }

    private static ControlNetModel loadFile(Path path, String name, UNet2DConditionConfig unet, String modelName) {
        TensorFile file = TensorFiles.open(path);
        if (SingleFileControlNet.isOriginalLayout(file)) {
            SingleFileControlNet cn = SingleFileControlNet.open(file);
            int width = cn.crossAttentionDim();
            if (width != unet.crossAttentionDim())
                throw new IllegalArgumentException("ControlNet " + name + " is for " + family(width) + " but the model "
                        + modelName + " is " + family(unet.crossAttentionDim()));
            if (cn.firstBlockChannels() != unet.blockOutChannels().getFirst())
                throw new IllegalArgumentException("ControlNet " + name + " starts with " + cn.firstBlockChannels()
                        + " channels but the model " + modelName + "'s UNet with " + unet.blockOutChannels().getFirst()
                        + ": it was made for another architecture");
            ControlNetConfig config = ControlNetConfig.fromUnet(unet, cn.inChannels(), cn.conditioningChannels(),
                    cn.conditioningEmbeddingOutChannels());
            return new ControlNetModel(name, config, cn.weights(unet.layersPerBlock()));
        }
        if (file.contains("controlnet_cond_embedding.conv_in.weight")) {
            Path configFile = path.resolveSibling("config.json");
            ControlNetConfig config;
            if (Files.isRegularFile(configFile)) {
                config = ControlNetConfig.from(JsonConfig.read(configFile));
            } else {
                int levels = 1;
                while (file.contains("controlnet_cond_embedding.blocks." + (2 * levels - 1) + ".weight")) levels++;
                java.util.List<Integer> emb = new java.util.ArrayList<>();
                emb.add(file.tensor("controlnet_cond_embedding.conv_in.weight").dim(0));
                for (int i = 1; i < levels; i++) emb.add(file.tensor("controlnet_cond_embedding.blocks." + (2 * i - 1) + ".weight").dim(0));
                config = ControlNetConfig.fromUnet(unet, file.tensor("conv_in.weight").dim(1),
                        file.tensor("controlnet_cond_embedding.conv_in.weight").dim(1), emb);
            }
            return new ControlNetModel(name, config, WeightSource.of(file));
        }
        throw new ModelFormatException(path, null, "not a ControlNet: it has neither " + SingleFileControlNet.PREFIX
                + "input_hint_block.* (the original layout) nor controlnet_cond_embedding.* (diffusers' names)");
    }

    static String family(int crossAttentionDim) {
        return switch (crossAttentionDim) {
            case 768 -> "Stable Diffusion 1.x (text width 768)";
            case 1024 -> "Stable Diffusion 2.x (text width 1024)";
            default -> "a model with text width " + crossAttentionDim;
        };
    }
}
