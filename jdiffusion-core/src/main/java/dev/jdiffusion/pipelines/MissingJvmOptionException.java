package dev.jdiffusion.pipelines;

/**
 * The JVM was started without an option jdiffusion needs. Today that is the incubating Vector API
 * ({@code --add-modules jdk.incubator.vector}), which the class path does not resolve by itself; on the module
 * path {@code requires jdk.incubator.vector} in jdiffusion's module descriptor resolves it. Thrown by the first
 * call that loads a model, instead of a {@link NoClassDefFoundError} from deep inside a kernel.
 */
public final class MissingJvmOptionException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    /** The JVM option to add, as one would type it on the {@code java} command line. */
    private final String option;

    MissingJvmOptionException(String option, String why) {
        super(why + ": start the JVM with the option " + option
                + " (java command line, Maven Surefire/Failsafe <argLine>, exec-maven-plugin <arguments>,"
                + " Gradle jvmArgs / applicationDefaultJvmArgs; see jdiffusion's README, \"Use it as a library\")");
        this.option = option;
    }

    /** The option that was missing, e.g. {@code --add-modules jdk.incubator.vector}. */
    public String option() { return option; }

    /** Throws unless the Vector API's classes can be loaded by jdiffusion's class loader. */
    static void requireVectorApi() {
        try {
            Class.forName("jdk.incubator.vector.FloatVector", false, MissingJvmOptionException.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new MissingJvmOptionException("--add-modules jdk.incubator.vector",
                    "jdiffusion's kernels use the incubating Vector API (module jdk.incubator.vector), which this JVM has not loaded");
        }
    }
}
