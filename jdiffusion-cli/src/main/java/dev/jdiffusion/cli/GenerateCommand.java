package dev.jdiffusion.cli;

import dev.jdiffusion.image.Canny;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.image.watermark.InvisibleWatermark;
import dev.jdiffusion.io.checkpoint.PredictionType;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.pipelines.ControlNetUnit;
import dev.jdiffusion.pipelines.ControlNets;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.Lora;
import dev.jdiffusion.pipelines.prompt.PromptSyntax;
import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.pipelines.GenerationResult;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.schedulers.Schedulers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** `jdiffusion generate`: text-to-image (image-to-image with --init-image, inpainting with --mask, ControlNets), written to PNG with its parameters. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate images from a prompt (or transform --init-image, repaint its --mask, follow --controlnet"
                + " control images) and write PNGs that carry their parameters.")
final class GenerateCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--model", description = "Model: a diffusers folder, a single-file .safetensors/.ckpt checkpoint, or a Hugging Face repo id (org/name) already in the local Hugging Face cache"
            + " (default: the bundled model, " + BundledModel.RELATIVE + ", 64x64 emoji).")
    String model;

    @Option(names = "--config", description = "Single-file checkpoints of non-standard size: a diffusers folder whose configs describe it.")
    Path config;

    @Option(names = "--prediction-type", description = "What the UNet predicts when the weights cannot tell (SD 2.x): epsilon or v_prediction.")
    String predictionType;

    @Option(names = "--vae", description = "Use another VAE: a diffusers folder or a single file, in either layout.")
    Path vae;

    @Option(names = "--prompt", required = true, description = "What to draw.")
    String prompt;

    @Option(names = "--negative-prompt", defaultValue = "", description = "What to avoid (default: none).")
    String negativePrompt;

    @Option(names = "--steps", defaultValue = "20", description = "Denoising steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = {"--guidance", "--cfg-scale"}, defaultValue = "7.5",
            description = "Classifier-free guidance scale; 1 or less turns it off (default: ${DEFAULT-VALUE}).")
    double guidance;

    @Option(names = "--sampler", description = "Sampler (default: euler_a; with the bundled model, its own scheduler, dpmpp_2m): ${COMPLETION-CANDIDATES}.",
            completionCandidates = SamplerNames.class)
    String sampler;

    @Option(names = "--seed", description = "Seed; the same seed gives the same image as diffusers with torch.Generator(\"cpu\").manual_seed(seed). Random when absent.")
    Long seed;

    @Option(names = "--width", description = "Image width, a multiple of the VAE factor: 8 (default: the model's, 512 for SD 1.x).")
    Integer width;

    @Option(names = "--height", description = "Image height, a multiple of the VAE factor (default: the model's).")
    Integer height;

    @Option(names = "--batch", defaultValue = "1", description = "Images per prompt (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--clip-skip", defaultValue = "1", description = "CLIP skip as in the web UIs: 1 = last layer, 2 = penultimate (default: ${DEFAULT-VALUE}).")
    int clipSkip;

    @Option(names = "--prompt-syntax", defaultValue = "a1111", paramLabel = "a1111|plain",
            description = "How prompts are read (default: ${DEFAULT-VALUE}): a1111 = AUTOMATIC1111's (x:1.2) [x] emphasis, BREAK,"
                    + " prompts of any length, <lora:NAME:SCALE> tags; plain = diffusers' (text as is, cut at 77 tokens).")
    String promptSyntax;

    @Option(names = "--lora", paramLabel = "PATH[:SCALE]",
            description = "Apply a LoRA (kohya/A1111 or diffusers/PEFT .safetensors), at SCALE (default 1.0); repeatable, LoRAs add up.")
    java.util.List<String> loras = new java.util.ArrayList<>();

    @Option(names = "--lora-dir", paramLabel = "DIR", description = "Where the prompt's <lora:NAME:SCALE> tags find NAME.safetensors.")
    Path loraDir;

    @Option(names = "--embedding", paramLabel = "PATH",
            description = "A textual-inversion embedding (A1111 .pt/.safetensors: trigger = file name; diffusers: its token); repeatable.")
    java.util.List<Path> embeddings = new java.util.ArrayList<>();

    @Option(names = "--embeddings-dir", paramLabel = "DIR", description = "Load every embedding in DIR (those for another model width are skipped).")
    Path embeddingsDir;

    @Option(names = "--init-image", description = "Start from this image (img2img).")
    Path initImage;

    @Option(names = "--strength", defaultValue = "0.75", description = "img2img and inpainting: how much of the init image to redraw, in (0, 1] (default: ${DEFAULT-VALUE}; 1 repaints the masked part from pure noise).")
    double strength;

    @Option(names = "--mask", description = "Inpainting: repaint where this mask is white (grey >= 128), keep the init image where it is black; resized to the image.")
    Path mask;

    @Option(names = "--padding-mask-crop", description = "Inpaint only masked (A1111): generate the region around the mask, padded by this many pixels, at full size, then paste it back.")
    Integer paddingMaskCrop;

    @Option(names = "--controlnet", description = "A ControlNet: a diffusers folder, a single file (control_v11p_sd15_canny.safetensors style) or a cached hub id. Repeat for several, matched by order with --control-image and the other --control-* options.")
    List<String> controlNets = new ArrayList<>();

    @Option(names = "--control-image", description = "The control image of each --controlnet (an edge map, depth map, pose...), resized to the image.")
    List<Path> controlImages = new ArrayList<>();

    @Option(names = "--control-scale", description = "Each ControlNet's weight (default 1.0; given once, it applies to all).")
    List<Double> controlScales = new ArrayList<>();

    @Option(names = "--control-guidance-start", description = "Fraction of the steps before which each ControlNet is off (default 0; once = all).")
    List<Double> controlStarts = new ArrayList<>();

    @Option(names = "--control-guidance-end", description = "Fraction of the steps after which each ControlNet is off (default 1; once = all).")
    List<Double> controlEnds = new ArrayList<>();

    @Option(names = "--control-preprocess", description = "Turn each control image into edges first: canny:LOW:HIGH (OpenCV's Canny, as the ControlNet annotators), or none.")
    List<String> controlPreprocess = new ArrayList<>();

    @Option(names = "--guess-mode", description = "ControlNet guess mode: the nets see only the prompt, deeper residuals weigh more.")
    boolean guessMode;

    @Option(names = {"-o", "--output"}, defaultValue = "out.png", description = "Output PNG; further images go to <stem>-<i>.png (default: ${DEFAULT-VALUE}).")
    Path output;

    @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
    boolean quiet;

    @Option(names = "--no-safety-checker", description = "Do not run the model's safety checker (by default, when the model"
            + " has one, an image it flags is written all black and named on stderr, as diffusers does).")
    boolean noSafetyChecker;

    @Option(names = "--watermark", paramLabel = "TEXT", description = "Mark every image with TEXT's UTF-8 bytes, invisibly"
            + " (imwatermark's dwtDct, as Stability's scripts mark theirs with StableDiffusionV1; read back with"
            + " 'jdiffusion watermark decode --length BITS'). Images need at least 256x256 pixels.")
    String watermark;

    static final class SamplerNames implements Iterable<String> {
        @Override public java.util.Iterator<String> iterator() { return Schedulers.names().iterator(); }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr(), out = spec.commandLine().getOut();
        validate();
        RgbImage init = initImage == null ? null : PngFiles.read(initImage).image();
        GenerationRequest.Builder b = GenerationRequest.builder(prompt).negativePrompt(negativePrompt).steps(steps)
                .guidanceScale(guidance).batchSize(batch).clipSkip(clipSkip)
                .size(width == null ? 0 : width, height == null ? 0 : height);
        if (seed != null) b.seed(seed);
        if (init != null) b.initImage(init, strength);
        b.promptSyntax(PromptSyntax.parse(promptSyntax)).loraDirectory(loraDir).embeddingsDirectory(embeddingsDir);
        for (String l : loras) b.lora(parseLora(l));
        for (Path e : embeddings) b.embedding(e);
        if (mask != null) b.mask(readImage("--mask", mask)).paddingMaskCrop(paddingMaskCrop);
        b.guessMode(guessMode);
        List<PilImage> controls = new ArrayList<>();
        for (Path p : controlImages) controls.add(readImage("--control-image", p));

        Path modelPath = model != null ? ModelLocator.resolve(model) : BundledModel.locate();
        if (sampler == null) sampler = model != null ? "euler_a" : BundledModel.sampler(modelPath);
        b.sampler(sampler);
        StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(modelPath,
                new LoadOptions(config, predictionType == null ? null : PredictionType.parse(predictionType), vae, !noSafetyChecker));
        if (watermark != null) checkWatermarkSize(pipeline, init);
        for (int i = 0; i < controlNets.size(); i++) {
            ControlNetModel net = ControlNets.load(ModelLocator.resolve(controlNets.get(i)), pipeline.model().unet().config(),
                    pipeline.modelName());
            String pre = pick(controlPreprocess, i, null);
            b.controlNet(new ControlNetUnit(net, controls.get(i), pick(controlScales, i, 1.0), pick(controlStarts, i, 0.0),
                    pick(controlEnds, i, 1.0), pre == null || pre.equals("none") ? null : pre));
        }
        GenerationRequest request = b.build();
        if (seed == null) err.println("seed: " + request.seed());
        ProgressBar bar = new ProgressBar(err, !quiet && ProgressBar.stderrIsTerminal(), "generating");
        GenerationResult result = pipeline.generate(request, (done, total) -> {
            bar.update(done, total);
            return true;
        });
        for (int i = 0; i < result.images().size(); i++) {
            Path file = outputFor(i);
            RgbImage image = result.images().get(i);
            // As Stability's scripts: the mark goes on after the safety checker, on every image written.
            if (watermark != null) image = InvisibleWatermark.encode(image, watermark);
            PngFiles.write(file, image, Map.of("parameters", result.parameters().get(i)));
            if (result.nsfw(i))
                err.println("jdiffusion: " + file + ": the safety checker flagged this image (potential NSFW content);"
                        + " it was written black (--no-safety-checker turns the checker off)");
            out.println(file);
        }
        return 0;
    }

    /** imwatermark refuses images under 256x256 pixels: say so before generating, not after. */
    private void checkWatermarkSize(StableDiffusionPipeline pipeline, RgbImage init) {
        int factor = pipeline.vaeScaleFactor();
        int w = width != null ? width : init != null ? init.width() / factor * factor : pipeline.model().defaultImageSize();
        int h = height != null ? height : init != null ? init.height() / factor * factor : pipeline.model().defaultImageSize();
        if ((long) w * h < InvisibleWatermark.MIN_PIXELS)
            throw new ParameterException(spec.commandLine(), "--watermark needs images of at least 256x256 pixels"
                    + " (imwatermark refuses smaller ones); these are " + w + "x" + h);
    }

    private void validate() {
        if (sampler != null && !Schedulers.names().contains(sampler))
            throw new ParameterException(spec.commandLine(), "unknown sampler '" + sampler + "'; valid samplers: "
                    + String.join(", ", Schedulers.names()));
        if (steps < 1) throw new ParameterException(spec.commandLine(), "--steps must be at least 1");
        if (batch < 1) throw new ParameterException(spec.commandLine(), "--batch must be at least 1");
        if (clipSkip < 1) throw new ParameterException(spec.commandLine(), "--clip-skip must be at least 1");
        // Multiples of the model's VAE factor (8 for real models) are checked once the model is known.
        if ((width != null && width <= 0) || (height != null && height <= 0))
            throw new ParameterException(spec.commandLine(), "--width and --height must be positive");
        if (initImage != null && !Files.isRegularFile(initImage))
            throw new ParameterException(spec.commandLine(), "--init-image " + initImage + ": file not found");
        if (initImage != null && !(strength > 0 && strength <= 1))
            throw new ParameterException(spec.commandLine(), "--strength must be in (0, 1], got " + strength);
        if (mask != null && !Files.isRegularFile(mask))
            throw new ParameterException(spec.commandLine(), "--mask " + mask + ": file not found");
        if (mask != null && initImage == null)
            throw new ParameterException(spec.commandLine(), "--mask needs --init-image (the picture to repaint)");
        if (paddingMaskCrop != null && mask == null)
            throw new ParameterException(spec.commandLine(), "--padding-mask-crop needs --mask");
        if (paddingMaskCrop != null && paddingMaskCrop < 0)
            throw new ParameterException(spec.commandLine(), "--padding-mask-crop must be at least 0, got " + paddingMaskCrop);
        int nets = controlNets.size();
        if (controlImages.size() != nets)
            throw new ParameterException(spec.commandLine(), "each --controlnet needs its --control-image: got " + nets
                    + " --controlnet and " + controlImages.size() + " --control-image");
        for (Path p : controlImages)
            if (!Files.isRegularFile(p)) throw new ParameterException(spec.commandLine(), "--control-image " + p + ": file not found");
        for (var o : List.of(Map.entry("--control-scale", controlScales.size()), Map.entry("--control-guidance-start", controlStarts.size()),
                Map.entry("--control-guidance-end", controlEnds.size()), Map.entry("--control-preprocess", controlPreprocess.size())))
            if (o.getValue() > 0 && (nets == 0 || (o.getValue() != 1 && o.getValue() != nets)))
                throw new ParameterException(spec.commandLine(), o.getKey() + " is given " + o.getValue() + " times for "
                        + nets + " --controlnet: give it once (for all) or once per ControlNet");
        if (guessMode && nets == 0) throw new ParameterException(spec.commandLine(), "--guess-mode needs --controlnet");
        for (int i = 0; i < nets; i++) {
            double s = pick(controlStarts, i, 0.0), e = pick(controlEnds, i, 1.0), scale = pick(controlScales, i, 1.0);
            if (!Double.isFinite(scale)) throw new ParameterException(spec.commandLine(), "--control-scale must be a number");
            if (!(s >= 0 && e <= 1 && s < e))
                throw new ParameterException(spec.commandLine(), "--control-guidance-start " + s + " and --control-guidance-end "
                        + e + " must satisfy 0 <= start < end <= 1");
            String pre = pick(controlPreprocess, i, null);
            if (pre != null && !pre.equals("none")) {
                try {
                    Canny.parseSpec(pre);
                } catch (IllegalArgumentException ex) {
                    throw new ParameterException(spec.commandLine(), "--control-preprocess: " + ex.getMessage());
                }
            }
        }
        if (watermark != null && watermark.isEmpty())
            throw new ParameterException(spec.commandLine(), "--watermark: the text is empty");
        try {
            PromptSyntax.parse(promptSyntax);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--prompt-syntax: " + e.getMessage());
        }
        for (String l : loras) parseLora(l);
        if (loraDir != null && !Files.isDirectory(loraDir))
            throw new ParameterException(spec.commandLine(), "--lora-dir " + loraDir + ": no such folder");
        if (embeddingsDir != null && !Files.isDirectory(embeddingsDir))
            throw new ParameterException(spec.commandLine(), "--embeddings-dir " + embeddingsDir + ": no such folder");
        if (predictionType != null) {
            try {
                PredictionType.parse(predictionType);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--prediction-type: " + e.getMessage());
            }
        }
    }

    /** The i-th value of a per-ControlNet option: its own, the only one given (for all), or the default. */
    private static <T> T pick(List<T> values, int i, T fallback) {
        if (values.isEmpty()) return fallback;
        return values.size() == 1 ? values.getFirst() : values.get(i);
    }

    /** A mask or control image in its own mode; a picture that cannot be read is one line naming the option. */
    private PilImage readImage(String option, Path file) {
        try {
            return PngFiles.readPixels(file);
        } catch (IOException e) {
            throw new ParameterException(spec.commandLine(), option + " " + e.getMessage());
        }
    }

    /**
     * PATH or PATH:SCALE: the text after the last ':' is the scale when it is a number (so "C:\\x.safetensors" and
     * names with colons stay paths).
     */
    private Lora parseLora(String arg) {
        int colon = arg.lastIndexOf(':');
        if (colon > 0) {
            String tail = arg.substring(colon + 1);
            try {
                double scale = Double.parseDouble(tail);
                if (!Double.isFinite(scale)) throw new NumberFormatException();
                return Lora.of(Path.of(arg.substring(0, colon)), scale);
            } catch (NumberFormatException e) {
                if (tail.matches("[-+.0-9eE]*"))
                    throw new ParameterException(spec.commandLine(), "--lora " + arg + ": the scale '" + tail + "' is not a number");
            }
        }
        return Lora.of(Path.of(arg), 1.0);
    }

    /** out.png, out-1.png, out-2.png, ... */
    private Path outputFor(int i) {
        if (i == 0) return output;
        String name = output.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name, ext = dot > 0 ? name.substring(dot) : ".png";
        return output.resolveSibling(stem + "-" + i + ext);
    }
}
