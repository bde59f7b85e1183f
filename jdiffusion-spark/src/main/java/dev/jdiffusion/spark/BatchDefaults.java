package dev.jdiffusion.spark;

import java.io.Serial;
import java.io.Serializable;

/**
 * What a row that leaves a column out gets: the defaults of {@code jdiffusion generate} unless the job says
 * otherwise, and the job seed from which rows without a seed derive theirs.
 *
 * @param jobSeed        mixed with a row's id into the seed of a row without one ({@link BatchRow#derivedSeed})
 * @param negativePrompt negative prompt (default: none)
 * @param steps          denoising steps (default: 20)
 * @param guidance       CFG scale (default: 7.5)
 * @param sampler        sampler name (default: {@code euler_a}, as the CLI)
 * @param width          width in pixels, 0 for the model's default
 * @param height         height in pixels, 0 for the model's default
 */
public record BatchDefaults(long jobSeed, String negativePrompt, int steps, double guidance, String sampler, int width,
                            int height) implements Serializable {
    @Serial private static final long serialVersionUID = 1L;

    /** The CLI's defaults, job seed 0. */
    public static final BatchDefaults CLI = new BatchDefaults(0, "", 20, 7.5, "euler_a", 0, 0);

    /** These defaults with another job seed. */
    public BatchDefaults withJobSeed(long seed) {
        return new BatchDefaults(seed, negativePrompt, steps, guidance, sampler, width, height);
    }
}
