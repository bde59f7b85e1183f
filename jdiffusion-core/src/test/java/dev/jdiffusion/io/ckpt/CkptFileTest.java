package dev.jdiffusion.io.ckpt;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.TensorFile;
import dev.jdiffusion.io.TensorFiles;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.function.Executable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The .ckpt reader gives exactly the tensors torch saved, as views of the mapped file, and refuses anything
 * else (hostile pickles, truncated or foreign files) with a ModelFormatException naming the file.
 */
class CkptFileTest {
    @TempDir Path dir;

    private static Path fixture(String name) { return Fixtures.root().resolve("single-file").resolve(name); }

    @Test
    void fixtureHoldsExactlyTheSafetensorsTensors() {
        CkptFile ckpt = CkptFile.open(fixture("tiny-sd15.ckpt"));
        SafeTensors ref = SafeTensors.open(fixture("tiny-sd15.safetensors"));
        assertEquals(ref.names(), ckpt.names());
        assertEquals(544, ckpt.names().size());
        for (String name : ref.names()) {
            WeightTensor a = ckpt.tensor(name), b = ref.tensor(name);
            assertArrayEquals(b.shape(), a.shape(), name);
            assertEquals(b.dtype(), a.dtype(), name);
            assertEquals(DType.F32, a.dtype(), name);
            // Bitwise: the same bytes, not merely close floats.
            assertEquals(-1, a.segment().mismatch(b.segment()), name + " differs from the safetensors copy");
            assertTrue(a.segment().isMapped(), name + " should be a view of the mapped file, not a heap copy");
        }
        WeightTensor w = ckpt.tensor("model.diffusion_model.input_blocks.0.0.weight");
        assertArrayEquals(new int[]{32, 4, 3, 3}, w.shape());
        assertEquals(ref.tensor(w.name()).getFloat(17), w.getFloat(17));
    }

    @Test
    void tensorFilesChoosesTheFormatByContent() throws IOException {
        assertInstanceOf(CkptFile.class, TensorFiles.open(fixture("tiny-sd15.ckpt")));
        assertInstanceOf(SafeTensors.class, TensorFiles.open(fixture("tiny-sd15.safetensors")));
        // A torch zip saved as .bin (as transformers names them) or with no extension at all.
        Path bin = Files.copy(fixture("tiny-sd15.ckpt"), dir.resolve("pytorch_model.bin"));
        TensorFile f = TensorFiles.open(bin);
        assertInstanceOf(CkptFile.class, f);
        assertTrue(f.contains("first_stage_model.decoder.conv_in.weight"));
        Path other = Files.write(dir.resolve("weights.onnx"), "hello, not a model".getBytes());
        ModelFormatException e = refused(() -> TensorFiles.open(other), other);
        assertTrue(e.getMessage().contains("unknown model file format"), e.getMessage());
        assertTrue(refused(() -> TensorFiles.open(dir.resolve("absent.ckpt")), dir.resolve("absent.ckpt"))
                .getMessage().contains("file not found"));
    }

    // ---- hostile pickles: refused by name, never run ----

    private void assertRefusedAndNotRun(String global, byte[] pickle, Path marker) throws IOException {
        Path ckpt = TestZip.write(dir.resolve("evil.ckpt"), Map.of("evil/data.pkl", pickle), false, Set.of());
        ModelFormatException e = refused(() -> CkptFile.open(ckpt), ckpt);
        assertTrue(e.getMessage().contains("refusing to load: the pickle calls " + global), e.getMessage());
        assertTrue(e.getMessage().contains("nothing was executed"), e.getMessage());
        assertFalse(Files.exists(marker), "the pickle's command ran");
        // Through the factory as well.
        assertTrue(refused(() -> TensorFiles.open(ckpt), ckpt).getMessage().contains(global));
        assertFalse(Files.exists(marker), "the pickle's command ran");
    }

