package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

import java.util.List;
import java.util.Map;

/**
 * Creates a scheduler by its short name from a model's scheduler_config.json, the way diffusers users swap
 * schedulers: {@code SchedulerClass.from_config(pipe.scheduler.config, **overrides)}.
 */
public final class Schedulers {
    private Schedulers() {}

    private static final List<String> NAMES = List.of(
            "ddim", "pndm", "lms", "euler", "euler_a", "heun", "dpmpp_2m", "dpmpp_2m_karras", "unipc", "ddpm");

    /** The valid names, in the order a CLI lists them. */
    public static List<String> names() { return NAMES; }

    /**
     * The name of the scheduler a model ships with: its config's {@code _class_name}, and for
     * DPMSolverMultistepScheduler whether it uses Karras sigmas.
     *
     * @throws ModelFormatException when the class is not one jdiffusion implements
     */
    public static String nameOf(JsonConfig schedulerConfig) {
        String className = schedulerConfig.getString("_class_name", "");
        return switch (className) {
            case "DDIMScheduler" -> "ddim";
            case "PNDMScheduler" -> "pndm";
            case "LMSDiscreteScheduler" -> "lms";
            case "EulerDiscreteScheduler" -> "euler";
            case "EulerAncestralDiscreteScheduler" -> "euler_a";
            case "HeunDiscreteScheduler" -> "heun";
            case "DPMSolverMultistepScheduler" ->
                    schedulerConfig.getBoolean("use_karras_sigmas", false) ? "dpmpp_2m_karras" : "dpmpp_2m";
            case "UniPCMultistepScheduler" -> "unipc";
            case "DDPMScheduler" -> "ddpm";
            default -> throw new ModelFormatException(schedulerConfig.file(), "_class_name",
                    (className.isEmpty() ? "missing" : "scheduler class '" + className + "' is not supported")
                            + "; choose a sampler: " + String.join(", ", NAMES));
        };
    }

    /**
     * The scheduler {@code name} (one of {@link #names()}) configured from {@code schedulerConfig}; config problems
     * are {@link ModelFormatException}s naming the file and key.
     *
     * @throws IllegalArgumentException for an unknown name, listing the valid ones
     */
    public static Scheduler create(String name, JsonConfig schedulerConfig) {
        return switch (name) {
            case "ddim" -> new DDIMScheduler(schedulerConfig);
            case "pndm" -> new PNDMScheduler(schedulerConfig);
            case "lms" -> new LMSDiscreteScheduler(schedulerConfig);
            case "euler" -> new EulerDiscreteScheduler(schedulerConfig);
            case "euler_a" -> new EulerAncestralDiscreteScheduler(schedulerConfig);
            case "heun" -> new HeunDiscreteScheduler(schedulerConfig);
            // The name says which sigmas: a model whose config asks for Karras sigmas does not turn dpmpp_2m into
            // dpmpp_2m_karras (nameOf reports such a model's own sampler as dpmpp_2m_karras).
            case "dpmpp_2m" -> new DPMSolverMultistepScheduler(
                    SchedulerConfig.effective(schedulerConfig, Map.of("use_karras_sigmas", false)));
            case "dpmpp_2m_karras" -> new DPMSolverMultistepScheduler(
                    SchedulerConfig.effective(schedulerConfig, Map.of("use_karras_sigmas", true)));
            case "unipc" -> new UniPCMultistepScheduler(schedulerConfig);
            case "ddpm" -> new DDPMScheduler(schedulerConfig);
            default -> throw new IllegalArgumentException(
                    "unknown scheduler '" + name + "' (valid: " + String.join(", ", NAMES) + ")");
        };
    }
}
