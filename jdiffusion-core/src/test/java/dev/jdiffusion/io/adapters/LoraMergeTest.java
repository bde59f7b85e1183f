package dev.jdiffusion.io.adapters;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.adapters.LoraFile.Part;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.*;

/** LoRA files read and merged: against W + scale·(α/r)·up·down computed by torch (fused.safetensors), and the refusals. */
class LoraMergeTest {
    static Path extra(String f) { return Fixtures.root().resolve("prompt-control-extra").resolve(f); }

    static Path fixture(String f) { return Fixtures.root().resolve("prompt-control").resolve(f); }

    /** Every tensor of a model part's file and its shape: what the model's parts read from a diffusers folder. */
    static Map<String, int[]> inventory(SafeTensors f) {
        Map<String, int[]> m = new LinkedHashMap<>();
        for (String n : f.names()) m.put(n, f.tensor(n).shape());
        return m;
    }

    static SafeTensors te(String model) { return SafeTensors.open(Fixtures.model(model).resolve("text_encoder/model.safetensors")); }

    static SafeTensors unet(String model) {
        return SafeTensors.open(Fixtures.model(model).resolve("unet/diffusion_pytorch_model.safetensors"));
    }

    static Map<Part, Map<String, int[]>> inventories(String model) {
        return Map.of(Part.TEXT_ENCODER, inventory(te(model)), Part.UNET, inventory(unet(model)));
    }

    /**
     * tiny-sd2 with an fp16 kohya LoCon (rank 8, alpha 4) at 0.7 and with OpenCLIP-named text-encoder layers (the fused
     * in_proj split into q, k, v): the merged tensors equal torch's W + ΔW within 1e-6 of their largest magnitude.
     */
    @Test
    void mergedTensorsMatchTorch() {
        SafeTensors ref = SafeTensors.open(extra("fused.safetensors"));
        Map<String, WeightSource> sources = new LinkedHashMap<>();
        for (var lora : List.of(Map.entry("sd2_locon_0.7", new LoraMerge.Scaled(LoraFile.open(extra("loras/sd2_locon.safetensors")), 0.7, 0.7)),
                Map.entry("sd2_openclip_te_1.0", new LoraMerge.Scaled(LoraFile.open(extra("loras/sd2_openclip_te.safetensors")), 1, 1)))) {
            LoraMerge.Plan plan = LoraMerge.plan(List.of(lora.getValue()), inventories("tiny-sd2"));
            sources.put(lora.getKey() + "/te", LoraMerge.apply(WeightSource.of(te("tiny-sd2")), plan.of(Part.TEXT_ENCODER)));
            sources.put(lora.getKey() + "/unet", LoraMerge.apply(WeightSource.of(unet("tiny-sd2")), plan.of(Part.UNET)));
        }
        int n = 0;
        for (String key : ref.names()) {
            String lora = key.substring(0, key.indexOf('/')), name = key.substring(key.indexOf('/') + 1);
            WeightSource s = sources.get(lora + (name.startsWith("text_model.") ? "/te" : "/unet"));
            WeightTensor merged = s.get(name);
            assertArrayEquals(ref.tensor(key).shape(), merged.shape(), key);
            assertCloseToMax(ref.tensor(key), merged.toFloatArray(), 1e-6, key);
            n++;
        }
        assertEquals(10, n, "reference tensors checked");
    }

    /** Only adapted tensors are copied: every other one is the file's mapped view, and the plan lists nothing else. */
    @Test
    void untouchedTensorsStayMappedViews() {
        LoraMerge.Plan plan = LoraMerge.plan(List.of(new LoraMerge.Scaled(LoraFile.open(fixture("loras/te_only.safetensors")), 1, 1)),
                inventories("tiny-sd15"));
        assertFalse(plan.touches(Part.UNET), "a text-encoder LoRA changes no UNet tensor");
        assertEquals(30, plan.of(Part.TEXT_ENCODER).size(), "30 layers, one tensor each");
        SafeTensors file = te("tiny-sd15");
        WeightSource merged = LoraMerge.apply(WeightSource.of(file), plan.of(Part.TEXT_ENCODER));
        WeightTensor untouched = merged.get("text_model.encoder.layers.0.layer_norm1.weight");
        assertTrue(untouched.segment().isNative(), "mapped");
        assertEquals(file.tensor("text_model.encoder.layers.0.layer_norm1.weight").segment().address(), untouched.segment().address());
        WeightTensor adapted = merged.get("text_model.encoder.layers.0.self_attn.q_proj.weight");
        assertFalse(adapted.segment().isNative(), "a merged copy");
        assertSame(adapted, merged.get("text_model.encoder.layers.0.self_attn.q_proj.weight"), "merged once");
    }

    /** F16 weights stay F16 (rounded once from the float32 sum, as A1111 and diffusers keep fp16 models), F32 and BF16 give F32. */
    @Test
    void mergedDtypes() {
        float[] w = {0.1f, -0.25f, 0.3333f, 2f, -1f, 0.5f};  // 2 × 3
        float[] down = {1f, 2f, -1f}, up = {0.5f, -0.25f};  // rank 1
        float factor = 0.7f;
        WeightTensor d = WeightTensor.ofFloats("down", down, 1, 3), u = WeightTensor.ofFloats("up", up, 2, 1);
        for (DType dt : List.of(DType.F32, DType.F16, DType.BF16)) {
            WeightTensor base = tensor(w, dt);
            WeightTensor m = LoraMerge.merge(base, List.of(new LoraMerge.Delta(d, u, 0, factor, "x")));
            assertEquals(dt == DType.F16 ? DType.F16 : DType.F32, m.dtype(), dt.toString());
            for (int o = 0; o < 2; o++)
                for (int i = 0; i < 3; i++) {
                    float expected = base.getFloat(o * 3 + i) + factor * up[o] * down[i];
                    if (dt == DType.F16) expected = Float.float16ToFloat(Float.floatToFloat16(expected));
                    assertEquals(expected, m.getFloat(o * 3 + i), 1e-7f, dt + " element " + o + "," + i);
                }
        }
    }

