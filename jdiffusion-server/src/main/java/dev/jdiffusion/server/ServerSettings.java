package dev.jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.file.Path;
import java.util.Map;

/**
 * The A1111 options this server has (GET/POST /sdapi/v1/options): the current checkpoint, CLIP skip and the live
 * preview settings can be changed; the output folders and formats are shown but fixed (a client never chooses
 * where the server writes). Unknown keys are ignored, as A1111 ignores them.
 */
final class ServerSettings {
    static final String APPROX_CHEAP = "Approx cheap", FULL = "Full";

    private final ModelRegistry registry;
    private final Path outputDir;
    private ModelRegistry.Checkpoint checkpoint;
    private int clipSkip = 1;
    private boolean livePreviews = true;
    private int previewEveryNSteps = 1;
    private String previewType = APPROX_CHEAP;

    ServerSettings(ModelRegistry registry, Path outputDir) {
        this.registry = registry;
        this.outputDir = outputDir;
        this.checkpoint = registry.initialCheckpoint();
    }

    synchronized ModelRegistry.Checkpoint checkpoint() { return checkpoint; }

    synchronized void checkpoint(ModelRegistry.Checkpoint c) { checkpoint = c; }

    synchronized int clipSkip() { return clipSkip; }

    /** Steps at which the worker makes a preview: every n-th (and never when live previews are off or n < 1). */
    synchronized boolean previewAt(int step) { return livePreviews && previewEveryNSteps > 0 && step % previewEveryNSteps == 0; }

    synchronized boolean fullPreviews() { return FULL.equals(previewType); }

    synchronized ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("sd_model_checkpoint", checkpoint.title());
        o.putNull("sd_checkpoint_hash");
        o.put("sd_vae", "Automatic");
        o.put("CLIP_stop_at_last_layers", clipSkip);
        o.put("live_previews_enable", livePreviews);
        o.put("show_progress_every_n_steps", previewEveryNSteps);
        o.put("show_progress_type", previewType);
        o.put("samples_save", true);
        o.put("samples_format", "png");
        o.put("enable_pnginfo", true);
        o.put("outdir_samples", "");
        o.put("outdir_txt2img_samples", outputDir.resolve("txt2img-images").toString());
        o.put("outdir_img2img_samples", outputDir.resolve("img2img-images").toString());
        o.put("eta_noise_seed_delta", 0);
        o.put("sd_vae_as_default", true);
        return o;
    }

    /**
     * Applies POST /sdapi/v1/options: every known key is checked before any is changed.
     *
     * @throws ApiException naming the key when a value is of the wrong type or a model is not listed
     */
    synchronized void update(JsonNode body) {
        if (!body.isObject()) throw new ApiException(422, null, "the options must be a JSON object");
        ModelRegistry.Checkpoint newCheckpoint = checkpoint;
        int newClipSkip = clipSkip, newEvery = previewEveryNSteps;
        boolean newLive = livePreviews;
        String newType = previewType;
        for (Map.Entry<String, JsonNode> e : body.properties()) {
            String k = e.getKey();
            JsonNode v = e.getValue();
            switch (k) {
                case "sd_model_checkpoint" -> {
                    if (!v.isTextual()) throw ApiException.badField(k, "must be a model title (see /sdapi/v1/sd-models)");
                    newCheckpoint = registry.find(v.asText(), k);
                    registry.pipeline(newCheckpoint);  // load now: a broken file is this request's error
                }
                case "CLIP_stop_at_last_layers" -> newClipSkip = clipSkipValue(k, v);
                case "live_previews_enable" -> {
                    if (!v.isBoolean()) throw ApiException.badField(k, "must be true or false");
                    newLive = v.asBoolean();
                }
                case "show_progress_every_n_steps" -> {
                    if (!v.canConvertToInt() || !v.isIntegralNumber()) throw ApiException.badField(k, "must be an integer");
                    newEvery = v.asInt();
                }
                case "show_progress_type" -> {
                    if (!v.isTextual() || !(v.asText().equals(APPROX_CHEAP) || v.asText().equals(FULL)))
                        throw ApiException.badField(k, "must be \"" + APPROX_CHEAP + "\" or \"" + FULL + "\"");
                    newType = v.asText();
                }
                case "sd_vae" -> {
                    if (!v.isTextual() || !(v.asText().equals("Automatic") || v.asText().equals("None")))
                        throw ApiException.badField(k, "only \"Automatic\" is available (start the server with --vae to use another VAE)");
                }
                default -> { /* unknown or fixed options are ignored, as A1111 ignores unknown keys */ }
            }
        }
        checkpoint = newCheckpoint;
        clipSkip = newClipSkip;
        livePreviews = newLive;
        previewEveryNSteps = newEvery;
        previewType = newType;
    }

    static int clipSkipValue(String field, JsonNode v) {
        if (!v.isIntegralNumber() || v.asLong() < 1 || v.asLong() > 12)
            throw ApiException.badField(field, "must be an integer from 1 to 12, got " + v);
        return v.asInt();
    }
}
