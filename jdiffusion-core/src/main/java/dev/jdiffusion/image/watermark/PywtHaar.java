package dev.jdiffusion.image.watermark;

/**
 * PyWavelets' single-level 2-D Haar transform ({@code pywt.dwt2(x, 'haar')} / {@code pywt.idwt2}) of an array
 * with even sides, in float64 with pywt's exact operation order, so that results agree to the last bit:
 * the forward filters applied along axis 0 and then axis 1, each output {@code f[0]·x[2k+1] + f[1]·x[2k]};
 * the inverse along axis 1 and then axis 0, {@code out[2k] = a·s + d·s}, {@code out[2k+1] = a·s − d·s}.
 * Arrays are row-major {@code double[rows * cols]}.
 */
final class PywtHaar {
    /** pywt's Haar filter value, 1/√2 as a double. */
    static final double S = 0.7071067811865476;

    private PywtHaar() {}

    /**
     * The four sub-bands of an {@code rows × cols} array, each {@code rows/2 × cols/2}: pywt's cA and its
     * detail triple (cH, cV, cD), in that order.
     */
    static double[][] dwt2(double[] x, int rows, int cols) {
        int hr = rows / 2, hc = cols / 2;
        // Axis 0: pairs of rows.
        double[] a = new double[hr * cols], d = new double[hr * cols];
        for (int k = 0; k < hr; k++)
            for (int c = 0; c < cols; c++) {
                double x0 = x[2 * k * cols + c], x1 = x[(2 * k + 1) * cols + c];
                a[k * cols + c] = S * x1 + S * x0;
                d[k * cols + c] = -S * x1 + S * x0;
            }
        // Axis 1 on both: pairs of columns. pywt's keys: 'aa' = cA, 'da' = cH, 'ad' = cV, 'dd' = cD.
        double[] aa = new double[hr * hc], ad = new double[hr * hc], da = new double[hr * hc], dd = new double[hr * hc];
        columns(a, hr, cols, aa, ad);
        columns(d, hr, cols, da, dd);
        return new double[][]{aa, da, ad, dd};
    }

    private static void columns(double[] in, int rows, int cols, double[] lo, double[] hi) {
        int hc = cols / 2;
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < hc; k++) {
                double x0 = in[r * cols + 2 * k], x1 = in[r * cols + 2 * k + 1];
                lo[r * hc + k] = S * x1 + S * x0;
                hi[r * hc + k] = -S * x1 + S * x0;
            }
    }

    /**
     * {@code pywt.idwt2((cA, (cH, cV, cD)), 'haar')}: an {@code rows × cols} array from four
     * {@code rows/2 × cols/2} sub-bands.
     */
    static double[] idwt2(double[] cA, double[] cH, double[] cV, double[] cD, int rows, int cols) {
        int hr = rows / 2;
        // Axis 1 first: 'a' from ('aa' = cA, 'ad' = cV), 'd' from ('da' = cH, 'dd' = cD).
        double[] a = inverseColumns(cA, cV, hr, cols), d = inverseColumns(cH, cD, hr, cols);
        double[] out = new double[rows * cols];
        for (int k = 0; k < hr; k++)
            for (int c = 0; c < cols; c++) {
                double lo = a[k * cols + c], hi = d[k * cols + c];
                out[2 * k * cols + c] = lo * S + hi * S;
                out[(2 * k + 1) * cols + c] = lo * S - hi * S;
            }
        return out;
    }

    private static double[] inverseColumns(double[] lo, double[] hi, int rows, int cols) {
        int hc = cols / 2;
        double[] out = new double[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < hc; k++) {
                double l = lo[r * hc + k], h = hi[r * hc + k];
                out[r * cols + 2 * k] = l * S + h * S;
                out[r * cols + 2 * k + 1] = l * S - h * S;
            }
        return out;
    }
}
