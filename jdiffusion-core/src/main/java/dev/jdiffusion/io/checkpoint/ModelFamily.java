package dev.jdiffusion.io.checkpoint;

/** The Stable Diffusion generations whose single-file checkpoints jdiffusion reads. */
public enum ModelFamily {
    /** SD 1.x: CLIP ViT-L/14 text encoder, cross-attention width 768. Built-in configs: SD 1.5. */
    SD1("Stable Diffusion 1.x", "sd15", 768),
    /** SD 2.x: OpenCLIP ViT-H/14 text encoder, cross-attention width 1024. Built-in configs: SD 2.1. */
    SD2("Stable Diffusion 2.x", "sd21", 1024);

    private final String label;
    private final String builtIn;
    private final int crossAttentionDim;

    ModelFamily(String label, String builtIn, int crossAttentionDim) {
        this.label = label;
        this.builtIn = builtIn;
        this.crossAttentionDim = crossAttentionDim;
    }

    /** For messages: "Stable Diffusion 1.x". */
    public String label() { return label; }

    /** The name of the built-in config set: "sd15" or "sd21". */
    public String builtInConfigs() { return builtIn; }

    /** The text embedding width of the published models. */
    public int crossAttentionDim() { return crossAttentionDim; }
}
