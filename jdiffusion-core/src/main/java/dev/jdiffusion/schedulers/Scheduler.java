package dev.jdiffusion.schedulers;

/**
 * A diffusers noise scheduler: one implementation per diffusers class, built from the model's
 * {@code scheduler_config.json} by {@link Schedulers#create}.
 *
 * <p>Samples are flat float32 arrays in NCHW order; any batch size works, element-wise. Steps are addressed by
 * their index into {@link #timesteps()}, which is what diffusers' {@code step_index} is in a pipeline, so no
 * timestep-to-index search is needed. A denoising loop:
 * <pre>{@code
 * scheduler.setTimesteps(steps);
 * double[] t = scheduler.timesteps();
 * int begin = 0;                                    // img2img: scheduler.beginIndex(steps, strength)
 * x = scale(noise, scheduler.initNoiseSigma());     // img2img: x = scheduler.addNoise(initLatents, noise, begin)
 * for (int i = begin; i < t.length; i++) {
 *     float[] in = scheduler.scaleModelInput(x, i);
 *     float[] eps = unet(in, t[i]);
 *     x = scheduler.step(eps, i, x, generator);
 * }
 * }</pre>
 * Calls must follow that order: multistep schedulers keep the previous model outputs. A scheduler is not
 * thread-safe; use one per generation.
 */
public interface Scheduler {

    /** diffusers' {@code set_timesteps}: computes the schedule for this many steps and resets all state. */
    void setTimesteps(int numInferenceSteps);

    /**
     * The timesteps to feed the UNet, in order: integers for DDIM, DDPM, PNDM, DPM-Solver and UniPC, float32 values
     * for the sigma-based schedulers. Heun lists every timestep but the first twice ({@link #order()} 2).
     */
    double[] timesteps();

    /** The noise levels per step (one more than the timesteps, ending in 0), or empty where diffusers has none. */
    float[] sigmas();

    /** The factor for the initial Gaussian latents ({@code init_noise_sigma}): 1, as in diffusers' SchedulerMixin. */
    default float initNoiseSigma() { return 1f; }

    /**
     * The UNet input for step {@code stepIndex}: a copy of the sample (diffusers' default), or, for the sigma
     * schedulers, the sample divided by sqrt(sigma^2 + 1).
     */
    default float[] scaleModelInput(float[] sample, int stepIndex) { return sample.clone(); }

    /**
     * One denoising step: the sample for the next timestep, from the model output at {@code stepIndex}.
     * Stochastic schedulers (Euler, Euler ancestral, DDPM) draw one tensor of the sample's size from
     * {@code noise}, as diffusers draws {@code randn_tensor(model_output.shape, generator)}; the others ignore it
     * (it may be null). The arguments are not modified.
     */
    float[] step(float[] modelOutput, int stepIndex, float[] sample, NoiseSource noise);

    /**
     * diffusers' {@code add_noise} at the timestep (or sigma) of {@code stepIndex}: how img2img noises the encoded
     * image before denoising from {@link #beginIndex(int, double)} on.
     */
    float[] addNoise(float[] original, float[] noise, int stepIndex);

    /**
     * diffusers' {@code set_begin_index}, which img2img calls before {@link #addNoise}. Here every call names its
     * step index, which is all diffusers derives from the begin index, so there is nothing to record.
     */
    default void setBeginIndex(int beginIndex) {}

    /** Model evaluations per step: 2 for Heun, 1 for the others. */
    default int order() { return 1; }

    /**
     * The denoised sample x0 that {@code modelOutput} implies for {@code sample} at step {@code stepIndex}
     * (diffusers' {@code pred_original_sample}, k-diffusion's {@code denoised}), without clipping and without
     * changing any state: what live previews show and what an interrupted generation returns.
     */
    float[] predOriginalSample(float[] modelOutput, int stepIndex, float[] sample);

    /**
     * Where img2img starts after {@code setTimesteps(numInferenceSteps)}, as StableDiffusionImg2ImgPipeline's
     * get_timesteps computes it: {@code t_start * order} with
     * {@code t_start = steps - min(int(steps * strength), steps)}. When it equals the number of timesteps, nothing
     * is left to denoise.
     */
    default int beginIndex(int numInferenceSteps, double strength) {
        int initTimestep = Math.min((int) (numInferenceSteps * strength), numInferenceSteps);
        int tStart = Math.max(numInferenceSteps - initTimestep, 0);
        return tStart * order();
    }
}
