package dev.jdiffusion.server;

import dev.jdiffusion.pipelines.LoadOptions;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * How {@code jdiffusion serve} runs.
 *
 * @param model          the model loaded at start (a diffusers folder or a single-file checkpoint)
 * @param modelsDir      a folder of further checkpoints that {@code sd_model_checkpoint} may switch to, or null
 * @param loadOptions    how models are loaded (config folder, prediction type, VAE)
 * @param host           the address to bind (loopback by default)
 * @param port           the port; 0 picks a free one
 * @param credentials    user → password for HTTP basic auth of every endpoint but /internal/ping; empty: none
 * @param queueSize      how many jobs may wait behind the running one; more are refused with 503 at once
 * @param corsOrigins    origins allowed to call the API from a browser ("*" for any); empty: no CORS headers
 * @param outputDir      where {@code save_images} writes (A1111's outputs/ layout); nothing is written elsewhere
 * @param limits         request limits
 * @param loraDir        where a prompt's {@code <lora:NAME:SCALE>} tags find NAME.safetensors (A1111's models/Lora),
 *                       listed by /sdapi/v1/loras; null: none (a prompt with a LoRA tag is refused)
 * @param embeddingsDir  textual-inversion embeddings every prompt may use (A1111's embeddings/), listed by
 *                       /sdapi/v1/embeddings; null: none
 */
public record ServerOptions(Path model, Path modelsDir, LoadOptions loadOptions, String host, int port,
                            Map<String, String> credentials, int queueSize, List<String> corsOrigins, Path outputDir,
                            Limits limits, Path loraDir, Path embeddingsDir) {
    public ServerOptions {
        credentials = Map.copyOf(credentials);
        corsOrigins = List.copyOf(corsOrigins);
        if (queueSize < 0) throw new IllegalArgumentException("--queue-size must be 0 or more, got " + queueSize);
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be 0 to 65535, got " + port);
    }

    /** Options without a LoRA folder or an embeddings folder. */
    public ServerOptions(Path model, Path modelsDir, LoadOptions loadOptions, String host, int port,
                         Map<String, String> credentials, int queueSize, List<String> corsOrigins, Path outputDir,
                         Limits limits) {
        this(model, modelsDir, loadOptions, host, port, credentials, queueSize, corsOrigins, outputDir, limits, null, null);
    }

    /** These options with a LoRA folder and an embeddings folder (either may be null). */
    public ServerOptions withAdapterFolders(Path loraFolder, Path embeddingsFolder) {
        return new ServerOptions(model, modelsDir, loadOptions, host, port, credentials, queueSize, corsOrigins, outputDir,
                limits, loraFolder, embeddingsFolder);
    }
}
