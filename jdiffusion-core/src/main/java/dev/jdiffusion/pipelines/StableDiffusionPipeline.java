package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.checkpoint.SingleFileCheckpoint;
import dev.jdiffusion.io.checkpoint.StandaloneVae;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.models.clip.ClipTokenizer;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKL;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.pipelines.prompt.PromptEncoder;
import dev.jdiffusion.pipelines.prompt.PromptSyntax;
import dev.jdiffusion.schedulers.Scheduler;
import dev.jdiffusion.schedulers.Schedulers;
import dev.jdiffusion.schedulers.TorchGenerator;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Text-to-image and image-to-image as diffusers' StableDiffusionPipeline and
 * StableDiffusionImg2ImgPipeline compute them: the same prompt encoding, the same random draws in the
 * same order from a PyTorch-compatible generator, the same classifier-free guidance. Load once, run
 * many requests; a pipeline holds no per-request state, so requests may run one after another freely.
 */
public final class StableDiffusionPipeline {
    private final StableDiffusionModel model;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final PromptEncoder promptEncoder;
    /** The last pipeline made for other adapters than this model's (a server often gets the same LoRAs again). */
    private volatile StableDiffusionPipeline adapted;

    public StableDiffusionPipeline(StableDiffusionModel model) {
        this.model = model;
        this.tokenizer = model.tokenizer();
        this.textEncoder = model.textEncoder();
        this.unet = model.unet();
        this.vae = model.vae();
        this.promptEncoder = new PromptEncoder(tokenizer, textEncoder, model.embeddings());
    }

    /** Loads a model (see {@link StableDiffusionModel#load(Path, LoadOptions)}) and wraps it in a pipeline. */
    public static StableDiffusionPipeline load(Path model) { return new StableDiffusionPipeline(StableDiffusionModel.load(model)); }

    public static StableDiffusionPipeline load(Path model, LoadOptions options) {
        return new StableDiffusionPipeline(StableDiffusionModel.load(model, options));
    }

    public StableDiffusionModel model() { return model; }

    public String modelName() { return model.name(); }

    /** The sampler the model ships with (its scheduler_config.json), used when a request names none. */
    public String defaultSampler() { return Schedulers.nameOf(model.schedulerConfig()); }

    /** Pixels per latent along each side (8 for real SD models). */
    public int vaeScaleFactor() { return vae.config().downscaleFactor(); }

    public GenerationResult generate(GenerationRequest request) { return generate(request, StepListener.NONE); }

    public GenerationResult generate(GenerationRequest request, StepListener listener) {
        // LoRAs and embeddings: run on this model's base with the request's adapters (made once, then reused).
        Adapters adapters = Adapters.of(request);
        if (!adapters.key().equals(model.adapters().key())) return withAdapters(adapters).generate(request, listener);
        String sampler = request.sampler() != null ? request.sampler() : defaultSampler();
        Scheduler scheduler = Schedulers.create(sampler, model.schedulerConfig());
        int factor = vaeScaleFactor();
        int width, height;
        if (request.isImageToImage()) {
            // diffusers takes the init image's size, rounded down to the VAE factor; an explicit size resizes it.
            width = request.width() > 0 ? request.width() : request.initImage().width() / factor * factor;
            height = request.height() > 0 ? request.height() : request.initImage().height() / factor * factor;
        } else {
            width = request.width() > 0 ? request.width() : model.defaultImageSize();
            height = request.height() > 0 ? request.height() : model.defaultImageSize();
        }
        if (width % factor != 0 || height % factor != 0 || width == 0 || height == 0)
            throw new IllegalArgumentException("width and height must be positive multiples of " + factor
                    + " for this model, got " + width + "x" + height);
        GenerationRequest resolved = request.toBuilder().size(width, height).sampler(sampler).build();

        int n = request.batchSize();
        boolean cfg = request.guidanceScale() > 1.0;
        PromptEncoder.Encoded prompts = promptEncoder.encode(request.prompt(), request.negativePrompt(), request.promptSyntax(),
                request.clipSkip(), cfg);
        Tensor context = prompts.context(n);

        TorchGenerator generator = new TorchGenerator(request.seed());
        int lc = unet.config().inChannels(), lh = height / factor, lw = width / factor;
        scheduler.setTimesteps(request.steps());
        double[] timesteps = scheduler.timesteps();
        int first = 0;
        float[] latents;
        if (request.isImageToImage()) {
            first = scheduler.beginIndex(request.steps(), request.strength());
            if (first >= timesteps.length)
                throw new IllegalArgumentException("strength " + request.strength() + " with " + request.steps()
                        + " steps leaves no denoising step; raise the strength or the steps");
            scheduler.setBeginIndex(first);
            latents = initLatents(request.initImage().resized(width, height), n, generator, scheduler, first);
        } else {
            latents = generator.randn(n, lc, lh, lw);
            float sigma = scheduler.initNoiseSigma();
            for (int i = 0; i < latents.length; i++) latents[i] *= sigma;
        }

        int total = timesteps.length - first;
        int[] shape = {n, lc, lh, lw};
        for (int i = first; i < timesteps.length; i++) {
            if (Thread.currentThread().isInterrupted()) throw new GenerationCancelledException(i - first, total);
            float[] x = scheduler.scaleModelInput(latents, i);
            float[] eps = predictNoise(x, shape, (float) timesteps[i], context, cfg, (float) request.guidanceScale());
            latents = scheduler.step(eps, i, latents, generator);
            if (!listener.onStep(i - first + 1, total) && i + 1 < timesteps.length)
                throw new GenerationCancelledException(i - first + 1, total);
        }
        return decode(latents, n, lc, lh, lw, resolved, adapters.infotext(prompts.used()));
    }

