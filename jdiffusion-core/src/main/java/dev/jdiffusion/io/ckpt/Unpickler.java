package dev.jdiffusion.io.ckpt;

import dev.jdiffusion.io.ModelFormatException;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A restricted pickle VM (protocols 2-5, the binary opcodes that {@code torch.save} emits). It never runs
 * anything from the file: GLOBAL only resolves names on a short allow-list to inert {@link Global} markers,
 * and REDUCE/NEWOBJ on them build plain Java values (maps, lists, {@link Tuple}s, {@link TensorRef}s). A
 * pickle that names any other callable ({@code os.system}, {@code builtins.eval}, ...) is refused at the
 * point it names it, before any argument is even read.
 *
 * <p>Python values map to: None → null, bool → Boolean, int → Long (BigInteger when wider), float →
 * Double, str → String, bytes → byte[], tuple → {@link Tuple}, list → ArrayList, dict/OrderedDict →
 * LinkedHashMap, set → LinkedHashSet.
 */
final class Unpickler {
    /** A module-level name the pickle refers to; only allow-listed ones are ever created. */
    record Global(String module, String name) {
        @Override public String toString() { return module + "." + name; }
    }

    /**
     * A Python tuple. Equality is identity on purpose: hashing a hostile pickle's deeply shared tuples
     * structurally could take exponential time, and checkpoint dict keys are strings anyway.
     */
    static final class Tuple {
        final List<Object> items;
        Tuple(List<Object> items) { this.items = items; }
        int size() { return items.size(); }
        Object get(int i) { return items.get(i); }
        @Override public String toString() { return "tuple of " + items.size(); }
    }

    /** An instance of an allow-listed data-only class that carries no tensors (numpy scalars, Lightning callback keys). */
    record Inert(Global type, Object args) {
        @Override public boolean equals(Object o) { return this == o; }
        @Override public int hashCode() { return System.identityHashCode(this); }
        @Override public String toString() { return type + "(...)"; }
    }

    /** {@code torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...)}, not yet resolved. */
    record TensorRef(Object storage, long storageOffset, long[] size, long[] stride) {
        @Override public boolean equals(Object o) { return this == o; }
        @Override public int hashCode() { return System.identityHashCode(this); }
        @Override public String toString() { return "tensor"; }
    }

    /** Data-only globals, met outside state dicts (Lightning callbacks, numpy scalars): built as {@link Inert}. */
    private static final Set<String> INERT = Set.of(
            "numpy.core.multiarray.scalar", "numpy.core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray",
            "_codecs.encode", "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
            "torch.torch_version.TorchVersion");
    private static final Set<String> REBUILD_TENSOR = Set.of("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor");
    private static final Set<String> REBUILD_PARAMETER = Set.of("torch._utils._rebuild_parameter",
            "torch._utils._rebuild_parameter_with_state");
    private static final Set<String> CONTAINERS = Set.of("collections.OrderedDict", "builtins.set", "builtins.frozenset",
            "__builtin__.set", "__builtin__.frozenset", "torch.Size");
    private static final Object MARK = new Object() { @Override public String toString() { return "MARK"; } };

    private final Path file;
    private final byte[] in;
    private final Function<Object, Object> persistentLoad;
    private final Set<String> allowedTypes;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final HashMap<Long, Object> memo = new HashMap<>();
    private int pos;

    /**
     * @param persistentLoad turns a BINPERSID id (a {@link Tuple}) into a value, or throws
     * @param allowedTypes   extra "module.name" globals that are accepted as inert markers (storage classes)
     */
    Unpickler(Path file, byte[] in, Function<Object, Object> persistentLoad, Set<String> allowedTypes) {
        this.file = file;
        this.in = in;
        this.persistentLoad = persistentLoad;
        this.allowedTypes = allowedTypes;
    }

    /** Runs the pickle to STOP and returns its value. Every failure is a ModelFormatException naming the file. */
    Object load() {
        int op = -1, at = 0;
        try {
            while (true) {
                at = pos;
                op = u8();
                if (op == '.') {
                    if (stack.size() != 1 || !marks.isEmpty()) throw corrupt(at, "STOP with " + stack.size() + " values on the stack");
                    return stack.getFirst();
                }
                step(op, at);
            }
        } catch (ModelFormatException e) {
            throw e;
        } catch (RuntimeException e) {
            // A malformed pickle: stack underflow, wrong value types, ... never a reason to let a JDK exception escape.
            throw corrupt(at, "opcode 0x" + Integer.toHexString(op) + " cannot apply here (" + e.getClass().getSimpleName() + ")");
        }
    }