    @Test
    void osSystemIsRefusedAndNeverRuns() throws IOException {
        Path marker = dir.resolve("pwned");
        String cmd = "touch " + marker;
        // Exactly what a malicious "checkpoint" holds: os.system('touch ...') via GLOBAL + REDUCE.
        for (String[] g : new String[][]{{"os", "system"}, {"posix", "system"}, {"nt", "system"}}) {
            byte[] p = new Pickle().proto(2).global(g[0], g[1]).str(cmd).tuple1().reduce().stop().bytes();
            assertRefusedAndNotRun(g[0] + "." + g[1], p, marker);
        }
        // The same call hidden inside an otherwise valid state dict, after a real tensor.
        byte[] nested = new Pickle().proto(2).emptyDict().mark()
                .str("a").tensor("FloatStorage", "0", 1, 0, new long[]{1}, new long[]{1})
                .str("b").global("os", "system").str(cmd).tuple1().reduce()
                .setItems().stop().bytes();
        Path ckpt = TestZip.write(dir.resolve("evil.ckpt"), Map.of("evil/data.pkl", nested,
                "evil/data/0", TestZip.floats(1f)), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(ckpt), ckpt).getMessage().contains("calls os.system"));
        assertFalse(Files.exists(marker));
    }

    @Test
    void evalExecAndPopenAreRefused() throws IOException {
        Path marker = dir.resolve("pwned");
        String py = "__import__('os').system('touch " + marker + "')";
        assertRefusedAndNotRun("builtins.eval",
                new Pickle().proto(4).global("builtins", "eval").str(py).tuple1().reduce().stop().bytes(), marker);
        assertRefusedAndNotRun("__builtin__.exec",
                new Pickle().proto(2).global("__builtin__", "exec").str(py).tuple1().reduce().stop().bytes(), marker);
        // Protocol 4 style: STACK_GLOBAL takes module and name from the stack.
        byte[] popen = new Pickle().proto(4).op(0x95, 0, 0, 0, 0, 0, 0, 0, 0)
                .shortStr("subprocess").op(0x94).shortStr("Popen").op(0x94).op(0x93).op(0x94)
                .mark().str("touch").str(marker.toString()).op('l').tuple1().reduce().stop().bytes();
        assertRefusedAndNotRun("subprocess.Popen", popen, marker);
        // INST (protocol 0) names and calls a class in one opcode.
        byte[] inst = new Pickle().op('(').str("touch " + marker).op('i').op("os\nsystem\n".chars().toArray())
                .stop().bytes();
        assertRefusedAndNotRun("os.system", inst, marker);
        // torch's own numpy path is not needed by tensor checkpoints either.
        assertRefusedAndNotRun("torch._utils._rebuild_device_tensor_from_numpy", new Pickle().proto(2)
                .global("torch._utils", "_rebuild_device_tensor_from_numpy").op(')').reduce().stop().bytes(), marker);
    }

    // ---- broken files: each refused with the file and the problem named ----

    @Test
    void truncatedCheckpointIsRefused() throws IOException {
        byte[] all = Files.readAllBytes(fixture("tiny-sd15.ckpt"));
        Path half = Files.write(dir.resolve("half.ckpt"), java.util.Arrays.copyOf(all, all.length / 2));
        assertTrue(refused(() -> CkptFile.open(half), half).getMessage().contains("truncated"));
        assertTrue(refused(() -> TensorFiles.open(half), half).getMessage().contains("truncated"));
        // Cut inside the central directory's last entry: the end record is gone too.
        Path tail = Files.write(dir.resolve("tail.ckpt"), java.util.Arrays.copyOf(all, all.length - 200));
        assertTrue(refused(() -> CkptFile.open(tail), tail).getMessage().contains("truncated"));
    }

    @Test
    void corruptPickleIsRefused() throws IOException {
        Path garbage = TestZip.write(dir.resolve("garbage.ckpt"), Map.of("a/data.pkl",
                "this is not a pickle at all".getBytes()), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(garbage), garbage).getMessage().contains("data.pkl is corrupt"));
        Path unknown = TestZip.write(dir.resolve("unknown.ckpt"), Map.of("a/data.pkl",
                new Pickle().proto(2).op(0xff).stop().bytes()), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(unknown), unknown).getMessage().contains("unknown or unsupported pickle opcode 0xff"));
        Path noStop = TestZip.write(dir.resolve("nostop.ckpt"), Map.of("a/data.pkl",
                new Pickle().proto(2).emptyDict().bytes()), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(noStop), noStop).getMessage().contains("ends before its STOP"));
        Path underflow = TestZip.write(dir.resolve("underflow.ckpt"), Map.of("a/data.pkl",
                new Pickle().proto(2).setItems().stop().bytes()), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(underflow), underflow).getMessage().contains("data.pkl is corrupt"));
    }

    @Test
    void foreignFilesAreRefused() throws IOException {
        Path text = Files.write(dir.resolve("model.ckpt"), "definitely not a zip".getBytes());
        assertTrue(refused(() -> CkptFile.open(text), text).getMessage().contains("not a PyTorch checkpoint"));
        Path empty = Files.write(dir.resolve("empty.ckpt"), new byte[0]);
        refused(() -> CkptFile.open(empty), empty);
        // The pre-1.6 torch.save format: a raw pickle stream (PROTO 2, then torch's magic number).
        Path legacy = Files.write(dir.resolve("legacy.pt"), new byte[]{(byte) 0x80, 2, (byte) 0x8a, 10, 0x6c, (byte) 0xfc});
        ModelFormatException e = refused(() -> TensorFiles.open(legacy), legacy);
        assertTrue(e.getMessage().contains("legacy PyTorch checkpoint") && e.getMessage().contains("re-save"), e.getMessage());
        Path noPkl = TestZip.write(dir.resolve("other.ckpt"), Map.of("readme.txt", "hi".getBytes()), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(noPkl), noPkl).getMessage().contains("no data.pkl"));
        Path safetensors = fixture("tiny-sd15.safetensors");
        assertTrue(refused(() -> CkptFile.open(safetensors), safetensors).getMessage().contains("not a PyTorch checkpoint"));
    }

    @Test
    void storageThatDoesNotCoverTheTensorIsRefused() throws IOException {
        // The pickle says 6 floats, the member holds 5.
        Path shortStorage = ckpt("short.ckpt", Map.of("x", tensor("0", 6, 0, new long[]{2, 3}, new long[]{3, 1})),
                Map.of("0", TestZip.floats(1, 2, 3, 4, 5)), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(shortStorage), shortStorage).getMessage().contains("storage holds 20 bytes"));
        // The storage is whole, but offset + size run past it.
        Path past = ckpt("past.ckpt", Map.of("x", tensor("0", 6, 2, new long[]{2, 3}, new long[]{3, 1})),
                Map.of("0", TestZip.floats(1, 2, 3, 4, 5, 6)), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(past), past).getMessage().contains("holds only 6 elements"));
        Path missing = ckpt("missing.ckpt", Map.of("x", tensor("7", 6, 0, new long[]{6}, new long[]{1})),
                Map.of("0", TestZip.floats(1, 2, 3, 4, 5, 6)), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(missing), missing).getMessage().contains("data/7 is missing"));
        Path noTensors = TestZip.write(dir.resolve("none.ckpt"), Map.of("a/data.pkl",
                new Pickle().proto(2).emptyDict().str("global_step").integer(3).op('s').stop().bytes()), false, Set.of());
        assertTrue(refused(() -> CkptFile.open(noTensors), noTensors).getMessage().contains("holds no tensors (top-level keys: global_step)"));
    }

    // ---- hand-built checkpoints: views, offsets, strides, dtypes, ZIP64, DEFLATE ----

    @Test
    void viewsOffsetsStridesAndSharedStorages() throws IOException {
        Map<String, byte[]> t = new LinkedHashMap<>();
        t.put("whole", tensor("0", 6, 0, new long[]{2, 3}, new long[]{3, 1}));
        t.put("tail", tensor("0", 6, 4, new long[]{2}, new long[]{1}));            // same storage, offset 4
        t.put("transposed", tensor("0", 6, 0, new long[]{3, 2}, new long[]{1, 3}));  // x.t(): not contiguous
        t.put("column", tensor("0", 6, 1, new long[]{2, 1}, new long[]{3, 1}));     // x[:, 1:2]: a gather
        t.put("scalar", tensor("1", 1, 0, new long[]{}, new long[]{}));
        t.put("empty", tensor("1", 1, 0, new long[]{0, 4}, new long[]{4, 1}));
        for (boolean zip64 : new boolean[]{false, true}) {
            for (Set<String> deflate : java.util.List.of(Set.<String>of(), Set.of("0", "1", "data.pkl"))) {
                Path p = ckpt("views.ckpt", t, Map.of("0", TestZip.floats(0, 1, 2, 3, 4, 5), "1", TestZip.floats(7.5f)),
                        zip64, deflate);
                CkptFile f = CkptFile.open(p);
                String what = "zip64=" + zip64 + " deflate=" + deflate;
                assertEquals(t.keySet(), f.names(), what);
                assertArrayEquals(new float[]{0, 1, 2, 3, 4, 5}, f.tensor("whole").toFloatArray(), what);
                assertArrayEquals(new float[]{4, 5}, f.tensor("tail").toFloatArray(), what);
                assertArrayEquals(new int[]{3, 2}, f.tensor("transposed").shape(), what);
                assertArrayEquals(new float[]{0, 3, 1, 4, 2, 5}, f.tensor("transposed").toFloatArray(), what);
                assertArrayEquals(new float[]{1, 4}, f.tensor("column").toFloatArray(), what);
                assertArrayEquals(new float[]{7.5f}, f.tensor("scalar").toFloatArray(), what);
                assertEquals(0, f.tensor("empty").size(), what);
                assertEquals(deflate.isEmpty(), f.tensor("whole").segment().isMapped(), what);
            }
        }
    }

    @Test
    void parametersDtypesAndTopLevelStateDicts() throws IOException {
        // No 'state_dict' key: the top-level dict is the state dict (as torch.save(model.state_dict()) writes it).
        byte[] halfBits = {0x00, 0x3c, 0x00, (byte) 0xc0};  // float16 1.0, -2.0
        Pickle p = new Pickle().proto(2).global("collections", "OrderedDict").op(')').reduce().mark()
                .str("p").global("torch._utils", "_rebuild_parameter")
                .mark().tensor("HalfStorage", "0", 2, 0, new long[]{2}, new long[]{1}).op(0x88)
                .global("collections", "OrderedDict").op(')').reduce().tuple().reduce()
                .str("ids").tensor("LongStorage", "1", 2, 0, new long[]{2}, new long[]{1})
                .str("step").integer(5)
                .setItems().stop();
        Path file = TestZip.write(dir.resolve("sd.pt"), Map.of("sd/data.pkl", p.bytes(), "sd/data/0", halfBits,
                "sd/data/1", new byte[]{9, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff,
                        (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff}), false, Set.of());
        TensorFile f = TensorFiles.open(file);
        assertEquals(Set.of("p", "ids"), f.names());
        assertEquals(DType.F16, f.tensor("p").dtype());
        assertArrayEquals(new float[]{1f, -2f}, f.tensor("p").toFloatArray());
        assertEquals(DType.I64, f.tensor("ids").dtype());
        assertArrayEquals(new long[]{9, -1}, f.tensor("ids").toLongArray());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> f.tensor("nope"));
        assertEquals("nope", e.key());
    }

    @Test
    void lightningCheckpointExtrasAreInertData() throws IOException {
        // The original SD checkpoints were saved by PyTorch Lightning: besides the state dict they hold callback
        // state keyed by the ModelCheckpoint class, numpy scalars (via _codecs.encode) and sets. These are data,
        // built as inert markers; the tensors are still found.
        Pickle p = new Pickle().proto(2).emptyDict().mark()
                .str("state_dict").emptyDict().mark()
                .str("w").tensor("FloatStorage", "0", 2, 0, new long[]{2}, new long[]{1}).setItems()
                .str("callbacks").emptyDict()
                .global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
                .emptyDict().str("best_model_score").global("numpy.core.multiarray", "scalar")
                .global("numpy", "dtype").mark().str("f8").op(0x89, 0x88).tuple().reduce()
                .mark().integer(3).str("<").op('N', 'N', 'N').integer(1).integer(1).integer(0).tuple().op('b')
                .global("_codecs", "encode").mark().str("\u0000\u0000\u0000\u0000\u0000\u0000\u00f0?").str("latin1").tuple()
                .reduce().op(0x86).reduce().op('s').op('s')
                .str("hparams").global("__builtin__", "set").mark().str("lr").op('l').tuple1().reduce()
                .setItems().stop();
        Path file = TestZip.write(dir.resolve("last.ckpt"), Map.of("last/data.pkl", p.bytes(),
                "last/data/0", TestZip.floats(0.25f, -4f)), false, Set.of());
        CkptFile f = CkptFile.open(file);
        assertEquals(Set.of("w"), f.names());
        assertArrayEquals(new float[]{0.25f, -4f}, f.tensor("w").toFloatArray());
    }

    @Test
    void noOtherExceptionEscapes() throws IOException {
        // Damage a small valid checkpoint at random, and cut it at every length: only ModelFormatException may come out.
        Map<String, byte[]> t = new LinkedHashMap<>();
        t.put("a", tensor("0", 6, 0, new long[]{2, 3}, new long[]{3, 1}));
        t.put("b", tensor("0", 6, 1, new long[]{3, 2}, new long[]{1, 3}));
        Path good = ckpt("good.ckpt", t, Map.of("0", TestZip.floats(0, 1, 2, 3, 4, 5)), true, Set.of());
        byte[] bytes = Files.readAllBytes(good);
        Random rnd = new Random(42);
        for (int i = 0; i < 3000; i++) {
            Path bad = dir.resolve("bad" + i + ".ckpt");  // a fresh file each time: earlier mappings stay valid
            byte[] b = i < bytes.length ? java.util.Arrays.copyOf(bytes, i) : bytes.clone();
            if (i >= bytes.length) for (int k = 0; k < 1 + rnd.nextInt(4); k++) b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
            Files.write(bad, b);
            try {
                CkptFile f = CkptFile.open(bad);
                for (String n : f.names()) f.tensor(n).toFloatArray();
            } catch (ModelFormatException expected) {
                assertEquals(bad, expected.file(), expected.getMessage());
            }
        }
    }

    // ---- helpers ----

    private ModelFormatException refused(Executable open, Path file) {
        ModelFormatException e = assertThrows(ModelFormatException.class, open);
        assertTrue(e.getMessage().startsWith(file.toString()), "message names the file: " + e.getMessage());
        return e;
    }

    /** The pickle of one tensor (float32), for {@link #ckpt}. */
    private static byte[] tensor(String key, long numel, long offset, long[] size, long[] stride) {
        return new Pickle().tensor("FloatStorage", key, numel, offset, size, stride).bytes();
    }

    /** A checkpoint {"state_dict": {name: tensor...}, "global_step": 0} as torch.save writes it. */
    private Path ckpt(String name, Map<String, byte[]> tensors, Map<String, byte[]> storages, boolean zip64,
                      Set<String> deflate) throws IOException {
        Pickle p = new Pickle().proto(2).emptyDict().mark().str("state_dict").emptyDict().mark();
        tensors.forEach((k, v) -> p.str(k).op(toInts(v)));
        p.setItems().str("global_step").integer(0).setItems().stop();
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("archive/data.pkl", p.bytes());
        storages.forEach((k, v) -> entries.put("archive/data/" + k, v));
        entries.put("archive/version", "3\n".getBytes());
        Set<String> deflated = new java.util.HashSet<>();
        for (String d : deflate) deflated.add(d.equals("data.pkl") ? "archive/data.pkl" : "archive/data/" + d);
        return TestZip.write(dir.resolve(name), entries, zip64, deflated);
    }

    private static int[] toInts(byte[] b) {
        int[] out = new int[b.length];
        for (int i = 0; i < b.length; i++) out[i] = b[i] & 0xff;
        return out;
    }
}
