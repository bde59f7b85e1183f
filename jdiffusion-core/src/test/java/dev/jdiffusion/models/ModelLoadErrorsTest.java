package dev.jdiffusion.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNet2DConditionModel;
import dev.jdiffusion.models.vae.AutoencoderKLConfig;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.*;

/** Bad checkpoints and configs fail with one message naming the file, the key or tensor, and what was expected. */
class ModelLoadErrorsTest {
    @TempDir Path dir;
    final ObjectMapper json = new ObjectMapper();
    final Path unetDir = Fixtures.model("tiny-sd15").resolve("unet");

    /** The tiny-sd15 UNet config with {@code edit} applied, written to a temp config.json. */
    private JsonConfig unetConfig(Consumer<ObjectNode> edit) throws IOException {
        return partConfig("unet", edit);
    }

    /** The config.json of tiny-sd15's {@code part} with {@code edit} applied, written to a temp folder. */
    private JsonConfig partConfig(String part, Consumer<ObjectNode> edit) throws IOException {
        ObjectNode cfg = (ObjectNode) json.readTree(Fixtures.model("tiny-sd15").resolve(part).resolve("config.json").toFile());
        edit.accept(cfg);
        Path p = dir.resolve(part).resolve("config.json");
        Files.createDirectories(p.getParent());
        json.writeValue(p.toFile(), cfg);
        return JsonConfig.read(p);
    }

    private static ModelFormatException fails(Runnable r, String... fragments) {
        ModelFormatException e = assertThrows(ModelFormatException.class, r::run);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' in: " + e.getMessage());
        return e;
    }

    @Test
    void missingConfigKey() throws IOException {
        JsonConfig c = unetConfig(o -> o.remove("block_out_channels"));
        ModelFormatException e = fails(() -> UNet2DConditionConfig.from(c), "config.json", "'block_out_channels'", "missing");
        assertEquals("block_out_channels", e.key());
    }

    @Test
    void wrongTypeOfConfigValue() throws IOException {
        JsonConfig c = unetConfig(o -> o.put("layers_per_block", "two"));
        fails(() -> UNet2DConditionConfig.from(c), "'layers_per_block'", "expected a list of integers");
    }

    @Test
    void unsupportedBlockType() throws IOException {
        JsonConfig c = unetConfig(o -> o.putArray("down_block_types").add("AttnDownBlock2D").add("DownBlock2D"));
        fails(() -> UNet2DConditionConfig.from(c), "'down_block_types'", "unsupported block type 'AttnDownBlock2D'",
                "CrossAttnDownBlock2D");
    }

    @Test
    void unsupportedConfigValue() throws IOException {
        JsonConfig c = unetConfig(o -> o.put("class_embed_type", "timestep"));
        fails(() -> UNet2DConditionConfig.from(c), "'class_embed_type'", "unsupported value");
        JsonConfig act = unetConfig(o -> o.put("act_fn", "mish"));
        fails(() -> UNet2DConditionConfig.from(act), "'act_fn'", "unsupported value 'mish'");
    }

    /** Values of the right type that no model can have: refused by key, not an ArithmeticException or an index error. */
    @Test
    void nonsenseUNetValues() throws IOException {
        JsonConfig zeroHeads = unetConfig(o -> o.put("attention_head_dim", 0));
        ModelFormatException e = fails(() -> UNet2DConditionConfig.from(zeroHeads),
                "unet/config.json", "'attention_head_dim'", "positive number of heads, got 0");
        assertEquals(zeroHeads.file(), e.file());
        JsonConfig zeroInList = unetConfig(o -> o.putNull("attention_head_dim").putArray("num_attention_heads").add(8).add(0));
        fails(() -> UNet2DConditionConfig.from(zeroInList), "'num_attention_heads'", "got 0 for block 1");
        JsonConfig noBlocks = unetConfig(o -> {
            o.putArray("block_out_channels");
            o.putArray("down_block_types");
            o.putArray("up_block_types");
        });
        fails(() -> UNet2DConditionConfig.from(noBlocks), "'block_out_channels'", "one positive channel count per block");
        JsonConfig groups = unetConfig(o -> o.put("norm_num_groups", 24));
        assertEquals("norm_num_groups", fails(() -> UNet2DConditionConfig.from(groups),
                "unet/config.json", "24 groups do not divide 32 channels of block 0").key());
        JsonConfig zeroGroups = unetConfig(o -> o.put("norm_num_groups", 0));
        fails(() -> UNet2DConditionConfig.from(zeroGroups), "'norm_num_groups'", "0 groups");
    }

    @Test
    void nonsenseVaeAndTextEncoderValues() throws IOException {
        JsonConfig noBlocks = partConfig("vae", o -> {
            o.putArray("block_out_channels");
            o.putArray("down_block_types");
            o.putArray("up_block_types");
        });
        fails(() -> AutoencoderKLConfig.from(noBlocks), "vae/config.json", "'block_out_channels'", "one positive channel count");
        JsonConfig groups = partConfig("vae", o -> o.put("norm_num_groups", 48));
        assertEquals("norm_num_groups", fails(() -> AutoencoderKLConfig.from(groups),
                "vae/config.json", "48 groups do not divide 32 channels of block 0").key());

        JsonConfig indivisible = partConfig("text_encoder", o -> o.put("num_attention_heads", 5));
        assertEquals("num_attention_heads", fails(() -> ClipTextConfig.from(indivisible),
                "text_encoder/config.json", "5 heads do not divide hidden_size 32").key());
        JsonConfig zeroHeads = partConfig("text_encoder", o -> o.put("num_attention_heads", 0));
        fails(() -> ClipTextConfig.from(zeroHeads), "'num_attention_heads'", "positive number of heads, got 0");
    }

