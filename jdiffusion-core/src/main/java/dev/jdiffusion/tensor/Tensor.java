package dev.jdiffusion.tensor;

import java.util.Arrays;

/**
 * An activation tensor: float32 values on the heap, row-major, with a shape. Image activations are
 * channels-last (N, H, W, C) so that convolutions, linear layers and attention all run as matrix
 * multiplies over contiguous rows; token sequences are (N, L, D).
 */
public final class Tensor {
    private final float[] data;
    private final int[] shape;

    public Tensor(float[] data, int... shape) {
        if (Shapes.product(shape) != data.length)
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + Shapes.product(shape)
                    + " values, got " + data.length);
        this.data = data;
        this.shape = shape.clone();
    }

    public static Tensor zeros(int... shape) {
        return new Tensor(new float[Math.toIntExact(Shapes.product(shape))], shape);
    }

    /** The backing array (shared, not copied): ops write their results into fresh tensors. */
    public float[] data() { return data; }

    public int[] shape() { return shape.clone(); }

    public int rank() { return shape.length; }

    /** Size of dimension {@code i}; negative counts from the end. */
    public int dim(int i) { return shape[i < 0 ? shape.length + i : i]; }

    public int size() { return data.length; }

    /** Same data, another shape with the same element count. */
    public Tensor reshape(int... newShape) { return new Tensor(data, newShape); }

    @Override
    public String toString() { return "Tensor" + Arrays.toString(shape); }
}