    private static WeightTensor tensor(float[] v, DType dt) {
        if (dt == DType.F32) return WeightTensor.ofFloats("w", v, 2, 3);
        MemorySegment seg = MemorySegment.ofArray(new byte[v.length * 2]);
        ValueLayout.OfShort s = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++)
            seg.setAtIndex(s, i, dt == DType.F16 ? Float.floatToFloat16(v[i]) : (short) (Float.floatToRawIntBits(v[i]) >>> 16));
        return new WeightTensor("w", dt, new int[]{2, 3}, seg);
    }

    /** A kohya LoRA whose text encoder is 1024 wide with 23 layers (SD 2.x) does not fit a 32-wide, 5-layer model: refused whole. */
    @Test
    void aLoraForAnotherArchitectureIsRefusedWhole(@TempDir Path tmp) throws IOException {
        Path file = tmp.resolve("sd2_style.safetensors");
        Map<String, WeightTensor> t = new LinkedHashMap<>();
        for (int layer : new int[]{0, 22}) {
            String k = "lora_te_text_model_encoder_layers_" + layer + "_self_attn_q_proj";
            t.put(k + ".lora_down.weight", WeightTensor.ofFloats("d", new float[2 * 1024], 2, 1024));
            t.put(k + ".lora_up.weight", WeightTensor.ofFloats("u", new float[1024 * 2], 1024, 2));
        }
        t.put("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight", WeightTensor.ofFloats("d", new float[2 * 1024], 2, 1024));
        t.put("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight", WeightTensor.ofFloats("u", new float[32 * 2], 32, 2));
        SafeTensorsWriter.write(file, t, Map.of());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> LoraMerge.plan(
                List.of(new LoraMerge.Scaled(LoraFile.open(file), 1, 1)), inventories("tiny-sd15")));
        String msg = e.getMessage();
        assertTrue(msg.startsWith(file + ": this LoRA does not fit the model"), msg);
        assertTrue(msg.contains("1 of its 3 layers have no counterpart") && msg.contains("layers_22"), msg);
        assertTrue(msg.contains("2 layers have other widths") && msg.contains("takes 1024 inputs where the model's layer takes 32"), msg);
        assertTrue(msg.contains("its text encoder is 1024 wide (SD 2.x), the model's 32"), msg);
        assertFalse(msg.contains("\n"), "one line");
    }

    @Test
    void unknownAndUnsupportedKeysAreNamed(@TempDir Path tmp) throws IOException {
        WeightTensor small = WeightTensor.ofFloats("x", new float[4], 2, 2);
        assertMessage(tmp, Map.of("lora_unet_a.lora_down.weight", small, "lora_unet_a.lora_up.weight", small, "foo.bar.weight", small),
                "1 tensor is not LoRA weights jdiffusion knows (foo.bar.weight)");
        assertMessage(tmp, Map.of("lora_unet_a.hada_w1_a", small), "LoHa (LyCORIS) adapters are not supported");
        assertMessage(tmp, Map.of("lora_te1_text_model_x.lora_down.weight", small), "this is an SDXL LoRA");
        assertMessage(tmp, Map.of("lora_unet_a.lora_down.weight", small), "the layer has a down matrix but no up");
        assertMessage(tmp, Map.of("unet.a.lora_A.weight", small, "unet.a.lora_B.weight", WeightTensor.ofFloats("x", new float[6], 2, 3)),
                "the up matrix must be (out, 2[, 1, 1])");
    }

    private static void assertMessage(Path tmp, Map<String, WeightTensor> tensors, String expected) throws IOException {
        Path f = Files.createTempFile(tmp, "lora", ".safetensors");
        SafeTensorsWriter.write(f, tensors, Map.of());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> LoraFile.open(f));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
    }

    /** Each spelling maps onto the model: kohya (with LoCon convolutions), PEFT, the pre-PEFT diffusers names. */
    @Test
    void everyLayerOfEachFormatFindsItsTensor() {
        record Case(String file, String format, int layers, String model) {}
        for (Case c : List.of(new Case("prompt-control/loras/locon_style.safetensors", "kohya", 147, "tiny-sd15"),
                new Case("prompt-control/loras/peft_detail.safetensors", "diffusers", 92, "tiny-sd15"),
                new Case("prompt-control-extra/loras/sd15_old_diffusers.safetensors", "diffusers", 58, "tiny-sd15"))) {
            LoraFile f = LoraFile.open(Fixtures.root().resolve(c.file()));
            assertEquals(c.format(), f.format(), c.file());
            assertEquals(c.layers(), f.layers().size(), c.file());
            LoraMerge.Plan plan = LoraMerge.plan(List.of(new LoraMerge.Scaled(f, 1, 1)), inventories(c.model()));
            int deltas = plan.of(Part.TEXT_ENCODER).size() + plan.of(Part.UNET).size();
            assertEquals(c.layers(), deltas, c.file() + ": one tensor per layer");
        }
    }

    @Test
    void aTruncatedFileIsOneErrorNamingIt(@TempDir Path tmp) throws IOException {
        Path f = tmp.resolve("cut.safetensors");
        byte[] all = Files.readAllBytes(fixture("loras/te_only.safetensors"));
        Files.write(f, java.util.Arrays.copyOf(all, all.length / 2));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> LoraFile.open(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
    }
}
