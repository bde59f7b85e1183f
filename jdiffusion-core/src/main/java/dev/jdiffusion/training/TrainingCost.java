package dev.jdiffusion.training;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.RandomWeights;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.FlopCounter;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.training.ModelInitializer.Part;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * What a model of given configs costs: parameters per part, the size of its weights, and the FLOPs of one sample's
 * forward passes as jdiffusion's kernels count them ({@link FlopCounter}: 2 per multiply-add of every convolution,
 * linear layer and attention; norms and activations not counted), at the model's default image size with a
 * full-length prompt. A training step costs about three forward passes (the backward pass is about twice the
 * forward), so the per-sample training FLOPs are 3 × the forward FLOPs of what is trained.
 *
 * @param imageSize       the image side the forward passes ran at (the UNet's sample_size × the VAE factor)
 * @param parameters      per part
 * @param textEncoderFlops one prompt of max_position_embeddings tokens through the text encoder
 * @param unetFlops       one UNet evaluation of one latent (no classifier-free guidance pair)
 * @param vaeEncodeFlops  one image through the VAE encoder (and quant_conv)
 * @param vaeDecodeFlops  one latent through post_quant_conv and the decoder
 */
public record TrainingCost(int imageSize, Map<Part, Long> parameters, long textEncoderFlops, long unetFlops,
                           long vaeEncodeFlops, long vaeDecodeFlops) {

    /** Measures the model whose configs are in the diffusers folder {@code configDir} (weights are not needed). */
    public static TrainingCost measure(Path configDir) {
        Map<Part, JsonConfig> configs = new EnumMap<>(Part.class);
        Map<Part, Long> params = new EnumMap<>(Part.class);
        for (Part p : Part.values()) {
            JsonConfig c = JsonConfig.read(configDir.resolve(p.folder()).resolve("config.json"));
            configs.put(p, c);
            long n = 0;
            for (int[] shape : ModelInitializer.shapes(p, c).values()) {
                long k = 1;
                for (int d : shape) k *= d;
                n += k;
            }
            params.put(p, n);
        }
        ClipTextConfig textConfig = ClipTextConfig.from(configs.get(Part.TEXT_ENCODER));
        UNet2DConditionConfig unetConfig = UNet2DConditionConfig.from(configs.get(Part.UNET));
        AutoencoderKLConfig vaeConfig = AutoencoderKLConfig.from(configs.get(Part.VAE));
        ClipTextModel text = new ClipTextModel(textConfig, new RandomWeights(DType.F32, 1));
        UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig, new RandomWeights(DType.F32, 2));
        AutoencoderKL vae = new AutoencoderKL(vaeConfig, new RandomWeights(DType.F32, 3));

        int latent = configs.get(Part.UNET).getInt("sample_size", 64), factor = vaeConfig.downscaleFactor();
        int size = latent * factor, lc = unetConfig.inChannels(), tokens = textConfig.maxPositionEmbeddings();
        long before = FlopCounter.total();
        Tensor context = text.forward(new int[][]{new int[tokens]}).lastHiddenState();
        long textFlops = FlopCounter.total() - before;
        if (context.dim(2) != unetConfig.crossAttentionDim())
            throw new IllegalArgumentException("the text encoder's width " + context.dim(2)
                    + " is not the UNet's cross_attention_dim " + unetConfig.crossAttentionDim());
        before = FlopCounter.total();
        unet.forward(new Tensor(new float[latent * latent * lc], 1, latent, latent, lc), new float[]{500f}, context);
        long unetFlops = FlopCounter.total() - before;
        before = FlopCounter.total();
        vae.encode(new Tensor(new float[size * size * vaeConfig.inChannels()], 1, size, size, vaeConfig.inChannels()));
        long encode = FlopCounter.total() - before;
        before = FlopCounter.total();
        vae.decode(new Tensor(new float[latent * latent * vaeConfig.latentChannels()], 1, latent, latent, vaeConfig.latentChannels()));
        long decode = FlopCounter.total() - before;
        return new TrainingCost(size, params, textFlops, unetFlops, encode, decode);
    }

    public long totalParameters() { return parameters.values().stream().mapToLong(Long::longValue).sum(); }

    /** Bytes of all weights stored as {@code dtype} (headers and configs not included). */
    public long weightBytes(DType dtype) { return totalParameters() * dtype.byteSize(); }

    /** Training the VAE: encoder and decoder, forward and backward, per image. */
    public long vaeTrainingFlopsPerSample() { return 3 * (vaeEncodeFlops + vaeDecodeFlops); }

    /**
     * Training the UNet on cached latents: the UNet forward and backward, the text encoder forward and backward when
     * it is trained, forward only when frozen.
     */
    public long unetTrainingFlopsPerSample(boolean trainTextEncoder) {
        return 3 * unetFlops + (trainTextEncoder ? 3 : 1) * textEncoderFlops;
    }

    /** One classifier-free-guidance generation step (UNet batch 2) plus the image's VAE decode and both prompts. */
    public long generationFlops(int steps) { return steps * 2 * unetFlops + vaeDecodeFlops + 2 * textEncoderFlops; }

    /** A few lines for people: parameters, sizes, FLOPs. */
    public String summary() {
        StringBuilder sb = new StringBuilder();
        for (Part p : Part.values()) sb.append(String.format(Locale.ROOT, "%-12s %,11d parameters%n", p.folder(), parameters.get(p)));
        sb.append(String.format(Locale.ROOT, "total        %,11d parameters: %.1f MB as float32, %.1f MB as float16%n",
                totalParameters(), weightBytes(DType.F32) / 1e6, weightBytes(DType.F16) / 1e6));
        sb.append(String.format(Locale.ROOT, "forward FLOPs at %dx%d: text encoder %.3f G, UNet %.3f G, VAE encode %.3f G, decode %.3f G%n",
                imageSize, imageSize, textEncoderFlops / 1e9, unetFlops / 1e9, vaeEncodeFlops / 1e9, vaeDecodeFlops / 1e9));
        sb.append(String.format(Locale.ROOT, "training FLOPs per sample (3 x forward): VAE %.2f G; UNet %.2f G, with the text encoder %.2f G%n",
                vaeTrainingFlopsPerSample() / 1e9, unetTrainingFlopsPerSample(false) / 1e9, unetTrainingFlopsPerSample(true) / 1e9));
        return sb.toString();
    }
}
