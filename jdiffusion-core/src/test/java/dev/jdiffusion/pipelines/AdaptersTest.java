package dev.jdiffusion.pipelines;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.pipelines.prompt.PromptSyntax;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** How requests name adapters, what a model with adapters shares with its base, and what the infotext records. */
class AdaptersTest {
    static final Path LORAS = Fixtures.root().resolve("prompt-control/loras");
    static final Path EMBEDDINGS = Fixtures.root().resolve("prompt-control/embeddings");
    static final StableDiffusionPipeline SD15 = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15"));

    static List<Lora> tags(String prompt) { return Adapters.fromTags(prompt, LORAS); }

    /** A1111's multipliers: NAME[:TE[:UNET]], te=, unet=; TE defaults to 1, UNET to TE; lyco is lora. */
    @Test
    void loraTags() {
        Path te = LORAS.resolve("te_only.safetensors");
        assertEquals(List.of(new Lora(te, 1, 1, "te_only")), tags("a <lora:te_only> b"));
        assertEquals(List.of(new Lora(te, 0.5, 1.2, "te_only")), tags("<lora:te_only:0.5:1.2>"));
        assertEquals(List.of(new Lora(te, 0.3, 0.9, "te_only")), tags("<lora:te_only:0.3:unet=0.9>"));
        assertEquals(List.of(new Lora(te, 0.7, 0.7, "te_only"), new Lora(LORAS.resolve("peft_detail.safetensors"), -1, -1, "peft_detail")),
                tags("<lyco:te_only:0.7>, x <lora:peft_detail:-1> <hello:world>"));
        assertEquals(List.of(), tags("no tags, <lora> or <lora:> here"));
    }

    @Test
    void badTagsAreOneClearLine() {
        assertEquals("prompt: <lora:nope:0.5>: no LoRA named 'nope' in " + LORAS + " (looked for nope.safetensors, .pt, .ckpt)",
                assertThrows(IllegalArgumentException.class, () -> tags("x <lora:nope:0.5>")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Adapters.fromTags("<lora:te_only:1>", null)).getMessage()
                .contains("no LoRA folder was given (--lora-dir DIR"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> tags("<lora:te_only:abc>")).getMessage()
                .contains("the multiplier 'abc' is not a number"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> tags("<hypernet:x:1>")).getMessage().contains("hypernetworks"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> tags("<lora:te_only:1:dyn=4>")).getMessage().contains("dyn="));
    }