    private void step(int op, int at) {
        switch (op) {
            case 0x80 -> { int proto = u8(); if (proto > 5) throw corrupt(at, "pickle protocol " + proto + " is newer than 5"); }
            case 0x95 -> take(8);                                   // FRAME: framing is only a read-ahead hint
            case '(' -> { marks.add(stack.size()); stack.add(MARK); }
            case '0' -> pop();                                      // POP
            case '1' -> popMark();                                  // POP_MARK
            case '2' -> push(top());                                // DUP
            case '}' -> push(new LinkedHashMap<>());                // EMPTY_DICT
            case ']' -> push(new ArrayList<>());                    // EMPTY_LIST
            case ')' -> push(new Tuple(List.of()));                 // EMPTY_TUPLE
            case 0x8f -> push(new LinkedHashSet<>());               // EMPTY_SET
            case 'q' -> memo.put((long) u8(), top());              // BINPUT
            case 'r' -> memo.put(u32(), top());                    // LONG_BINPUT
            case 0x94 -> memo.put((long) memo.size(), top()); // MEMOIZE
            case 'h' -> push(memoGet(u8(), at));                    // BINGET
            case 'j' -> push(memoGet(u32(), at));                   // LONG_BINGET
            case 'X' -> push(utf8(take(u32())));                    // BINUNICODE
            case 0x8d -> push(utf8(take(u64())));                   // BINUNICODE8
            case 0x8c -> push(utf8(take(u8())));                    // SHORT_BINUNICODE
            case 'U' -> push(new String(take(u8()), StandardCharsets.ISO_8859_1)); // SHORT_BINSTRING (py2 str)
            case 'T' -> push(new String(take(s32()), StandardCharsets.ISO_8859_1)); // BINSTRING
            case 'C' -> push(take(u8()));                           // SHORT_BINBYTES
            case 'B' -> push(take(u32()));                          // BINBYTES
            case 0x8e, 0x96 -> push(take(u64()));                   // BINBYTES8, BYTEARRAY8
            case 'J' -> push((long) s32());                         // BININT
            case 'K' -> push((long) u8());                          // BININT1
            case 'M' -> push((long) (u8() | u8() << 8));            // BININT2
            case 0x8a -> push(longLE(take(u8())));                  // LONG1
            case 0x8b -> push(longLE(take(s32())));                 // LONG4
            case 'G' -> push(ByteBuffer.wrap(take(8)).order(ByteOrder.BIG_ENDIAN).getDouble()); // BINFLOAT
            case 'N' -> push(null);
            case 0x88 -> push(Boolean.TRUE);
            case 0x89 -> push(Boolean.FALSE);
            case 't' -> push(new Tuple(popMark()));                 // TUPLE
            case 0x85 -> push(tuple(1));
            case 0x86 -> push(tuple(2));
            case 0x87 -> push(tuple(3));
            case 'l' -> push(new ArrayList<>(popMark()));           // LIST
            case 'a' -> { Object v = pop(); list(stack.getLast(), at).add(v); }   // APPEND
            case 'e' -> { List<Object> vs = popMark(); list(stack.getLast(), at).addAll(vs); } // APPENDS
            case 0x90 -> { List<Object> vs = popMark(); set(stack.getLast(), at).addAll(vs); } // ADDITEMS
            case 0x91 -> push(new LinkedHashSet<>(popMark()));      // FROZENSET
            case 'd' -> { Map<Object, Object> d = new LinkedHashMap<>(); putAll(d, popMark(), at); push(d); } // DICT
            case 's' -> { Object v = pop(), k = pop(); putAll(dict(stack.getLast(), at), List.of(k, v == null ? NONE : v), at); }
            case 'u' -> { List<Object> kv = popMark(); putAll(dict(stack.getLast(), at), kv, at); } // SETITEMS
            case 'c' -> push(global(line(), line(), at));           // GLOBAL
            case 0x93 -> { Object name = pop(), module = pop(); push(global(str(module, at), str(name, at), at)); } // STACK_GLOBAL
            case 'Q' -> push(persistentLoad.apply(pop()));          // BINPERSID
            case 'R' -> { Object args = pop(); push(call(pop(), args, at)); }      // REDUCE
            case 0x81 -> { Object args = pop(); push(call(pop(), args, at)); }     // NEWOBJ: cls.__new__(cls, *args)
            case 'b' -> { Object state = pop(); build(stack.getLast(), state, at); } // BUILD
            case 'i' -> throw refuse(line() + "." + line());        // INST calls a class named inline (protocol 0)
            case 0x82, 0x83, 0x84 -> throw corrupt(at, "EXT opcodes (the copyreg extension registry) are not allowed");
            default -> throw corrupt(at, "unknown or unsupported pickle opcode 0x" + Integer.toHexString(op)
                    + (op >= 0x20 && op < 0x7f ? " ('" + (char) op + "')" : "") + " (not a torch checkpoint, or corrupt)");
        }
    }