    /** The prompt encoder of this pipeline's model (its tokenizer, text encoder and embeddings). */
    public PromptEncoder promptEncoder() { return promptEncoder; }

    /** A pipeline over this model's base with {@code adapters} (the last one made is kept for the next request). */
    public StableDiffusionPipeline withAdapters(Adapters adapters) {
        StableDiffusionPipeline p = adapted;
        if (adapters.key().equals(model.adapters().key())) return this;
        if (p != null && p.model.adapters().key().equals(adapters.key())) return p;
        p = new StableDiffusionPipeline(model.withAdapters(adapters));
        adapted = p;
        return p;
    }

    /** The UNet's prediction with classifier-free guidance: uncond + g · (cond − uncond), NCHW. */
    private float[] predictNoise(float[] x, int[] shape, float t, Tensor context, boolean cfg, float guidance) {
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3];
        float[] input = x;
        int batch = n;
        if (cfg) {
            input = Arrays.copyOf(x, 2 * x.length);
            System.arraycopy(x, 0, input, x.length, x.length);
            batch = 2 * n;
        }
        float[] ts = new float[batch];
        Arrays.fill(ts, t);
        float[] out = TensorOps.nhwcToNchw(unet.forward(TensorOps.nchwToNhwc(input, batch, c, h, w), ts, context));
        if (!cfg) return out;
        float[] guided = new float[x.length];
        for (int i = 0; i < guided.length; i++) {
            float u = out[i], cond = out[x.length + i];
            guided[i] = u + guidance * (cond - u);
        }
        return guided;
    }

    /**
     * img2img start: encode the image, sample the latent distribution (first draw from the generator),
     * scale, repeat per image, then add noise (second draw) at the first timestep.
     */
    private float[] initLatents(RgbImage image, int n, TorchGenerator generator, Scheduler scheduler, int firstStep) {
        Tensor pixels = new Tensor(image.toSigned(), 1, image.height(), image.width(), 3);
        AutoencoderKL.LatentDist dist = vae.encode(pixels);
        Tensor meanT = dist.mean();
        int lh = meanT.dim(1), lw = meanT.dim(2), lc = meanT.dim(3);
        float[] mean = TensorOps.nhwcToNchw(meanT), std = TensorOps.nhwcToNchw(dist.std());
        float[] sample = generator.randn(1, lc, lh, lw);
        float sf = vae.scalingFactor();
        float[] one = new float[mean.length];
        for (int i = 0; i < one.length; i++) one[i] = sf * (mean[i] + std[i] * sample[i]);
        float[] init = new float[n * one.length];
        for (int b = 0; b < n; b++) System.arraycopy(one, 0, init, b * one.length, one.length);
        float[] noise = generator.randn(n, lc, lh, lw);
        return scheduler.addNoise(init, noise, firstStep);
    }

    private GenerationResult decode(float[] latents, int n, int c, int h, int w, GenerationRequest resolved, Map<String, String> extra) {
        float sf = vae.scalingFactor();
        float[] scaled = new float[latents.length];
        for (int i = 0; i < scaled.length; i++) scaled[i] = latents[i] / sf;
        Tensor decoded = vae.decode(TensorOps.nchwToNhwc(scaled, n, c, h, w));
        int ih = decoded.dim(1), iw = decoded.dim(2);
        List<RgbImage> images = new ArrayList<>();
        List<String> params = new ArrayList<>();
        for (int b = 0; b < n; b++) {
            images.add(RgbImage.fromSigned(decoded.data(), b * ih * iw * 3, iw, ih));
            String prompt = resolved.promptSyntax() == PromptSyntax.A1111
                    ? resolved.prompt() + Adapters.promptTags(resolved) : resolved.prompt();
            params.add(InfoText.format(resolved, prompt, resolved.sampler(), iw, ih, model.name(), b, extra));
        }
        return new GenerationResult(resolved, images, params);
    }
}