    @Test
    void tagsAreFoundInSubfoldersAndOnlyWithTheA1111Syntax(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("styles"));
        Files.copy(LORAS.resolve("te_only.safetensors"), dir.resolve("styles/mine.safetensors"));
        assertEquals(dir.resolve("styles/mine.safetensors"), Adapters.fromTags("<lora:mine:1>", dir).getFirst().file());
        GenerationRequest plain = GenerationRequest.builder("x <lora:mine:1>").loraDirectory(dir).promptSyntax(PromptSyntax.PLAIN).build();
        assertTrue(Adapters.of(plain).isEmpty(), "plain syntax: the tag is text, as in diffusers");
        assertEquals(1, Adapters.of(plain.toBuilder().promptSyntax(PromptSyntax.A1111).build()).loras().size());
    }

    /** Derived models share what the adapters do not change: the VAE always, the UNet for a text-encoder LoRA, all parts again without adapters. */
    @Test
    void adaptedModelsShareTheirBase() {
        StableDiffusionModel base = SD15.model();
        StableDiffusionModel teOnly = base.withAdapters(Adapters.of(GenerationRequest.builder("x").lora(LORAS.resolve("te_only.safetensors"), 1).build()));
        assertSame(base.vae(), teOnly.vae());
        assertSame(base.unet(), teOnly.unet(), "a text-encoder LoRA leaves the UNet as it was");
        assertNotSame(base.textEncoder(), teOnly.textEncoder());
        StableDiffusionModel ti = teOnly.withAdapters(Adapters.of(GenerationRequest.builder("x").embedding(EMBEDDINGS.resolve("softgrain.safetensors")).build()));
        assertSame(base.unet(), ti.unet());
        assertEquals(1, ti.embeddings().entries().size());
        StableDiffusionModel again = ti.withAdapters(Adapters.NONE);
        assertSame(base.textEncoder(), again.textEncoder(), "adapters are not cumulative: NONE is the base");
        assertSame(base.unet(), again.unet());
        Adapters a = Adapters.of(GenerationRequest.builder("x").lora(LORAS.resolve("locon_style.safetensors"), 0.5).build());
        assertSame(SD15.withAdapters(a), SD15.withAdapters(Adapters.of(GenerationRequest.builder("y").lora(LORAS.resolve("locon_style.safetensors"), 0.5).build())),
                "the same adapters reuse the adapted pipeline");
        assertSame(SD15, SD15.withAdapters(Adapters.NONE));
    }

    /** A request with a LoRA does not change what the next request without one gets. */
    @Test
    void theBaseIsUnchangedByAdaptedRequests() {
        GenerationRequest plain = GenerationRequest.builder("a red house").steps(2).seed(4).sampler("euler").build();
        byte[] before = SD15.generate(plain).images().getFirst().rgb();
        byte[] adapted = SD15.generate(plain.toBuilder().lora(LORAS.resolve("locon_style.safetensors"), 1).build()).images().getFirst().rgb();
        byte[] after = SD15.generate(plain).images().getFirst().rgb();
        assertFalse(java.util.Arrays.equals(before, adapted), "the LoRA changes the image");
        assertArrayEquals(before, after);
    }

    /**
     * The infotext records A1111's "Lora hashes" (kohya's addnet hash: SHA-256 of the file after its header) and
     * "TI hashes" (SHA-256 of the file) of the embeddings used, and --lora options as tags, so that the prompt
     * reproduces the image when pasted into A1111.
     */
    @Test
    void infotextRecordsLorasAndEmbeddings() throws Exception {
        Path lora = LORAS.resolve("te_only.safetensors");
        GenerationRequest r = GenerationRequest.builder("a <lora:peft_detail:0.4> cat, softgrain").negativePrompt("vividstyle")
                .lora(lora, 1.3).loraDirectory(LORAS).embeddingsDirectory(EMBEDDINGS).steps(1).seed(1).build();
        String p = SD15.generate(r).parameters().getFirst();
        assertTrue(p.startsWith("a <lora:peft_detail:0.4> cat, softgrain <lora:te_only:1.3>\nNegative prompt: vividstyle\n"), p);
        assertTrue(p.contains(", Lora hashes: \"te_only: " + addnet(lora) + ", peft_detail: " + addnet(LORAS.resolve("peft_detail.safetensors"))
                + "\", TI hashes: \"softgrain: " + sha(EMBEDDINGS.resolve("softgrain.safetensors")) + ", vividstyle: "
                + sha(EMBEDDINGS.resolve("vividstyle.pt")) + "\", Version: jdiffusion"), p);
        String plain = SD15.generate(GenerationRequest.builder("a cat").promptSyntax(PromptSyntax.PLAIN).lora(lora, 1.3).steps(1).seed(1).build())
                .parameters().getFirst();
        assertTrue(plain.startsWith("a cat\n") && plain.contains("Lora hashes: \"te_only: "), plain);
        assertFalse(SD15.generate(GenerationRequest.builder("a cat").steps(1).seed(1).build()).parameters().getFirst().contains("hashes"));
    }

    static String sha(Path p) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p))).substring(0, 12);
    }

    static String addnet(Path p) throws Exception {
        byte[] b = Files.readAllBytes(p);
        long n = java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] data = java.util.Arrays.copyOfRange(b, (int) (8 + n), b.length);
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data)).substring(0, 12);
    }

    /** Embeddings: a wrong width given by name is refused by name; in a folder it is skipped unless the prompt uses it. */
    @Test
    void embeddingsOfAnotherWidth(@TempDir Path dir) throws IOException {
        Path wide = dir.resolve("widestyle.safetensors");
        SafeTensorsWriter.write(wide, Map.of("emb_params", WeightTensor.ofFloats("e", new float[2 * 768], 2, 768)), Map.of());
        GenerationRequest r = GenerationRequest.builder("a widestyle cat").embedding(wide).steps(1).seed(1).build();
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> SD15.generate(r));
        assertEquals(wide + ": embedding 'widestyle' has vectors of width 768 (SD 1.x), but this model's text encoder takes 32:"
                + " an embedding made for another architecture", e.getMessage());
        Files.copy(EMBEDDINGS.resolve("softgrain.safetensors"), dir.resolve("softgrain.safetensors"));
        GenerationRequest folder = GenerationRequest.builder("a softgrain cat").embeddingsDirectory(dir).steps(1).seed(1).build();
        assertTrue(SD15.generate(folder).parameters().getFirst().contains("TI hashes: \"softgrain: "), "the fitting one works");
        assertThrows(ModelFormatException.class, () -> SD15.generate(folder.toBuilder().negativePrompt("widestyle").build()), "using the skipped one is an error");
    }

    /** plain syntax follows diffusers: a trigger that is already a CLIP token cannot be added. */
    @Test
    void plainSyntaxRefusesATriggerTheVocabularyHas(@TempDir Path dir) throws IOException {
        Path cat = dir.resolve("cat.safetensors");
        SafeTensorsWriter.write(cat, Map.of("emb_params", WeightTensor.ofFloats("e", new float[32], 1, 32)), Map.of());
        GenerationRequest r = GenerationRequest.builder("a cat").embedding(cat).promptSyntax(PromptSyntax.PLAIN).steps(1).seed(1).build();
        assertTrue(assertThrows(ModelFormatException.class, () -> SD15.generate(r)).getMessage().contains("already in the CLIP vocabulary"));
        assertTrue(SD15.generate(r.toBuilder().promptSyntax(PromptSyntax.A1111).build()).parameters().getFirst().contains("TI hashes: \"cat: "),
                "A1111 matches the trigger's own tokens");
    }
}
