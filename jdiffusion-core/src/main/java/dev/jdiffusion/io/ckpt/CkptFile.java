package dev.jdiffusion.io.ckpt;

import dev.jdiffusion.io.MappingScope;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.ckpt.Unpickler.Global;
import dev.jdiffusion.io.ckpt.Unpickler.TensorRef;
import dev.jdiffusion.io.ckpt.Unpickler.Tuple;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A PyTorch checkpoint in the zip format that {@code torch.save} writes since 1.6: {@code <archive>/data.pkl}
 * (the pickled object) and one member {@code <archive>/data/<key>} per tensor storage, stored uncompressed.
 * The pickle is run by the restricted {@link Unpickler}, so nothing in the file is ever executed; storages
 * are memory-mapped, and every contiguous tensor is a view of its storage (no copy).
 *
 * <p>The tensors are those of the top-level dict's {@code state_dict} entry when it has one (Lightning and
 * the original Stable Diffusion checkpoints), else those of the top-level dict itself.
 */
public final class CkptFile implements TensorFile {
    /** data.pkl is small (about 150 bytes per tensor); a larger one is not a checkpoint of tensors. */
    static final long MAX_PICKLE_BYTES = 256L << 20;

    /** Storage classes by the name torch pickles them under; null marks ones jdiffusion cannot hold. */
    private static final Map<String, DType> STORAGE_TYPES = new HashMap<>();
    static {
        STORAGE_TYPES.putAll(Map.of("FloatStorage", DType.F32, "HalfStorage", DType.F16, "BFloat16Storage", DType.BF16,
                "DoubleStorage", DType.F64, "LongStorage", DType.I64, "IntStorage", DType.I32, "ShortStorage", DType.I16,
                "CharStorage", DType.I8, "ByteStorage", DType.U8, "BoolStorage", DType.BOOL));
        STORAGE_TYPES.put("UntypedStorage", DType.U8);
        for (String s : new String[]{"ComplexFloatStorage", "ComplexDoubleStorage", "ComplexHalfStorage", "QInt8Storage",
                "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage", "Float8_e4m3fnStorage",
                "Float8_e5m2Storage", "Float8_e4m3fnuzStorage", "Float8_e5m2fnuzStorage"})
            STORAGE_TYPES.put(s, null);
    }

    /** One storage member: its dtype and bytes (a slice of the mapping). */
    private record Storage(String key, DType dtype, MemorySegment bytes) {}

    /** A state-dict entry, checked against its storage at open time, resolved to a WeightTensor on request. */
    private record Ref(Storage storage, long offset, int[] shape, long[] stride, boolean contiguous) {}

    private final Path file;
    private final Map<String, Ref> tensors;
    private final Long globalStep;

    private CkptFile(Path file, Map<String, Ref> tensors, Long globalStep) {
        this.file = file;
        this.tensors = tensors;
        this.globalStep = globalStep;
    }

    /** The checkpoint's {@code global_step} (training step), or null when it records none. */
    public Long globalStep() { return globalStep; }

    /** Maps and reads {@code file}; every problem is a {@link ModelFormatException} naming the file. */
    public static CkptFile open(Path file) { return open(file, "state_dict"); }

    /**
     * As {@link #open(Path)}, with the tensors of the top-level dict's {@code entry} dict when it has one (A1111's
     * textual-inversion files keep theirs under "string_to_param"), else those of the top-level dict.
     */
    public static CkptFile open(Path file, String entry) {
        // Arena.ofAuto (the mapping lives as long as any tensor view of it is reachable), unless the caller
        // maps into an arena it closes itself (MappingScope: a pipeline's close()).
        return read(file, MappingScope.mapReadOnly(file, "checkpoint"), entry);
    }

    static CkptFile read(Path file, MemorySegment mapping) { return read(file, mapping, "state_dict"); }

    static CkptFile read(Path file, MemorySegment mapping, String entry) {
        try {
            return parse(file, mapping, entry);
        } catch (ModelFormatException e) {
            throw e;
        } catch (RuntimeException e) {
            // Every read above is bounds-checked; this is only a safety net so that callers see one exception type.
            throw new ModelFormatException(file, null, "corrupt checkpoint: " + e, e);
        }
    }

