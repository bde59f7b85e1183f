package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.MappingScope;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.checkpoint.SingleFileCheckpoint;
import dev.jdiffusion.io.checkpoint.StandaloneVae;
import dev.jdiffusion.io.hub.ModelLocator;
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

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Text-to-image and image-to-image as diffusers' StableDiffusionPipeline and
 * StableDiffusionImg2ImgPipeline compute them: the same prompt encoding, the same random draws in the
 * same order from a PyTorch-compatible generator, the same classifier-free guidance. Load once, run
 * many requests; a pipeline holds no per-request state, so requests may run one after another freely.
 * A request with a mask (or any request to an inpainting model) is inpainted ({@code Inpainting}), and
 * ControlNets steer any of them ({@code ControlNetGuidance}): all through the one {@code DenoisingLoop}.
 *
 * <pre>{@code
 * try (var pipe = StableDiffusionPipeline.fromPretrained("stable-diffusion-v1-5/stable-diffusion-v1-5")) {
 *     var image = pipe.generate("A photo of an astronaut riding a horse on the moon").image(0);
 *     image.save(Path.of("astronaut.png"));            // PNG with its parameters
 * }
 * }</pre>
 *
 * <p><b>Threads.</b> One pipeline serves many threads <em>concurrently</em>: {@code generate} may be called from
 * several threads at once, each call with its own scheduler and random generator, all reading the same
 * memory-mapped weights; a request's image does not depend on what else runs (same request, same bits). The
 * kernels of every call share the machine's cores (the common fork-join pool), so concurrent calls each run
 * slower; for large images one call at a time already keeps every core busy.
 *
 * <p><b>Progress and cancellation.</b> A {@link StepListener} is told after every denoising step and cancels by
 * returning false; interrupting the generating thread cancels too. Either way {@code generate} throws
 * {@link GenerationCancelledException} before the next step.
 *
 * <p><b>Resources.</b> A pipeline made by {@link #fromPretrained} owns its memory-mapped weight files and unmaps
 * them in {@link #close()}; one made from a {@link StableDiffusionModel} leaves them to the garbage collector.
 */
public final class StableDiffusionPipeline implements AutoCloseable {
    private final StableDiffusionModel model;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    /** diffusers' run_safety_checker, or null when the model has none or it was turned off. */
    private final SafetyCheckerStep safetyChecker;
    /** Running generations hold the read lock; close() takes the write lock, so it waits for them. */
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private boolean closed;
    /** The mapped files of a model that {@link #fromPretrained} loaded for this pipeline, or null. */
    private Arena mappings;
    private final PromptEncoder promptEncoder;
    /** The last pipeline made for other adapters than this model's (a server often gets the same LoRAs again). */
    private volatile StableDiffusionPipeline adapted;

    /**
     * A pipeline over an already loaded model (which stays the caller's: {@link #close()} does not unmap it),
     * without a safety checker.
     */
    public StableDiffusionPipeline(StableDiffusionModel model) { this(model, null); }

    /** A pipeline whose images pass {@code safetyChecker} (null for none), as diffusers' pipelines run theirs. */
    public StableDiffusionPipeline(StableDiffusionModel model, SafetyCheckerStep safetyChecker) {
        this.model = model;
        this.tokenizer = model.tokenizer();
        this.textEncoder = model.textEncoder();
        this.unet = model.unet();
        this.vae = model.vae();
        this.safetyChecker = safetyChecker;
        this.promptEncoder = new PromptEncoder(tokenizer, textEncoder, model.embeddings());
    }

    /**
     * Loads a model (see {@link StableDiffusionModel#load(Path, LoadOptions)}) and wraps it in a pipeline, with the
     * model's safety checker when it has one ({@link SafetyCheckerStep#forModel}).
     */
    public static StableDiffusionPipeline load(Path model) { return load(model, LoadOptions.DEFAULTS); }

    public static StableDiffusionPipeline load(Path model, LoadOptions options) {
        SafetyCheckerStep checker = options.safetyChecker() ? SafetyCheckerStep.forModel(model).orElse(null) : null;
        return new StableDiffusionPipeline(StableDiffusionModel.load(model, options), checker);
    }

    /** The safety checker every generated image passes, if any. */
    public java.util.Optional<SafetyCheckerStep> safetyChecker() { return java.util.Optional.ofNullable(safetyChecker); }

    public StableDiffusionModel model() { return model; }

    public String modelName() { return model.name(); }

    /** The sampler the model ships with (its scheduler_config.json), used when a request names none. */
    public String defaultSampler() { return Schedulers.nameOf(model.schedulerConfig()); }

    /** Pixels per latent along each side (8 for real SD models). */
    public int vaeScaleFactor() { return vae.config().downscaleFactor(); }

    public GenerationResult generate(GenerationRequest request) { return generate(request, StepListener.NONE); }

    private GenerationResult run(GenerationRequest request, StepListener listener) {
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
        } else if (!request.controlNets().isEmpty()) {
            // diffusers' ControlNet pipeline takes the (first) control image's size likewise.
            width = request.width() > 0 ? request.width() : request.controlNets().getFirst().image().width() / factor * factor;
            height = request.height() > 0 ? request.height() : request.controlNets().getFirst().image().height() / factor * factor;
        } else {
            width = request.width() > 0 ? request.width() : model.defaultImageSize();
            height = request.height() > 0 ? request.height() : model.defaultImageSize();
        }
        if (width % factor != 0 || height % factor != 0 || width == 0 || height == 0)
            throw new IllegalArgumentException("width and height must be positive multiples of " + factor
                    + " for this model, got " + width + "x" + height);
        GenerationRequest resolved = request.toBuilder().size(width, height).sampler(sampler).build();
        int unetChannels = unet.config().inChannels();
        Inpainting inpainting = Inpainting.applies(request, unetChannels)
                ? new Inpainting(vae, unetChannels, request, width, height, factor) : null;

        int n = request.batchSize();
        boolean cfg = request.guidanceScale() > 1.0;
        PromptEncoder.Encoded prompts = promptEncoder.encode(request.prompt(), request.negativePrompt(), request.promptSyntax(),
                request.clipSkip(), cfg);
        Tensor context = prompts.context(n);

        TorchGenerator generator = new TorchGenerator(request.seed());
        int lc = vae.config().latentChannels(), lh = height / factor, lw = width / factor;
        scheduler.setTimesteps(request.steps());
        double[] timesteps = scheduler.timesteps();
        DenoisingLoop loop = new DenoisingLoop(unet, scheduler, generator, context, cfg, (float) request.guidanceScale());
        if (!request.controlNets().isEmpty())
            loop.residuals(new ControlNetGuidance(request.controlNets(), request.guessMode(), unet.config(), model.name(),
                    width, height, inpainting == null ? null : inpainting.crop(), n, cfg, context));
        int first = 0;
        float[] latents;
        if (inpainting != null || request.isImageToImage()) {
            double strength = inpainting != null ? inpainting.strength() : request.strength();
            first = scheduler.beginIndex(request.steps(), strength);
            if (first >= timesteps.length)
                throw new IllegalArgumentException("strength " + strength + " with " + request.steps()
                        + " steps leaves no denoising step; raise the strength or the steps");
            scheduler.setBeginIndex(first);
        }
        if (inpainting != null) {
            latents = inpainting.prepare(scheduler, generator, n, lc, first);
            inpainting.configure(loop, scheduler);
        } else if (request.isImageToImage()) {
            latents = initLatents(request.initImage().resized(width, height), n, generator, scheduler, first);
        } else {
            latents = generator.randn(n, lc, lh, lw);
            float sigma = scheduler.initNoiseSigma();
            for (int i = 0; i < latents.length; i++) latents[i] *= sigma;
        }
        latents = loop.run(latents, n, lc, lh, lw, first, listener);
        return runSafetyChecker(decode(latents, n, lc, lh, lw, resolved, adapters.infotext(prompts.used()),
                inpainting == null ? images -> images : inpainting::finish));
    }

    /** diffusers' run_safety_checker on the finished images: flagged ones become black, the flags are recorded. */
    private GenerationResult runSafetyChecker(GenerationResult result) {
        if (safetyChecker == null) return result;
        SafetyCheckerStep.Checked checked = safetyChecker.apply(result.images());
        return new GenerationResult(result.request(), checked.images(), result.parameters(), checked.nsfw());
    }

    /** The prompt encoder of this pipeline's model (its tokenizer, text encoder and embeddings). */
    public PromptEncoder promptEncoder() { return promptEncoder; }

    /** A pipeline over this model's base with {@code adapters} (the last one made is kept for the next request). */
    public StableDiffusionPipeline withAdapters(Adapters adapters) {
        StableDiffusionPipeline p = adapted;
        if (adapters.key().equals(model.adapters().key())) return this;
        if (p != null && p.model.adapters().key().equals(adapters.key())) return p;
        p = new StableDiffusionPipeline(model.withAdapters(adapters), safetyChecker);
        adapted = p;
        return p;
    }

    /**
     * img2img start: encode the image, sample the latent distribution (first draw from the generator),
     * scale, repeat per image, then add noise (second draw) at the first timestep.
     */
    private float[] initLatents(RgbImage image, int n, TorchGenerator generator, Scheduler scheduler, int firstStep) {
        float[] one = ImageLatents.encode(vae, VaeImageProcessor.preprocessImage(PilImage.of(image), image.width(), image.height(), null),
                image.height(), image.width(), generator);
        float[] init = new float[n * one.length];
        for (int b = 0; b < n; b++) System.arraycopy(one, 0, init, b * one.length, one.length);
        int lc = vae.config().latentChannels(), lh = image.height() / vaeScaleFactor(), lw = image.width() / vaeScaleFactor();
        float[] noise = generator.randn(n, lc, lh, lw);
        return scheduler.addNoise(init, noise, firstStep);
    }

    /** Decodes NCHW latents (as a {@link StepPreview} holds them) into images with the VAE. */
    public List<RgbImage> decodeLatents(float[] latents, int n, int c, int h, int w) {
        float sf = vae.scalingFactor();
        float[] scaled = new float[latents.length];
        for (int i = 0; i < scaled.length; i++) scaled[i] = latents[i] / sf;
        Tensor decoded = vae.decode(TensorOps.nchwToNhwc(scaled, n, c, h, w));
        int ih = decoded.dim(1), iw = decoded.dim(2);
        List<RgbImage> images = new ArrayList<>();
        for (int b = 0; b < n; b++) images.add(RgbImage.fromSigned(decoded.data(), b * ih * iw * 3, iw, ih));
        return images;
    }

    private GenerationResult decode(float[] latents, int n, int c, int h, int w, GenerationRequest resolved, Map<String, String> extra,
                                    UnaryOperator<List<RgbImage>> postprocess) {
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
        images = postprocess.apply(images);
        return new GenerationResult(resolved, images, params);
    }

    /**
     * Loads a model as {@code jdiffusion generate --model} names it, and makes a pipeline that owns it:
     * a Hugging Face repo id ({@code org/name}, or {@code org/name@revision}) already in the local Hugging Face
     * cache ({@code jdiffusion download}, {@link dev.jdiffusion.io.hub.HubDownloader}, or Python's
     * {@code huggingface_hub} put it there), a diffusers folder, or a single-file {@code .safetensors}/{@code .ckpt}
     * checkpoint. Weights are memory-mapped, not copied; {@link #close()} unmaps them.
     *
     * @throws dev.jdiffusion.io.ModelFormatException when the model is missing or not a model jdiffusion reads
     * @throws MissingJvmOptionException when the JVM runs without {@code --add-modules jdk.incubator.vector}
     */
    public static StableDiffusionPipeline fromPretrained(String model) { return fromPretrained(model, LoadOptions.DEFAULTS); }

    /** {@link #fromPretrained(String)} with options: another VAE, the prediction type, a config folder. */
    public static StableDiffusionPipeline fromPretrained(String model, LoadOptions options) {
        MissingJvmOptionException.requireVectorApi();
        return fromPretrained(ModelLocator.resolve(model), options);
    }

    /** {@link #fromPretrained(String, LoadOptions)} of a folder or a file. */
    public static StableDiffusionPipeline fromPretrained(Path model, LoadOptions options) {
        Arena arena = Arena.ofShared();
        try {
            StableDiffusionPipeline pipeline = MappingScope.call(arena, () -> load(model, options));
            Lock exclusive = pipeline.lifecycle.writeLock();  // publishes the field to the thread that closes
            exclusive.lock();
            try {
                pipeline.mappings = arena;
            } finally {
                exclusive.unlock();
            }
            return pipeline;
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Text-to-image with the defaults: 20 steps, CFG scale 7.5, the model's own scheduler and image size, no
     * negative prompt, one image, a random seed (recorded in the result's request and parameters).
     */
    public GenerationResult generate(String prompt) { return generate(GenerationRequest.builder(prompt).build()); }

    /**
     * Runs one request, telling {@code listener} after every denoising step. Safe to call from many threads at
     * once (see the class documentation).
     *
     * @throws GenerationCancelledException when the listener returns false or the thread is interrupted
     * @throws IllegalArgumentException     when the request does not fit the model (size, sampler, clip skip)
     * @throws IllegalStateException        when the pipeline is closed
     */
    public GenerationResult generate(GenerationRequest request, StepListener listener) {
        Lock use = lifecycle.readLock();
        use.lock();
        try {
            if (closed) throw new IllegalStateException("this StableDiffusionPipeline is closed");
            return run(request, listener);
        } finally {
            use.unlock();
        }
    }

    /**
     * Releases the model's memory-mapped files (when this pipeline loaded them, see {@link #fromPretrained}) after
     * the generations in progress have finished; cancel those first to close sooner. Later calls to
     * {@code generate} throw {@link IllegalStateException}. Closing twice does nothing.
     */
    @Override
    public void close() {
        Lock exclusive = lifecycle.writeLock();
        exclusive.lock();
        try {
            if (closed) return;
            closed = true;
            if (mappings != null) mappings.close();
        } finally {
            exclusive.unlock();
        }
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        Lock use = lifecycle.readLock();
        use.lock();
        try {
            return closed;
        } finally {
            use.unlock();
        }
    }
}
