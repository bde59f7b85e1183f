package dev.jdiffusion.cli;

import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** `jdiffusion convert` end to end: both directions, and one line with exit status 2 for each bad input. */
class ConvertCommandTest {
    @TempDir Path dir;
    final StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        return Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    }

    private static Path singleFile(String name) { return Fixtures.root().resolve("single-file").resolve(name); }

    @Test
    void folderToSingleFileIsTheExportScriptsFile() throws IOException {
        Path file = dir.resolve("tiny-sd2.safetensors");
        assertEquals(0, run("convert", Fixtures.model("tiny-sd2").toString(), file.toString()), err.toString());
        assertEquals(file.toString(), out.toString().strip());
        assertTrue(err.toString().startsWith("Stable Diffusion 2.x: 524 tensors"), err.toString());
        SafeTensors expected = SafeTensors.open(singleFile("tiny-sd2.safetensors")), actual = SafeTensors.open(file);
        assertEquals(List.copyOf(expected.names()), List.copyOf(actual.names()));
        for (String name : expected.names())
            assertEquals(-1, expected.tensor(name).segment().mismatch(actual.tensor(name).segment()), name);
    }

    @Test
    void singleFileToFolderWithHalfWeights() throws IOException {
        Path folder = dir.resolve("tiny-sd15-fp16");
        assertEquals(0, run("convert", singleFile("tiny-sd15.ckpt").toString(), folder.toString(),
                "--config", Fixtures.model("tiny-sd15").toString(), "--half"), err.toString());
        assertEquals(folder.toString(), out.toString().strip());
        DiffusersFolder f = DiffusersFolder.open(folder);
        SafeTensors unet = f.weights("unet", false);
        assertEquals(SafeTensors.open(Fixtures.model("tiny-sd15").resolve("unet/diffusion_pytorch_model.safetensors")).names(),
                unet.names());
        for (String name : unet.names()) assertEquals(DType.F16, unet.tensor(name).dtype(), name);

        // Once more: refused without --overwrite, replaced with it.
        err.getBuffer().setLength(0);
        assertEquals(Main.EXIT_USAGE, run("convert", singleFile("tiny-sd15.ckpt").toString(), folder.toString(),
                "--config", Fixtures.model("tiny-sd15").toString()));
        assertOneLine("jdiffusion: " + folder + ": already exists (give --overwrite to replace it)");
        err.getBuffer().setLength(0);
        assertEquals(0, run("convert", singleFile("tiny-sd15.ckpt").toString(), folder.toString(),
                "--config", Fixtures.model("tiny-sd15").toString(), "--overwrite"), err.toString());
        assertEquals(DType.F32, DiffusersFolder.open(folder).weights("unet", false).tensor("conv_in.weight").dtype());
    }

    @Test
    void inputThatIsNeitherAFolderNorATensorFile() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertEquals(Main.EXIT_USAGE, run("convert", empty.toString(), dir.resolve("x.safetensors").toString()));
        assertOneLine("jdiffusion: " + empty + ": neither a diffusers folder (it has no model_index.json) nor a checkpoint file (.safetensors, .ckpt)");

        err.getBuffer().setLength(0);
        Path text = Files.writeString(dir.resolve("notes.txt"), "not a model");
        assertEquals(Main.EXIT_USAGE, run("convert", text.toString(), dir.resolve("folder").toString()));
        assertOneLine(text + ": unknown model file format");
        assertFalse(Files.exists(dir.resolve("folder")));
    }

    @Test
    void aMissingTensorIsNamedBeforeAnythingIsWritten() throws IOException {
        SafeTensors src = SafeTensors.open(singleFile("tiny-sd15.safetensors"));
        String dropped = "first_stage_model.decoder.mid.attn_1.q.weight";
        Map<String, WeightTensor> kept = new LinkedHashMap<>();
        for (String n : src.names()) if (!n.equals(dropped)) kept.put(n, src.tensor(n));
        Path broken = dir.resolve("broken.safetensors");
        SafeTensorsWriter.write(broken, kept, null);
        Path folder = dir.resolve("broken");
        assertEquals(Main.EXIT_USAGE, run("convert", broken.toString(), folder.toString(), "--config", Fixtures.model("tiny-sd15").toString()));
        assertOneLine("jdiffusion: " + broken + ": '" + dropped + "': tensor is missing from the checkpoint"
                + " (the vae's 'decoder.mid_block.attentions.0.to_q.weight' in diffusers' names)");
        assertFalse(Files.exists(folder));
    }

    @Test
    void anUnsupportedFamilyIsNamed() throws IOException {
        SafeTensors src = SafeTensors.open(singleFile("tiny-sd15.safetensors"));
        Map<String, WeightTensor> sdxl = new LinkedHashMap<>();
        for (String n : src.names()) if (n.startsWith("model.diffusion_model.")) sdxl.put(n, src.tensor(n));
        sdxl.put("conditioner.embedders.0.transformer.text_model.final_layer_norm.bias",
                src.tensor("cond_stage_model.transformer.text_model.final_layer_norm.bias"));
        Path file = dir.resolve("xl.safetensors");
        SafeTensorsWriter.write(file, sdxl, null);
        assertEquals(Main.EXIT_USAGE, run("convert", file.toString(), dir.resolve("xl").toString()));
        assertOneLine("jdiffusion: " + file + ": this is a Stable Diffusion XL checkpoint");
    }

    @Test
    void badOutputSuffixes() {
        assertEquals(Main.EXIT_USAGE, run("convert", Fixtures.model("tiny-sd15").toString(), dir.resolve("model.ckpt").toString()));
        assertOneLine("jdiffusion: " + dir.resolve("model.ckpt") + ": a diffusers folder is converted into one .safetensors file:"
                + " the output's name must end in .safetensors");
        err.getBuffer().setLength(0);
        assertEquals(Main.EXIT_USAGE, run("convert", singleFile("tiny-sd15.safetensors").toString(),
                dir.resolve("model.safetensors").toString(), "--config", Fixtures.model("tiny-sd15").toString()));
        assertOneLine("jdiffusion: " + dir.resolve("model.safetensors") + ": a single-file checkpoint is converted into a"
                + " diffusers folder: the output must be a folder name, not a .safetensors file");
        err.getBuffer().setLength(0);
        assertEquals(Main.EXIT_USAGE, run("convert", singleFile("tiny-sd15.safetensors").toString(), dir.resolve("m").toString(),
                "--prediction-type", "x0"));
        assertOneLine("jdiffusion: --prediction-type: unknown prediction type 'x0'");
    }

    /** stderr is one line that starts with (or, when it names a file, contains) {@code expected}. */
    private void assertOneLine(String expected) {
        String message = err.toString();
        assertEquals(1, message.lines().count(), message);
        assertTrue(message.contains(expected), message);
    }
}
