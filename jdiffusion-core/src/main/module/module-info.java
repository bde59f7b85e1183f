/**
 * jdiffusion: Stable Diffusion in pure Java (Vector API, FFM).
 *
 * <p>Start at {@link dev.jdiffusion.pipelines.StableDiffusionPipeline#fromPretrained(String)}.
 *
 * <p>Exported: the packages whose types a user of the library names in code (pipelines and their requests,
 * results and options; images; the exceptions and option values those take or throw; the Hugging Face cache
 * and downloader; the samplers). Not exported: the tensor engine, the model parts and file-format internals,
 * which change freely. A new package is exported only when a user needs one of its types to call the API
 * (see ARCHITECTURE.md, "The library's public API").
 */
module dev.jdiffusion {
    requires transitive java.desktop;            // java.awt.image.BufferedImage in RgbImage's API; ImageIO for PNG
    requires transitive com.fasterxml.jackson.databind;  // config.json, tokenizer, Hub answers (JsonConfig hands out JsonNode)
    requires java.net.http;                      // the Hugging Face Hub downloader
    requires jdk.incubator.vector;               // the kernels; on the module path this resolves it, no --add-modules

    // The public API (each type documented; a test checks).
    exports dev.jdiffusion.pipelines;
    exports dev.jdiffusion.image;
    exports dev.jdiffusion.io;                   // ModelFormatException: what a bad model file throws
    exports dev.jdiffusion.io.checkpoint;        // PredictionType (LoadOptions), ModelFamily, CheckpointConverter
    exports dev.jdiffusion.io.hub;               // HubDownloader, HubCache, RepoRef, ModelLocator
    exports dev.jdiffusion.schedulers;           // Schedulers.names(): the sampler names a request takes

    // Internal, not exported: dev.jdiffusion.tensor, dev.jdiffusion.models.*, dev.jdiffusion.io.ckpt.
}
