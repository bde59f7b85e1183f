package dev.jdiffusion.tensor;

/** Element types found in checkpoints, named as safetensors names them. */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    private final int byteSize;

    DType(int byteSize) { this.byteSize = byteSize; }

    public int byteSize() { return byteSize; }

    public boolean isFloatingPoint() { return this == F64 || this == F32 || this == F16 || this == BF16; }

    /** The dtype for a safetensors name, or null when unknown. */
    public static DType fromSafetensorsName(String name) {
        for (DType t : values()) if (t.name().equals(name)) return t;
        return null;
    }
}
