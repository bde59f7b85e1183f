package dev.jdiffusion.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.pipelines.Adapters;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.GenerationCancelledException;
import dev.jdiffusion.pipelines.GenerationParameters;
import dev.jdiffusion.pipelines.GenerationResult;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.pipelines.StepListener;
import dev.jdiffusion.pipelines.StepPreview;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * AUTOMATIC1111's HTTP API ({@code /sdapi/v1/...}, {@code /internal/...}) and the web page, over the library API:
 * requests are mapped by {@link RequestMapper}, computed one at a time by the {@link JobQueue}'s worker with
 * {@link StableDiffusionPipeline#generate}, and answered with A1111's JSON. Handles auth and CORS; every error is a
 * JSON answer naming the field.
 */
final class SdApi {
    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss");
    private static final DateTimeFormatter DAY = DateTimeFormatter.ofPattern("yyyy-MM-dd");
    private static final Map<String, String> WEB = Map.of(
            "/", "index.html", "/index.html", "index.html", "/app.js", "app.js", "/style.css", "style.css");

    private final ServerOptions options;
    private final ModelRegistry registry;
    private final ServerSettings settings;
    private final JobQueue queue;
    private final Progress progress = new Progress();
    private final Map<String, byte[]> web = new HashMap<>();
    private final Map<Path, Integer> nextFileNumber = new HashMap<>();
    private volatile int port;

    SdApi(ServerOptions options) {
        this.options = options;
        if (options.loraDir() != null && !Files.isDirectory(options.loraDir()))
            throw new IllegalArgumentException("--lora-dir " + options.loraDir() + ": not a folder");
        if (options.embeddingsDir() != null && !Files.isDirectory(options.embeddingsDir()))
            throw new IllegalArgumentException("--embeddings-dir " + options.embeddingsDir() + ": not a folder");
        this.registry = new ModelRegistry(options.model(), options.modelsDir(), options.loadOptions());
        this.registry.pipeline(registry.initialCheckpoint());  // a broken model fails at start, not at the first request
        this.settings = new ServerSettings(registry, options.outputDir());
        this.queue = new JobQueue(options.queueSize());
        for (String file : WEB.values()) {
            try (InputStream in = SdApi.class.getResourceAsStream("web/" + file)) {
                if (in == null) throw new IllegalStateException("web page resource missing: " + file);
                web.put(file, in.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    void port(int port) { this.port = port; }

    void close() { queue.close(); }

    int waitingJobs() { return queue.waitingCount(); }

    String modelTitle() { return settings.checkpoint().title(); }

    // ---------------------------------------------------------------------------------------------- dispatch

    HttpExchange.Response handle(HttpExchange ex) {
        String origin = ex.header("origin");
        boolean corsAllowed = origin != null && (options.corsOrigins().contains("*") || options.corsOrigins().contains(origin));
        HttpExchange.Response r;
        if (ex.method().equals("OPTIONS") && corsAllowed && ex.header("access-control-request-method") != null) {
            r = new HttpExchange.Response(200, "text/plain", new byte[0], new java.util.LinkedHashMap<>())
                    .withHeader("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                    .withHeader("Access-Control-Allow-Headers",
                            ex.header("access-control-request-headers") != null ? ex.header("access-control-request-headers") : "*")
                    .withHeader("Access-Control-Max-Age", "600");
        } else {
            try {
                if (!authorized(ex)) {
                    r = error(new ApiException(401, null, "Incorrect username or password"))
                            .withHeader("WWW-Authenticate", "Basic realm=\"jdiffusion\"");
                } else {
                    r = route(ex);
                }
            } catch (ApiException e) {
                r = error(e);
            } catch (OutOfMemoryError e) {
                r = error(new ApiException(500, null, "out of memory; make smaller images or batches, or give Java more (JDIFFUSION_JAVA_OPTS=-Xmx...)"));
            } catch (ModelFormatException | UncheckedIOException e) {
                r = error(new ApiException(500, null, e.getMessage()));
            } catch (IllegalArgumentException e) {
                r = error(new ApiException(422, null, e.getMessage()));
            } catch (RuntimeException e) {
                r = error(new ApiException(500, null, "internal error: " + e));
            }
        }
        if (r == null) return null;
        if (corsAllowed) {
            r = r.withHeader("Access-Control-Allow-Origin", origin).withHeader("Access-Control-Allow-Credentials", "true")
                    .withHeader("Vary", "Origin");
        }
        return r;
    }

    private HttpExchange.Response route(HttpExchange ex) throws ApiException {
        String path = ex.path(), m = ex.method();
        if (m.equals("GET") && WEB.containsKey(path)) return web(WEB.get(path));
        String key = m + " " + path;
        return switch (key) {
            case "POST /sdapi/v1/txt2img" -> generate(ex, false);
            case "POST /sdapi/v1/img2img" -> generate(ex, true);
            case "GET /sdapi/v1/progress" -> json(progressJson(!"true".equalsIgnoreCase(ex.query().get("skip_current_image"))));
            case "POST /internal/progress" -> json(internalProgress(body(ex)));
            case "POST /sdapi/v1/interrupt" -> {
                progress.interrupt();
                yield json(NODES.objectNode());
            }
            case "POST /sdapi/v1/skip" -> {
                progress.skip();
                yield json(NODES.objectNode());
            }
            case "POST /sdapi/v1/png-info" -> json(pngInfo(body(ex)));
            case "GET /sdapi/v1/options" -> json(settings.toJson());
            case "POST /sdapi/v1/options" -> {
                settings.update(body(ex));
                yield json(NODES.objectNode());
            }
            case "GET /sdapi/v1/sd-models" -> json(sdModels());
            case "POST /sdapi/v1/refresh-checkpoints" -> {
                registry.refresh();
                yield json(NODES.objectNode());
            }
            case "GET /sdapi/v1/samplers" -> json(samplers());
            case "GET /sdapi/v1/schedulers" -> json(schedulers());
            case "GET /sdapi/v1/memory" -> json(memory());
            case "GET /sdapi/v1/cmd-flags" -> json(cmdFlags());
            case "GET /sdapi/v1/scripts" -> {
                ObjectNode o = NODES.objectNode();
                o.putArray("txt2img");
                o.putArray("img2img");
                yield json(o);
            }
            case "GET /sdapi/v1/loras" -> json(loras());
            case "GET /sdapi/v1/embeddings" -> json(embeddings());
            case "GET /sdapi/v1/sd-vae", "GET /sdapi/v1/script-info", "GET /sdapi/v1/upscalers",
                 "GET /sdapi/v1/latent-upscale-modes", "GET /sdapi/v1/hypernetworks", "GET /sdapi/v1/face-restorers",
                 "GET /sdapi/v1/realesrgan-models", "GET /sdapi/v1/prompt-styles", "GET /sdapi/v1/extensions" -> json(NODES.arrayNode());
            case "POST /sdapi/v1/refresh-vae", "POST /sdapi/v1/refresh-embeddings", "POST /sdapi/v1/refresh-loras" -> json(NODES.objectNode());
            case "GET /internal/ping" -> json(NODES.objectNode());
            default -> {
                boolean known = WEB.containsKey(path) || ROUTES.stream().anyMatch(r -> r.endsWith(" " + path));
                throw known ? new ApiException(405, null, "Method Not Allowed") : new ApiException(404, null, "Not Found");
            }
        };
    }

    private static final List<String> ROUTES = List.of("POST /sdapi/v1/txt2img", "POST /sdapi/v1/img2img",
            "GET /sdapi/v1/progress", "POST /internal/progress", "POST /sdapi/v1/interrupt", "POST /sdapi/v1/skip",
            "POST /sdapi/v1/png-info", "GET /sdapi/v1/options", "GET /sdapi/v1/sd-models", "POST /sdapi/v1/refresh-checkpoints",
            "GET /sdapi/v1/samplers", "GET /sdapi/v1/schedulers", "GET /sdapi/v1/memory", "GET /sdapi/v1/cmd-flags",
            "GET /sdapi/v1/scripts", "GET /sdapi/v1/loras", "GET /sdapi/v1/embeddings", "GET /sdapi/v1/sd-vae",
            "GET /internal/ping");

    private boolean authorized(HttpExchange ex) {
        if (options.credentials().isEmpty() || ex.path().equals("/internal/ping")) return true;
        String h = ex.header("authorization");
        if (h == null || !h.regionMatches(true, 0, "Basic ", 0, 6)) return false;
        String decoded;
        try {
            decoded = new String(Base64.getDecoder().decode(h.substring(6).strip()), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return false;
        }
        int colon = decoded.indexOf(':');
        if (colon < 0) return false;
        String expected = options.credentials().get(decoded.substring(0, colon));
        return expected != null && MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8),
                decoded.substring(colon + 1).getBytes(StandardCharsets.UTF_8));
    }

    // ---------------------------------------------------------------------------------------------- generation

    /** What a finished job hands back to its request. */
    private record Outcome(List<RgbImage> images, List<String> infotexts, List<Boolean> nsfw, String jobTimestamp, String modelName) {}

    private HttpExchange.Response generate(HttpExchange ex, boolean img2img) {
        JsonNode body = body(ex);
        String taskId = taskId(body);
        GenerationPlan plan = img2img
                ? RequestMapper.img2img(body, options, settings, registry, taskId)
                : RequestMapper.txt2img(body, options, settings, registry, taskId);
        JobQueue.Job job = queue.submit(taskId, j -> run(plan, j));
        ex.onDisconnect(() -> queue.cancel(job));
        Outcome outcome;
        try {
            outcome = (Outcome) job.result.get();
        } catch (CancellationException e) {
            return null;  // the client left while waiting
        } catch (InterruptedException e) {
            queue.cancel(job);
            Thread.currentThread().interrupt();
            return null;
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof GenerationCancelledException) return null;  // the client left while computing
            if (cause instanceof ApiException a) throw a;
            if (cause instanceof OutOfMemoryError o) throw o;
            if (cause instanceof ModelFormatException mf) throw mf;
            if (cause instanceof IllegalArgumentException ia) throw ia;
            if (cause instanceof UncheckedIOException u) throw u;
            throw new ApiException(500, null, "internal error: " + cause);
        } finally {
            ex.clearOnDisconnect();
        }
        return json(generationResponse(plan, outcome));
    }

    private static String taskId(JsonNode body) {
        JsonNode forced = body == null ? null : body.get("force_task_id");
        if (forced != null && forced.isTextual() && !forced.asText().isBlank()) {
            if (forced.asText().length() > 200) throw ApiException.badField("force_task_id", "longer than 200 characters");
            return forced.asText();
        }
        String chars = "abcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder sb = new StringBuilder("task(");
        for (int i = 0; i < 15; i++) sb.append(chars.charAt(ThreadLocalRandom.current().nextInt(chars.length())));
        return sb.append(')').toString();
    }

    /** The job: the plan's images one at a time on the worker thread (A1111's process_images). */
    private Outcome run(GenerationPlan plan, JobQueue.Job job) throws IOException {
        StableDiffusionPipeline pipeline = registry.pipeline(plan.checkpoint());
        LocalDateTime now = LocalDateTime.now();
        progress.begin(plan.taskId(), plan.img2img() ? "scripts_img2img" : "scripts_txt2img", plan.imageCount(), STAMP.format(now));
        try {
            List<RgbImage> images = new ArrayList<>();
            List<String> infotexts = new ArrayList<>();
            List<Boolean> nsfw = new ArrayList<>();
            for (int i = 0; i < plan.imageCount(); i++) {
                if (progress.interrupted() || job.cancelled) break;
                progress.nextImage(i);
                GenerationResult r = pipeline.generate(plan.request(i), listener(job, pipeline));
                images.add(r.images().getFirst());
                infotexts.add(r.parameters().getFirst());
                nsfw.add(r.nsfw(0));
            }
            if (job.cancelled) throw new GenerationCancelledException(0, 0);
            if (plan.saveImages()) save(plan, images, infotexts, now);
            if (plan.keepCheckpoint()) settings.checkpoint(plan.checkpoint());
            return new Outcome(images, infotexts, nsfw, STAMP.format(now), pipeline.modelName());
        } finally {
            progress.end();
        }
    }

    private StepListener listener(JobQueue.Job job, StableDiffusionPipeline pipeline) {
        return new StepListener() {
            @Override
            public boolean onStep(int step, int totalSteps) {
                progress.step(step, totalSteps);
                return !(job.cancelled || progress.interrupted() || progress.skipped());
            }

            @Override
            public boolean keepPartialResult() { return !job.cancelled; }

            @Override
            public boolean wantsPreview(int step, int totalSteps) { return step < totalSteps && settings.previewAt(step); }

            @Override
            public void onPreview(StepPreview p) {
                if (settings.fullPreviews()) {
                    progress.preview(null, pipeline.decodeLatents(p.denoised(), p.batch(), p.channels(), p.height(), p.width()).getFirst());
                } else {
                    progress.preview(p, null);
                }
            }
        };
    }

    /** A1111's outputs layout: {@code <output>/txt2img-images/<yyyy-MM-dd>/<NNNNN>-<seed>.png}; names never come from the client. */
    private void save(GenerationPlan plan, List<RgbImage> images, List<String> infotexts, LocalDateTime now) throws IOException {
        Path dir = options.outputDir().resolve(plan.img2img() ? "img2img-images" : "txt2img-images").resolve(DAY.format(now));
        Files.createDirectories(dir);
        int next = nextFileNumber.computeIfAbsent(dir, SdApi::firstFreeNumber);
        for (int i = 0; i < images.size(); i++) {
            Path file = dir.resolve(String.format(Locale.ROOT, "%05d-%d.png", next++, plan.seeds().get(i)));
            PngFiles.write(file, images.get(i), Map.of("parameters", infotexts.get(i)));
        }
        nextFileNumber.put(dir, next);
    }

    private static int firstFreeNumber(Path dir) {
        int max = -1;
        try (var files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                String n = p.getFileName().toString();
                int dash = n.indexOf('-');
                if (dash > 0 && n.substring(0, dash).chars().allMatch(Character::isDigit))
                    max = Math.max(max, Integer.parseInt(n.substring(0, dash)));
            }
        } catch (IOException | NumberFormatException e) {
            // start at 0 in an unreadable folder; writing will report the problem
        }
        return max + 1;
    }

    /** A1111's TextToImageResponse / ImageToImageResponse: images, parameters, and info (a JSON string). */
    private ObjectNode generationResponse(GenerationPlan plan, Outcome o) {
        ObjectNode resp = NODES.objectNode();
        ArrayNode images = resp.putArray("images");
        if (plan.sendImages()) {
            for (int i = 0; i < o.images().size(); i++)
                images.add(Base64.getEncoder().encodeToString(PngFiles.encode(o.images().get(i), Map.of("parameters", o.infotexts().get(i)))));
        }
        resp.set("parameters", plan.parameters());
        ObjectNode info = NODES.objectNode();
        int n = plan.imageCount();
        info.put("prompt", plan.prompt());
        info.set("all_prompts", RequestMapper.strings(java.util.Collections.nCopies(n, plan.prompt())));
        info.put("negative_prompt", plan.negativePrompt());
        info.set("all_negative_prompts", RequestMapper.strings(java.util.Collections.nCopies(n, plan.negativePrompt())));
        info.put("seed", plan.seeds().getFirst());
        ArrayNode seeds = info.putArray("all_seeds");
        plan.seeds().forEach(seeds::add);
        info.put("subseed", plan.subseeds().getFirst());
        ArrayNode subseeds = info.putArray("all_subseeds");
        plan.subseeds().forEach(subseeds::add);
        info.put("subseed_strength", 0);
        info.put("width", plan.width());
        info.put("height", plan.height());
        Map<String, String> names = Samplers.a1111Names(plan.sampler().ours());
        info.put("sampler_name", names.get("sampler_name"));
        info.put("cfg_scale", plan.cfgScale());
        info.put("steps", plan.steps());
        info.put("batch_size", plan.batchSize());
        info.put("restore_faces", false);
        info.putNull("face_restoration_model");
        info.put("sd_model_name", o.modelName());
        info.putNull("sd_model_hash");
        info.putNull("sd_vae_name");
        info.putNull("sd_vae_hash");
        info.put("seed_resize_from_w", -1);
        info.put("seed_resize_from_h", -1);
        if (plan.img2img()) info.put("denoising_strength", plan.denoisingStrength());
        else info.putNull("denoising_strength");
        ObjectNode extra = info.putObject("extra_generation_params");
        extra.put("Schedule type", names.get("scheduler"));
        info.put("index_of_first_image", 0);
        info.set("infotexts", RequestMapper.strings(o.infotexts()));
        info.putArray("styles");
        info.put("job_timestamp", o.jobTimestamp());
        info.put("clip_skip", plan.clipSkip());
        info.put("is_using_inpainting_conditioning", false);
        info.put("version", "jdiffusion");
        // The safety checker's flag per image (flagged images come back black); all false without a checker.
        ArrayNode nsfw = info.putArray("nsfw");
        o.nsfw().forEach(nsfw::add);
        resp.put("info", write(info));
        return resp;
    }

    // ---------------------------------------------------------------------------------------------- progress

    private ObjectNode stateJson(Progress.Snapshot s) {
        ObjectNode st = NODES.objectNode();
        st.put("skipped", s.skipped());
        st.put("interrupted", s.interrupted());
        st.put("stopping_generation", false);
        st.put("job", s.job());
        st.put("job_count", s.jobCount());
        st.put("job_timestamp", s.jobTimestamp());
        st.put("job_no", s.jobNo());
        st.put("sampling_step", s.samplingStep());
        st.put("sampling_steps", s.samplingSteps());
        return st;
    }

    /** A1111's progress: 0.01 + done images + the running image's share of steps; eta from the time so far. */
    private static double fraction(Progress.Snapshot s) {
        double p = 0;
        if (s.jobCount() > 0) p += (double) s.jobNo() / s.jobCount();
        if (s.samplingSteps() > 0 && s.jobCount() > 0) p += 1.0 / s.jobCount() * s.samplingStep() / s.samplingSteps();
        return p;
    }

    private ObjectNode progressJson(boolean withImage) {
        Progress.Snapshot s = progress.snapshot();
        ObjectNode o = NODES.objectNode();
        if (s.jobCount() == 0 || s.taskId() == null) {
            o.put("progress", 0.0);
            o.put("eta_relative", 0.0);
            o.set("state", stateJson(s));
            o.putNull("current_image");
            o.putNull("textinfo");
            o.putNull("current_task");
            return o;
        }
        double p = 0.01 + fraction(s);
        double elapsed = (System.nanoTime() - s.timeStartNanos()) / 1e9;
        o.put("progress", Math.min(p, 1));
        o.put("eta_relative", elapsed / p - elapsed);
        o.set("state", stateJson(s));
        RgbImage preview = withImage ? progress.previewImage() : null;
        if (preview != null) o.put("current_image", Base64.getEncoder().encodeToString(PngFiles.encode(preview, Map.of())));
        else o.putNull("current_image");
        o.putNull("textinfo");
        o.put("current_task", s.taskId());
        return o;
    }

    /** The web UI's progress of one task ({@code force_task_id}): queued, active or completed, and its live preview. */
    private ObjectNode internalProgress(JsonNode body) {
        if (!body.isObject() || !body.path("id_task").isTextual()) throw ApiException.badField("id_task", "must be a task id string");
        String id = body.get("id_task").asText();
        long lastPreview = body.path("id_live_preview").asLong(-1);
        boolean wantPreview = body.path("live_preview").asBoolean(true);
        Progress.Snapshot s = progress.snapshot();
        boolean active = id.equals(s.taskId()) && queue.isActive(id);
        int place = queue.position(id);
        ObjectNode o = NODES.objectNode();
        o.put("active", active);
        o.put("queued", place > 0);
        o.put("completed", queue.isFinished(id));
        if (!active) {
            o.putNull("progress");
            o.putNull("eta");
            o.putNull("live_preview");
            o.put("id_live_preview", -1);
            o.put("textinfo", place > 0 ? "In queue: " + place + "/" + queue.waitingCount() : "Waiting...");
            return o;
        }
        double p = Math.min(fraction(s), 1);
        double elapsed = (System.nanoTime() - s.timeStartNanos()) / 1e9;
        o.put("progress", p);
        if (p > 0) o.put("eta", elapsed / p - elapsed);
        else o.putNull("eta");
        o.put("id_live_preview", lastPreview);
        o.putNull("live_preview");
        if (wantPreview && s.previewId() != lastPreview) {
            RgbImage preview = progress.previewImage();
            if (preview != null) {
                o.put("live_preview", "data:image/png;base64," + Base64.getEncoder().encodeToString(PngFiles.encode(preview, Map.of())));
                o.put("id_live_preview", s.previewId());
            }
        }
        o.put("textinfo", "Step " + s.samplingStep() + "/" + s.samplingSteps()
                + (s.jobCount() > 1 ? ", image " + (s.jobNo() + 1) + "/" + s.jobCount() : ""));
        return o;
    }

    // ---------------------------------------------------------------------------------------------- other endpoints

    private ObjectNode pngInfo(JsonNode body) {
        if (!body.isObject() || !body.path("image").isTextual()) throw ApiException.badField("image", "must be a base64 image string");
        PngFiles.Read read = RequestMapper.decodeImage(body.get("image").asText(), "image", options.limits().maxInputPixels());
        Map<String, String> text = new java.util.LinkedHashMap<>(read.text());
        String info = text.remove("parameters");
        ObjectNode o = NODES.objectNode();
        o.put("info", info == null ? "" : info);
        ObjectNode items = o.putObject("items");
        text.forEach(items::put);
        ObjectNode params = o.putObject("parameters");
        if (info != null) GenerationParameters.parse(info).forEach(params::put);
        return o;
    }

    private ArrayNode sdModels() {
        ArrayNode a = NODES.arrayNode();
        for (ModelRegistry.Checkpoint c : registry.checkpoints()) {
            ObjectNode o = a.addObject();
            o.put("title", c.title());
            o.put("model_name", c.modelName());
            o.putNull("hash");
            o.putNull("sha256");
            o.put("filename", c.path().toString());
            o.putNull("config");
        }
        return a;
    }

    /**
     * A1111's /sdapi/v1/loras: the LoRA files in --lora-dir and below (.safetensors, .pt, .ckpt, as a prompt's
     * {@code <lora:NAME:...>} tag finds them), read afresh on each call. name and alias are the file's stem (what a tag
     * names); metadata is the safetensors header's {@code __metadata__}, JSON-looking values parsed as A1111 does.
     */
    private ArrayNode loras() {
        ArrayNode a = NODES.arrayNode();
        Path dir = options.loraDir();
        if (dir == null) return a;
        List<Path> files;
        try (var walk = Files.walk(dir, java.nio.file.FileVisitOption.FOLLOW_LINKS)) {
            files = walk.filter(Files::isRegularFile).filter(f -> {
                String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
                return !n.startsWith(".") && (n.endsWith(".safetensors") || n.endsWith(".pt") || n.endsWith(".ckpt"));
            }).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("reading the LoRA folder " + dir + ": " + e.getMessage(), e);
        }
        for (Path f : files) {
            String name = f.getFileName().toString();
            String stem = name.substring(0, name.lastIndexOf('.'));
            ObjectNode o = a.addObject();
            o.put("name", stem);
            o.put("alias", stem);
            o.put("path", f.toAbsolutePath().normalize().toString());
            o.set("metadata", safetensorsMetadata(f));
        }
        return a;
    }

    /** A safetensors file's __metadata__ (A1111's read_metadata_from_safetensors); {} for other or unreadable files. */
    private static ObjectNode safetensorsMetadata(Path file) {
        ObjectNode m = NODES.objectNode();
        if (!file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) return m;
        Map<String, String> metadata;
        try {
            metadata = SafeTensors.open(file).metadata();
        } catch (RuntimeException e) {
            return m;  // A1111 lists a LoRA whose metadata it cannot read with none
        }
        metadata.forEach((k, v) -> {
            if (v.startsWith("{")) {
                try {
                    m.set(k, JSON.readTree(v));
                    return;
                } catch (IOException e) {
                    // not JSON after all: kept as text
                }
            }
            m.put(k, v);
        });
        return m;
    }

    /**
     * A1111's /sdapi/v1/embeddings for the current model: the embeddings in --embeddings-dir read as a request reads
     * them (the library's textual-inversion loader), "loaded" those whose vectors fit the model's text encoder and
     * "skipped" the others (made for another architecture). Keys are the trigger words a prompt uses.
     */
    private ObjectNode embeddings() {
        ObjectNode o = NODES.objectNode();
        ObjectNode loaded = o.putObject("loaded"), skipped = o.putObject("skipped");
        Path dir = options.embeddingsDir();
        if (dir == null) return o;
        StableDiffusionPipeline pipeline = registry.pipeline(settings.checkpoint());
        Adapters adapters = Adapters.of(GenerationRequest.builder("").embeddingsDirectory(dir).build());
        var found = pipeline.model().withAdapters(adapters).embeddings();
        for (var e : found.entries()) embedding(loaded, e.trigger(), e.embedding().width(), e.count());
        for (var e : found.skipped()) embedding(skipped, e.trigger(), e.embedding().width(), e.count());
        return o;
    }

    private static void embedding(ObjectNode into, String name, int width, int vectors) {
        ObjectNode e = into.putObject(name);
        e.putNull("step");
        e.putNull("sd_checkpoint");
        e.putNull("sd_checkpoint_name");
        e.put("shape", width);
        e.put("vectors", vectors);
    }

    private static ArrayNode samplers() {
        ArrayNode a = NODES.arrayNode();
        for (Samplers.Sampler s : Samplers.ALL) {
            ObjectNode o = a.addObject();
            o.put("name", s.name());
            o.set("aliases", RequestMapper.strings(s.aliases()));
            ObjectNode opts = o.putObject("options");
            s.options().forEach(opts::put);
        }
        return a;
    }

    private static ArrayNode schedulers() {
        ArrayNode a = NODES.arrayNode();
        for (Samplers.Schedule s : Samplers.SCHEDULES) {
            ObjectNode o = a.addObject();
            o.put("name", s.name());
            o.put("label", s.label());
            o.set("aliases", s.aliases().isEmpty() ? NODES.nullNode() : RequestMapper.strings(s.aliases()));
            o.put("default_rho", s.defaultRho());
            o.put("need_inner_model", s.needInnerModel());
        }
        return a;
    }

    /** A1111's memory: the process's resident memory against the machine's; no CUDA here. Plus the Java heap. */
    private static ObjectNode memory() {
        ObjectNode o = NODES.objectNode();
        ObjectNode ram = o.putObject("ram");
        long rss = procKb("/proc/self/status", "VmRSS:") * 1024, total = procKb("/proc/meminfo", "MemTotal:") * 1024;
        if (rss > 0 && total > 0) {
            ram.put("free", total - rss);
            ram.put("used", rss);
            ram.put("total", total);
        } else {
            ram.put("error", "memory figures are read from /proc, which this system does not have");
        }
        o.putObject("cuda").put("error", "unavailable");
        var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        ObjectNode jvm = o.putObject("jvm");
        jvm.put("heap_used", heap.getUsed());
        jvm.put("heap_committed", heap.getCommitted());
        jvm.put("heap_max", heap.getMax());
        return o;
    }

    private static long procKb(String file, String key) {
        try {
            for (String line : Files.readAllLines(Path.of(file))) {
                if (line.startsWith(key)) return Long.parseLong(line.substring(key.length()).strip().split("\\s+")[0]);
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    private ObjectNode cmdFlags() {
        ObjectNode o = NODES.objectNode();
        o.put("api", true);
        o.put("nowebui", false);
        o.put("listen", !isLoopback(options.host()));
        o.put("server_name", options.host());
        o.put("port", port);
        o.put("api_auth", options.credentials().isEmpty() ? null : "<set>");
        o.put("ckpt", options.model().toString());
        o.put("ckpt_dir", options.modelsDir() == null ? null : options.modelsDir().toString());
        o.put("lora_dir", options.loraDir() == null ? null : options.loraDir().toString());
        o.put("embeddings_dir", options.embeddingsDir() == null ? null : options.embeddingsDir().toString());
        o.put("cors_allow_origins", String.join(",", options.corsOrigins()));
        o.put("queue_size", options.queueSize());
        return o;
    }

    static boolean isLoopback(String host) {
        try {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    // ---------------------------------------------------------------------------------------------- helpers

    private HttpExchange.Response web(String file) {
        String type = file.endsWith(".html") ? "text/html; charset=utf-8" : file.endsWith(".js")
                ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
        return new HttpExchange.Response(200, type, web.get(file), new java.util.LinkedHashMap<>())
                .withHeader("Cache-Control", "no-cache");
    }

    private static JsonNode body(HttpExchange ex) {
        if (ex.body().length == 0) throw new ApiException(400, null, "the request has no body; send JSON");
        try {
            return JSON.readTree(ex.body());
        } catch (IOException e) {
            String msg = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
            throw new ApiException(400, null, "invalid JSON: " + msg);
        }
    }

    private static HttpExchange.Response json(JsonNode node) { return HttpExchange.Response.json(200, write(node)); }

    private static String write(JsonNode node) {
        try {
            return JSON.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    static HttpExchange.Response error(ApiException e) {
        ObjectNode o = NODES.objectNode();
        o.put("error", e.errorName());
        o.put("detail", e.getMessage());
        if (e.field != null) o.put("field", e.field);
        else o.putNull("field");
        return HttpExchange.Response.json(e.status, write(o));
    }
}
