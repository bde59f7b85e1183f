package dev.jdiffusion.testing;

import dev.jdiffusion.tensor.WeightTensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Numeric comparisons against reference tensors, with the tolerance stated in the message. */
public final class Compare {
    private Compare() {}

    /**
     * Asserts |actual - expected| <= tol * max|expected| element-wise: the fixtures' tolerance
     * ("within 1e-4 of the largest reference magnitude").
     */
    public static void assertCloseToMax(WeightTensor expected, float[] actual, double tol, String what) {
        assertEquals(expected.size(), actual.length, what + ": element count");
        double maxRef = 0, maxErr = 0;
        int worst = -1;
        for (int i = 0; i < actual.length; i++) maxRef = Math.max(maxRef, Math.abs(expected.getFloat(i)));
        for (int i = 0; i < actual.length && !Double.isNaN(maxErr); i++) {
            double err = Math.abs(actual[i] - expected.getFloat(i));
            if (!(err <= maxErr)) { maxErr = err; worst = i; } // a NaN sticks and fails below
        }
        if (Boolean.getBoolean("jdiffusion.test.printMargins"))
            System.out.printf("margin %s: max error %.3g = %.3g x max|ref| (limit %.1g)%n", what, maxErr, maxErr / Math.max(maxRef, 1e-30), tol);
        double limit = tol * Math.max(maxRef, 1e-30);
        int w = worst;
        assertTrue(!Double.isNaN(maxErr) && maxErr <= limit, () -> String.format(
                "%s: max error %.3g at %d (expected %.6g, got %.6g) exceeds %.1g x max|ref| (%.4g) = %.3g",
                what, maxErrOf(expected, actual), w, expected.getFloat(w), actual[w], tol, maxRefOf(expected), limit));
    }

    private static double maxErrOf(WeightTensor e, float[] a) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - e.getFloat(i)));
        return m;
    }

    private static double maxRefOf(WeightTensor e) {
        double m = 0;
        for (long i = 0; i < e.size(); i++) m = Math.max(m, Math.abs(e.getFloat(i)));
        return m;
    }

    /** Asserts |actual - expected| <= rtol * max(|expected|, floor) element-wise (relative error). */
    public static void assertRelClose(WeightTensor expected, float[] actual, double rtol, double floor, String what) {
        assertEquals(expected.size(), actual.length, what + ": element count");
        for (int i = 0; i < actual.length; i++) {
            double e = expected.getFloat(i);
            double err = Math.abs(actual[i] - e);
            double limit = rtol * Math.max(Math.abs(e), floor);
            if (!(err <= limit)) {
                throw new AssertionError(String.format("%s: element %d expected %.8g got %.8g (error %.3g > %.3g)",
                        what, i, e, actual[i], err, limit));
            }
        }
    }
}
