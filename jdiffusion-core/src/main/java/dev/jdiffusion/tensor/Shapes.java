package dev.jdiffusion.tensor;

import java.util.Arrays;

/** Small helpers for shapes. */
public final class Shapes {
    private Shapes() {}

    public static long product(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    public static String toString(int[] shape) { return Arrays.toString(shape); }
}