    // SETITEM passes None as a placeholder, because List.of refuses null.
    private static final Object NONE = new Object();

    private Global global(String module, String name, int at) {
        String full = module + "." + name;
        if (REBUILD_TENSOR.contains(full) || REBUILD_PARAMETER.contains(full) || CONTAINERS.contains(full)
                || INERT.contains(full) || allowedTypes.contains(full))
            return new Global(module, name);
        throw refuse(full);
    }

    private ModelFormatException refuse(String global) {
        return new ModelFormatException(file, null, "refusing to load: the pickle calls " + global
                + ", which a checkpoint of tensors never needs; nothing was executed (the file may be malicious;"
                + " only load checkpoints from sources you trust, and prefer .safetensors)");
    }

    /** REDUCE/NEWOBJ: only allow-listed globals, each turned into a plain value without running anything. */
    private Object call(Object callable, Object argsObj, int at) {
        if (!(callable instanceof Global g)) throw corrupt(at, "REDUCE on a value that is not a global");
        if (!(argsObj instanceof Tuple args)) throw corrupt(at, "REDUCE arguments are not a tuple");
        String full = g.toString();
        if (REBUILD_TENSOR.contains(full)) {
            if (args.size() < 4) throw corrupt(at, full + " with " + args.size() + " arguments");
            return new TensorRef(args.get(0), num(args.get(1), at), longs(args.get(2), at), longs(args.get(3), at));
        }
        if (REBUILD_PARAMETER.contains(full)) {
            // A Parameter is its tensor plus requires_grad, which inference ignores.
            if (args.size() < 1 || !(args.get(0) instanceof TensorRef t)) throw corrupt(at, full + " does not wrap a tensor");
            return t;
        }
        return switch (full) {
            case "collections.OrderedDict" -> {
                Map<Object, Object> d = new LinkedHashMap<>();
                if (args.size() == 1) for (Object pair : iterable(args.get(0), at)) {
                    Tuple kv = pair instanceof Tuple t ? t : new Tuple(list(pair, at));
                    if (kv.size() != 2) throw corrupt(at, "OrderedDict item is not a (key, value) pair");
                    putAll(d, List.of(key(kv.get(0)), kv.get(1) == null ? NONE : kv.get(1)), at);
                }
                yield d;
            }
            case "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset" ->
                    args.size() == 0 ? new LinkedHashSet<>() : new LinkedHashSet<>(iterable(args.get(0), at));
            case "torch.Size" -> args.size() == 0 ? new Tuple(List.of()) : new Tuple(new ArrayList<>(iterable(args.get(0), at)));
            default -> new Inert(g, args);  // storage classes, numpy scalars, ...: a marker, never instantiated
        };
    }

    /** BUILD sets an object's __dict__/state. Tensors and dicts keep their data; attributes are not needed. */
    private void build(Object target, Object state, int at) {
        if (!(target instanceof Map || target instanceof TensorRef || target instanceof Inert || target instanceof Collection))
            throw corrupt(at, "BUILD on a " + describe(target));
    }

    private Object memoGet(long key, int at) {
        if (!memo.containsKey(key)) throw corrupt(at, "memo key " + key + " was never stored");
        return memo.get(key);
    }

    private Tuple tuple(int n) {
        List<Object> items = new ArrayList<>(stack.subList(stack.size() - n, stack.size()));
        if (items.contains(MARK)) throw new IllegalArgumentException("MARK inside a tuple");
        stack.subList(stack.size() - n, stack.size()).clear();
        return new Tuple(items);
    }

