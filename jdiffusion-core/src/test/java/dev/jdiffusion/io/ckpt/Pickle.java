package dev.jdiffusion.io.ckpt;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Writes pickle opcodes by hand, so tests can build exactly the stream they mean (hostile ones included). */
public final class Pickle {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public Pickle op(int... bytes) { for (int b : bytes) out.write(b); return this; }

    public Pickle proto(int p) { return op(0x80, p); }

    public Pickle global(String module, String name) {   // GLOBAL 'module\nname\n'
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        return this;
    }

    public Pickle str(String s) {                          // BINUNICODE
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X');
        u32(b.length);
        out.writeBytes(b);
        return this;
    }

    public Pickle shortStr(String s) {                     // SHORT_BINUNICODE
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op(0x8c, b.length);
        out.writeBytes(b);
        return this;
    }

    public Pickle integer(long v) {                        // BININT1 / BININT2 / BININT, as pickle chooses
        if (v >= 0 && v < 256) return op('K', (int) v);
        if (v >= 0 && v < 65536) return op('M', (int) v & 0xff, (int) v >> 8);
        op('J');
        return u32((int) v);
    }

    public Pickle ints(long... vs) {                       // a tuple of ints
        op('(');
        for (long v : vs) integer(v);
        return op('t');
    }

    public Pickle mark() { return op('('); }
    public Pickle tuple() { return op('t'); }
    public Pickle tuple1() { return op(0x85); }
    public Pickle reduce() { return op('R'); }
    public Pickle emptyDict() { return op('}'); }
    public Pickle setItems() { return op('u'); }
    public Pickle stop() { return op('.'); }

    /** A tensor as torch.save writes it: _rebuild_tensor_v2(persistent storage, offset, size, stride, False, OrderedDict()). */
    public Pickle tensor(String storageType, String key, long numel, long offset, long[] size, long[] stride) {
        global("torch._utils", "_rebuild_tensor_v2").mark();
        mark().str("storage").global("torch", storageType).str(key).str("cpu").integer(numel).tuple().op('Q');
        integer(offset).ints(size).ints(stride).op(0x89);
        global("collections", "OrderedDict").op(')').reduce();
        return tuple().reduce();
    }

    private Pickle u32(int v) { return op(v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >>> 24); }

    public byte[] bytes() { return out.toByteArray(); }
}