    @Test
    void invalidJsonNamesTheFileAndWhere() throws IOException {
        Path p = dir.resolve("unet").resolve("config.json");
        Files.createDirectories(p.getParent());
        Files.writeString(p, "{\n  \"block_out_channels\": [32, 64],,\n}");
        ModelFormatException e = fails(() -> JsonConfig.read(p), p.toString(), "not valid JSON at line 2");
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        assertEquals(p, e.file());
    }

    @Test
    void unknownExtraKeysAreIgnored() throws IOException {
        JsonConfig c = unetConfig(o -> o.put("some_future_option", 42).put("_comment", "x"));
        UNet2DConditionConfig cfg = UNet2DConditionConfig.from(c);
        assertEquals(UNet2DConditionConfig.from(JsonConfig.read(unetDir.resolve("config.json"))), cfg);
    }

    @Test
    void weightsOfTheWrongShape() throws IOException {
        // A config that does not match the weights: cross-attention width 64 instead of 32.
        JsonConfig c = unetConfig(o -> o.put("cross_attention_dim", 64));
        WeightSource w = WeightSource.of(SafeTensors.open(unetDir.resolve("diffusion_pytorch_model.safetensors")));
        fails(() -> new UNet2DConditionModel(UNet2DConditionConfig.from(c), w),
                "attn2.to_k.weight", "has shape [32, 32]", "config implies [32, 64]");
    }

    @Test
    void missingTensor() throws IOException {
        SafeTensors full = SafeTensors.open(unetDir.resolve("diffusion_pytorch_model.safetensors"));
        Map<String, WeightTensor> some = new LinkedHashMap<>();
        for (String n : full.names()) if (!n.equals("conv_in.weight")) some.put(n, full.tensor(n));
        Path p = dir.resolve("partial.safetensors");
        SafeTensorsWriter.write(p, some, null);
        WeightSource w = WeightSource.of(SafeTensors.open(p));
        UNet2DConditionConfig cfg = UNet2DConditionConfig.from(JsonConfig.read(unetDir.resolve("config.json")));
        ModelFormatException e = fails(() -> new UNet2DConditionModel(cfg, w), "partial.safetensors", "'conv_in.weight'", "missing");
        assertEquals("conv_in.weight", e.key());
    }

    @Test
    void truncatedCheckpoint() throws IOException {
        byte[] bytes = Files.readAllBytes(unetDir.resolve("diffusion_pytorch_model.safetensors"));
        Path p = dir.resolve("truncated.safetensors");
        Files.write(p, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        fails(() -> SafeTensors.open(p), "truncated.safetensors", "truncated");
    }

    @Test
    void corruptHeader() throws IOException {
        byte[] bytes = Files.readAllBytes(unetDir.resolve("diffusion_pytorch_model.safetensors"));
        bytes[8] = '#'; // the header's opening brace
        Path p = dir.resolve("corrupt.safetensors");
        Files.write(p, bytes);
        fails(() -> SafeTensors.open(p), "corrupt.safetensors", "not valid JSON");
    }

    @Test
    void otherPartsRefuseWhatTheyCannotRun() throws IOException {
        ObjectNode vae = (ObjectNode) json.readTree(Fixtures.model("tiny-sd15").resolve("vae/config.json").toFile());
        vae.putArray("up_block_types").add("UpDecoderBlock2D").add("AttnUpDecoderBlock2D");
        Path v = dir.resolve("vae.json");
        json.writeValue(v.toFile(), vae);
        fails(() -> AutoencoderKLConfig.from(JsonConfig.read(v)), "'up_block_types'", "AttnUpDecoderBlock2D");

        ObjectNode te = (ObjectNode) json.readTree(Fixtures.model("tiny-sd15").resolve("text_encoder/config.json").toFile());
        te.put("hidden_act", "relu");
        Path t = dir.resolve("te.json");
        json.writeValue(t.toFile(), te);
        fails(() -> ClipTextConfig.from(JsonConfig.read(t)), "'hidden_act'", "unsupported value 'relu'", "quick_gelu");
    }

    @Test
    void notAModelFolder() throws IOException {
        fails(() -> DiffusersFolder.open(dir.resolve("nowhere")), "nowhere", "model folder not found");
        fails(() -> DiffusersFolder.open(dir), "model_index.json is missing");
        Files.writeString(dir.resolve("model_index.json"), "{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"],"
                + "\"vae\": [\"diffusers\", \"AutoencoderTiny\"], \"text_encoder\": [\"transformers\", \"CLIPTextModel\"],"
                + "\"tokenizer\": [\"transformers\", \"CLIPTokenizer\"]}");
        fails(() -> DiffusersFolder.open(dir), "model_index.json", "'vae'", "unsupported class AutoencoderTiny");
    }
}