    private List<Object> popMark() {
        if (marks.isEmpty()) throw new IllegalArgumentException("no MARK");
        int m = marks.removeLast();
        List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private void push(Object v) { stack.add(v); }

    private Object top() {
        Object v = stack.getLast();
        if (v == MARK) throw new IllegalArgumentException("DUP of a MARK");
        return v;
    }

    private Object pop() {
        Object v = stack.removeLast();
        if (v == MARK) throw new IllegalArgumentException("popped a MARK");
        return v;
    }

    private void putAll(Map<Object, Object> d, List<Object> kv, int at) {
        if (kv.size() % 2 != 0) throw corrupt(at, "odd number of items for a dict");
        for (int i = 0; i < kv.size(); i += 2) {
            Object v = kv.get(i + 1);
            d.put(key(kv.get(i)), v == NONE ? null : v);
        }
    }

    /** Python dict keys are hashable; mutable Java containers are not safe hash keys, so they are refused. */
    private static Object key(Object k) {
        if (k instanceof Map || k instanceof List || k instanceof Set || k instanceof byte[])
            throw new IllegalArgumentException("unhashable dict key");
        return k;
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(Object o, int at) {
        if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
        throw corrupt(at, "SETITEM(S) on a " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object o, int at) {
        if (o instanceof ArrayList<?> l) return (List<Object>) l;
        throw corrupt(at, "APPEND(S) on a " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private Set<Object> set(Object o, int at) {
        if (o instanceof Set<?> s) return (Set<Object>) s;
        throw corrupt(at, "ADDITEMS on a " + describe(o));
    }

    private Collection<Object> iterable(Object o, int at) {
        if (o instanceof Tuple t) return t.items;
        if (o instanceof List<?> || o instanceof Set<?>) {
            @SuppressWarnings("unchecked") Collection<Object> c = (Collection<Object>) o;
            return c;
        }
        throw corrupt(at, "expected a list or tuple, found a " + describe(o));
    }

    private String str(Object o, int at) {
        if (o instanceof String s) return s;
        throw corrupt(at, "STACK_GLOBAL needs strings, found a " + describe(o));
    }

    private long num(Object o, int at) {
        if (o instanceof Long l) return l;
        throw corrupt(at, "expected an int, found a " + describe(o));
    }

    private long[] longs(Object o, int at) {
        if (!(o instanceof Tuple t)) throw corrupt(at, "tensor size/stride is not a tuple but a " + describe(o));
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) out[i] = num(t.get(i), at);
        return out;
    }

    static String describe(Object o) {
        return switch (o) {
            case null -> "None";
            case Map<?, ?> m -> "dict";
            case List<?> l -> "list";
            case Set<?> s -> "set";
            case Tuple t -> "tuple";
            case byte[] b -> "bytes";
            case Global g -> "global " + g;
            case Inert i -> i.type() + " object";
            case TensorRef t -> "tensor";
            default -> o.getClass().getSimpleName();
        };
    }

    private ModelFormatException corrupt(int at, String what) {
        return new ModelFormatException(file, null, "data.pkl is corrupt or not a torch checkpoint pickle: " + what
                + " (at byte " + at + " of " + in.length + ")");
    }

    // ---- reading the byte stream; every length is checked against what is left ----

    private int u8() {
        if (pos >= in.length) throw corrupt(pos, "the pickle ends before its STOP opcode (truncated?)");
        return in[pos++] & 0xff;
    }

    private int s32() { return u8() | u8() << 8 | u8() << 16 | u8() << 24; }

    private long u32() { return Integer.toUnsignedLong(s32()); }

    private long u64() { return (u32()) | u32() << 32; }

    private byte[] take(long n) {
        if (n < 0 || n > in.length - pos) throw corrupt(pos, "a " + n + "-byte value runs past the end of the pickle");
        byte[] b = java.util.Arrays.copyOfRange(in, pos, pos + (int) n);
        pos += (int) n;
        return b;
    }

    /** GLOBAL's module and name: newline-terminated ASCII. */
    private String line() {
        int start = pos;
        while (pos < in.length && in[pos] != '\n') pos++;
        if (pos >= in.length) throw corrupt(start, "GLOBAL name runs past the end of the pickle");
        return new String(in, start, pos++ - start, StandardCharsets.ISO_8859_1);
    }

    private String utf8(byte[] b) {
        try {
            // Python writes surrogates with 'surrogatepass'; a strict decoder rejects them, so replace instead.
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                    .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** LONG1/LONG4: two's-complement little-endian; Long when it fits. */
    private static Object longLE(byte[] le) {
        if (le.length == 0) return 0L;
        byte[] be = new byte[le.length];
        for (int i = 0; i < le.length; i++) be[i] = le[le.length - 1 - i];
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }
}
