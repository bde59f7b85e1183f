/** The examples, as a module: compiled against module dev.jdiffusion, they can use only its exported API. */
module dev.jdiffusion.examples {
    requires dev.jdiffusion;
}
