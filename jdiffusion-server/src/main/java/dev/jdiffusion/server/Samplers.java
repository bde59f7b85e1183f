package dev.jdiffusion.server;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * AUTOMATIC1111's sampler and schedule names (what clients send in {@code sampler_name} and {@code scheduler}) and
 * the jdiffusion sampler each pair means. A1111 1.9+ splits "DPM++ 2M Karras" into the sampler "DPM++ 2M" and the
 * schedule "Karras"; the old combined names are still understood, as there.
 */
final class Samplers {
    private Samplers() {}

    /** A schedule type: A1111's name, label, aliases and default rho. */
    record Schedule(String name, String label, List<String> aliases, double defaultRho, boolean needInnerModel) {}

    static final Schedule AUTOMATIC = new Schedule("automatic", "Automatic", List.of(), -1, false);
    static final Schedule UNIFORM = new Schedule("uniform", "Uniform", List.of(), -1, true);
    static final Schedule KARRAS = new Schedule("karras", "Karras", List.of(), 7.0, false);
    static final List<Schedule> SCHEDULES = List.of(AUTOMATIC, UNIFORM, KARRAS);

    /**
     * One A1111 sampler: its name, aliases, options (as /sdapi/v1/samplers lists them) and the jdiffusion sampler
     * for each schedule type it supports ("automatic" is the sampler's own default).
     */
    record Sampler(String name, List<String> aliases, Map<String, String> options, Map<String, String> bySchedule) {}

    static final List<Sampler> ALL = List.of(
            new Sampler("DPM++ 2M", List.of("k_dpmpp_2m", "dpmpp_2m", "dpmpp_2m_karras"), Map.of("scheduler", "karras"),
                    Map.of("automatic", "dpmpp_2m_karras", "karras", "dpmpp_2m_karras", "uniform", "dpmpp_2m")),
            new Sampler("Euler a", List.of("k_euler_a", "k_euler_ancestral", "euler_a"), Map.of("uses_ensd", "True"),
                    Map.of("automatic", "euler_a", "uniform", "euler_a")),
            new Sampler("Euler", List.of("k_euler", "euler"), Map.of(), Map.of("automatic", "euler", "uniform", "euler")),
            new Sampler("LMS", List.of("k_lms", "lms"), Map.of(), Map.of("automatic", "lms", "uniform", "lms")),
            new Sampler("Heun", List.of("k_heun", "heun"), Map.of("second_order", "True"),
                    Map.of("automatic", "heun", "uniform", "heun")),
            new Sampler("DDIM", List.of("ddim"), Map.of("default_eta_is_0", "True", "uses_ensd", "True"), Map.of("automatic", "ddim")),
            new Sampler("PLMS", List.of("plms", "pndm"), Map.of(), Map.of("automatic", "pndm")),
            new Sampler("UniPC", List.of("unipc"), Map.of(), Map.of("automatic", "unipc")),
            new Sampler("DDPM", List.of("ddpm"), Map.of(), Map.of("automatic", "ddpm")));

    /** A request's sampler resolved: A1111's sampler, the schedule type asked for, and the jdiffusion sampler. */
    record Resolved(Sampler sampler, Schedule schedule, String ours) {}

    /**
     * Resolves {@code sampler_name} (or its aliases, or an old combined name such as "DPM++ 2M Karras") and
     * {@code scheduler} (name or label; null or empty for the sampler's default).
     *
     * @throws ApiException 400 naming the field when either is unknown or the pair is not available
     */
    static Resolved resolve(String samplerName, String scheduler) {
        String name = samplerName.strip();
        Schedule fromName = null;
        Sampler sampler = find(name);
        if (sampler == null) {
            for (Schedule s : SCHEDULES) {
                for (String suffix : List.of(s.label(), s.name())) {
                    String lower = name.toLowerCase(Locale.ROOT), end = " " + suffix.toLowerCase(Locale.ROOT);
                    if (lower.endsWith(end) && find(name.substring(0, name.length() - end.length())) != null) {
                        sampler = find(name.substring(0, name.length() - end.length()));
                        fromName = s;
                    }
                }
            }
        }
        if (sampler == null)
            throw new ApiException(400, "sampler_name", "sampler '" + samplerName + "' not found; available: " + names());
        Schedule schedule = fromName != null ? fromName : AUTOMATIC;
        if (scheduler != null && !scheduler.isBlank() && (fromName == null || !scheduler.equalsIgnoreCase("automatic"))) {
            schedule = schedule(scheduler);
            if (schedule == null)
                throw new ApiException(400, "scheduler", "schedule type '" + scheduler + "' not found; available: automatic, uniform, karras");
        }
        String ours = sampler.bySchedule().get(schedule.name());
        if (ours == null)
            throw new ApiException(400, "scheduler", "schedule type '" + schedule.label() + "' is not available with sampler '"
                    + sampler.name() + "'; it takes: " + String.join(", ", sampler.bySchedule().keySet().stream().sorted().toList()));
        return new Resolved(sampler, schedule, ours);
    }

    private static Sampler find(String name) {
        for (Sampler s : ALL) {
            if (s.name().equalsIgnoreCase(name)) return s;
            for (String a : s.aliases()) if (a.equalsIgnoreCase(name)) return s;
        }
        return null;
    }

    private static Schedule schedule(String name) {
        for (Schedule s : SCHEDULES) {
            if (s.name().equalsIgnoreCase(name) || s.label().equalsIgnoreCase(name)) return s;
        }
        return null;
    }

    static String names() {
        return String.join(", ", ALL.stream().map(Sampler::name).toList());
    }

    /** The A1111 sampler and schedule label that {@link dev.jdiffusion.pipelines.InfoText} writes for our sampler. */
    static Map<String, String> a1111Names(String ours) {
        var label = dev.jdiffusion.pipelines.InfoText.label(ours);
        Map<String, String> m = new LinkedHashMap<>();
        m.put("sampler_name", label.sampler());
        m.put("scheduler", label.scheduleType());
        return m;
    }
}