    private static CkptFile parse(Path file, MemorySegment mapping, String entry) {
        if (!ZipIndex.looksLikeZip(mapping)) {
            if (mapping.byteSize() > 0 && mapping.get(ValueLayout.JAVA_BYTE, 0) == (byte) 0x80)
                throw new ModelFormatException(file, null, "this is a legacy PyTorch checkpoint (a raw pickle stream, as "
                        + "torch.save wrote before PyTorch 1.6), which jdiffusion does not read; re-save it with a recent "
                        + "PyTorch (torch.save(torch.load(f, weights_only=True), f2)) or convert it to .safetensors");
            throw new ModelFormatException(file, null, "not a PyTorch checkpoint: a .ckpt/.pt file is a zip archive "
                    + "(it starts with 'PK'), and this file does not");
        }
        ZipIndex zip = ZipIndex.read(file, mapping);
        ZipIndex.Entry pkl = zip.entries().values().stream()
                .filter(e -> e.name().equals("data.pkl") || e.name().endsWith("/data.pkl"))
                .min(Comparator.comparingInt(e -> e.name().length())).orElse(null);
        if (pkl == null)
            throw new ModelFormatException(file, null, "the zip archive has no data.pkl, so it is not a PyTorch checkpoint"
                    + " (entries: " + zip.entries().keySet().stream().limit(5).collect(Collectors.joining(", ")) + ")");
        // The archive folder is whatever name the file was saved under: "archive/", "tiny-sd15/", ...
        String prefix = pkl.name().substring(0, pkl.name().length() - "data.pkl".length());

        ZipIndex.Entry byteorder = zip.get(prefix + "byteorder");
        if (byteorder != null && byteorder.size() < 16) {
            String order = new String(zip.bytes(byteorder).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).trim();
            if (!order.equals("little"))
                throw new ModelFormatException(file, null, "storages are " + order + "-endian; only little-endian is read");
        }
        if (pkl.size() > MAX_PICKLE_BYTES)
            throw new ModelFormatException(file, pkl.name(), "data.pkl is " + pkl.size() + " bytes, more than the "
                    + MAX_PICKLE_BYTES + "-byte limit: this is not a checkpoint of tensors");
        byte[] pickle = zip.bytes(pkl).toArray(ValueLayout.JAVA_BYTE);

        Map<String, Storage> storages = new HashMap<>();
        Set<String> storageTypes = STORAGE_TYPES.keySet().stream().map(s -> "torch." + s).collect(Collectors.toSet());
        Object root = new Unpickler(file, pickle, pid -> storage(file, zip, prefix, pid, storages), storageTypes).load();
        try {
            Long step = root instanceof Map<?, ?> m && m.get("global_step") instanceof Number n ? n.longValue() : null;
            return new CkptFile(file, Collections.unmodifiableMap(stateDict(file, root, entry)), step);
        } catch (ArithmeticException e) {  // Math.*Exact
            throw new ModelFormatException(file, null, "a tensor's size, stride or offset overflows: the file is corrupt", e);
        }
    }

    /** BINPERSID: {@code ('storage', StorageType, key, location, numel)} names the member {@code data/<key>}. */
    private static Storage storage(Path file, ZipIndex zip, String prefix, Object pid, Map<String, Storage> seen) {
        if (!(pid instanceof Tuple t) || t.size() != 5 || !"storage".equals(t.get(0)) || !(t.get(1) instanceof Global type)
                || !(t.get(2) instanceof String key) || !(t.get(4) instanceof Long numel) || numel < 0)
            throw new ModelFormatException(file, null, "data.pkl has a persistent id that is not "
                    + "('storage', type, key, location, numel): " + Unpickler.describe(pid));
        DType dtype = type.module().equals("torch") ? STORAGE_TYPES.get(type.name()) : null;
        if (dtype == null)
            throw new ModelFormatException(file, null, "storage " + key + " is a " + type
                    + ", a dtype jdiffusion does not support (float32/16, bfloat16, float64 and integers are read)");
        Storage known = seen.get(key);
        if (known != null) {
            if (known.dtype() != dtype)
                throw new ModelFormatException(file, null, "storage " + key + " is read both as " + known.dtype() + " and " + dtype);
            return known;
        }
        ZipIndex.Entry e = zip.get(prefix + "data/" + key);
        if (e == null)
            throw new ModelFormatException(file, null, "storage " + prefix + "data/" + key + " is missing from the archive");
        long declared = Math.multiplyExact(numel, (long) dtype.byteSize());
        if (e.size() < declared)
            throw new ModelFormatException(file, e.name(), "storage holds " + e.size() + " bytes but data.pkl declares "
                    + numel + " elements of " + dtype + " (" + declared + " bytes): the file is corrupt");
        Storage s = new Storage(key, dtype, zip.bytes(e).asSlice(0, declared));
        seen.put(key, s);
        return s;
    }

