package dev.jdiffusion.io;

import dev.jdiffusion.io.ckpt.CkptFile;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/** Opens a file of tensors in whichever format it is, judged by its first bytes, then by its extension. */
public final class TensorFiles {
    private TensorFiles() {}

    public static TensorFile open(Path file) {
        byte[] head = new byte[9];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file, null, "file not found");
        } catch (IOException e) {
            throw new ModelFormatException(file, null, "cannot read model file: " + e.getMessage(), e);
        }
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        // PyTorch: a zip ("PK\3\4") since 1.6, a raw pickle (PROTO opcode 0x80) before; CkptFile explains the latter.
        // safetensors first: an 8-byte little-endian header length (whose first byte may be anything, 0x80
        // included), then the JSON header's '{'.
        if (n == 9 && head[8] == '{' && ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getLong() > 0)
            return SafeTensors.open(file);
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return CkptFile.open(file);
        if (n >= 1 && head[0] == (byte) 0x80) return CkptFile.open(file);
        if (name.endsWith(".safetensors")) return SafeTensors.open(file);  // it will say what is wrong with it
        if (name.endsWith(".ckpt") || name.endsWith(".pt") || name.endsWith(".pth") || name.endsWith(".bin"))
            return CkptFile.open(file);
        throw new ModelFormatException(file, null, "unknown model file format: expected a .safetensors file or a "
                + "PyTorch checkpoint (.ckpt, .pt, .pth, .bin: a zip archive written by torch.save)"
                + (n >= 4 && head[0] == 'G' && head[1] == 'G' && head[2] == 'U' && head[3] == 'F' ? "; GGUF files are not supported" : ""));
    }
}