    /** The state dict's tensors, each checked against its storage, in the pickle's order. */
    private static Map<String, Ref> stateDict(Path file, Object root, String entry) {
        if (!(root instanceof Map<?, ?> top))
            throw new ModelFormatException(file, null, "the checkpoint holds a " + Unpickler.describe(root)
                    + ", not a dict of tensors");
        Map<?, ?> dict = top.get(entry) instanceof Map<?, ?> sd ? sd : top;
        Map<String, Ref> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : dict.entrySet()) {
            // Non-tensor entries (a step counter, '_metadata', ...) are not weights; they are skipped.
            if (e.getKey() instanceof String name && e.getValue() instanceof TensorRef t) out.put(name, check(file, name, t));
        }
        if (out.isEmpty())
            throw new ModelFormatException(file, null, "the checkpoint holds no tensors (top-level keys: "
                    + top.keySet().stream().limit(10).map(String::valueOf).collect(Collectors.joining(", ")) + ")");
        return out;
    }

    private static Ref check(Path file, String name, TensorRef t) {
        if (!(t.storage() instanceof Storage s))
            throw new ModelFormatException(file, name, "the tensor's storage is a " + Unpickler.describe(t.storage())
                    + ", not a storage of the archive");
        long[] size = t.size(), stride = t.stride();
        if (stride.length != size.length)
            throw new ModelFormatException(file, name, "size " + Arrays.toString(size) + " and stride "
                    + Arrays.toString(stride) + " differ in rank");
        int[] shape = new int[size.length];
        long numel = 1, last = t.storageOffset(), expected = 1;
        boolean contiguous = true;
        for (int i = size.length - 1; i >= 0; i--) {
            if (size[i] < 0 || size[i] > Integer.MAX_VALUE || stride[i] < 0)
                throw new ModelFormatException(file, name, "invalid size " + Arrays.toString(size) + " / stride "
                        + Arrays.toString(stride));
            shape[i] = (int) size[i];
            numel = Math.multiplyExact(numel, size[i]);
            if (size[i] > 0) last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
            // Row-major means each stride is the product of the later sizes; a size-1 dimension's stride is irrelevant.
            if (size[i] != 1 && stride[i] != expected) contiguous = false;
            expected = Math.multiplyExact(expected, size[i]);
        }
        long available = s.bytes().byteSize() / s.dtype().byteSize();
        if (t.storageOffset() < 0 || numel > 0 && last >= available)
            throw new ModelFormatException(file, name, "the tensor (size " + Arrays.toString(size) + ", stride "
                    + Arrays.toString(stride) + ", storage offset " + t.storageOffset() + ") reaches element " + last
                    + " but its storage data/" + s.key() + " holds only " + available + " elements: the file is corrupt");
        return new Ref(s, t.storageOffset(), shape, stride, contiguous || numel == 0);
    }

    @Override public Path file() { return file; }

    @Override public Set<String> names() { return tensors.keySet(); }

    @Override public boolean contains(String name) { return tensors.containsKey(name); }

    /** A view of the mapped storage; a non-contiguous tensor (rare) is copied into row-major order first. */
    @Override
    public WeightTensor tensor(String name) {
        Ref r = tensors.get(name);
        if (r == null) throw new ModelFormatException(file, name, "tensor is missing from the checkpoint");
        int item = r.storage().dtype().byteSize();
        long numel = 1;
        for (int d : r.shape()) numel *= d;
        if (r.contiguous())
            return new WeightTensor(name, r.storage().dtype(), r.shape(), r.storage().bytes().asSlice(r.offset() * item, numel * item));
        return new WeightTensor(name, r.storage().dtype(), r.shape(), gather(r, numel, item));
    }

    /** Copies a strided tensor element by element into a fresh row-major segment. */
    private static MemorySegment gather(Ref r, long numel, int item) {
        MemorySegment src = r.storage().bytes();
        MemorySegment dst = Arena.ofAuto().allocate(numel * item, 8);
        int[] shape = r.shape();
        int[] idx = new int[shape.length];
        long at = r.offset();  // source element of the current index
        for (long i = 0; i < numel; i++) {
            MemorySegment.copy(src, at * item, dst, i * item, item);
            for (int d = shape.length - 1; d >= 0; d--) {  // odometer: advance the last index, carry leftwards
                at += r.stride()[d];
                if (++idx[d] < shape[d]) break;
                at -= (long) shape[d] * r.stride()[d];
                idx[d] = 0;
            }
        }
        return dst;
    }

    @Override public String toString() { return "CkptFile[" + file + ", " + tensors.size() + " tensors]"; }
}
