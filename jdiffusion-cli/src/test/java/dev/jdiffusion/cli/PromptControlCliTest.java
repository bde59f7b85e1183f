package dev.jdiffusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** generate and tokenize with the A1111 syntax, LoRAs and embeddings, from the command line. */
class PromptControlCliTest {
    static final Path FIXTURES = Fixtures.root().resolve("prompt-control");

    record Result(int status, String out, String err) {}

    static Result run(List<String> args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int status = Main.run(args.toArray(String[]::new), new PrintWriter(out, true), new PrintWriter(err, true));
        return new Result(status, out.toString(), err.toString());
    }

    /** The fixture case's own command line (paths made absolute), writing to {@code png}. */
    static List<String> cli(String name, Path png) throws IOException {
        JsonNode m = new ObjectMapper().readTree(FIXTURES.resolve("manifest.json").toFile()).get("files").get("cases/" + name + ".safetensors");
        List<String> args = new ArrayList<>();
        m.get("cli").forEach(a -> args.add(a.asText()));
        for (int i = 0; i < args.size() - 1; i++) {
            switch (args.get(i)) {
                case "--model" -> args.set(i + 1, Fixtures.model("tiny-sd15").toString());
                case "--lora-dir", "--embeddings-dir", "--embedding" -> args.set(i + 1, FIXTURES.resolve(args.get(i + 1)).toString());
                case "--lora" -> args.set(i + 1, FIXTURES.resolve(args.get(i + 1)).toString());
                case "--output" -> args.set(i + 1, png.toString());
                default -> { }
            }
        }
        return args;
    }

    /** The fixture's lora_tag case exactly as its manifest's command line says: a <lora:NAME:SCALE> tag found in --lora-dir. */
    @Test
    void loraTagCase(@TempDir Path tmp) throws IOException {
        Path png = tmp.resolve("lora_tag.png");
        Result r = run(cli("lora_tag", png));
        assertEquals(0, r.status(), r.err());
        GenerateCommandTest.assertPixelsMatch(png, SafeTensors.open(FIXTURES.resolve("cases/lora_tag.safetensors")), 0);
        String params = dev.jdiffusion.image.PngFiles.read(png).text().get("parameters");
        assertTrue(params.startsWith("a bowl of fruit on a table <lora:locon_style:0.7>, still life\n"), params);
        assertTrue(params.contains("Lora hashes: \"locon_style: "), params);
    }

    /** Each bad adapter is one stderr line naming the problem, exit status 2, and no image. */
    @Test
    void badAdaptersAreOneLineAndNoImage(@TempDir Path tmp) throws IOException {
        Path sd2Lora = tmp.resolve("sd2_lora.safetensors");
        Map<String, WeightTensor> t = new LinkedHashMap<>();
        t.put("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", WeightTensor.ofFloats("d", new float[4 * 1024], 4, 1024));
        t.put("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", WeightTensor.ofFloats("u", new float[1024 * 4], 1024, 4));
        t.put("lora_te_text_model_encoder_layers_22_mlp_fc1.lora_down.weight", WeightTensor.ofFloats("d", new float[4 * 1024], 4, 1024));
        t.put("lora_te_text_model_encoder_layers_22_mlp_fc1.lora_up.weight", WeightTensor.ofFloats("u", new float[4096 * 4], 4096, 4));
        SafeTensorsWriter.write(sd2Lora, t, Map.of());
        Path truncated = tmp.resolve("cut.safetensors");
        byte[] all = Files.readAllBytes(FIXTURES.resolve("loras/te_only.safetensors"));
        Files.write(truncated, java.util.Arrays.copyOf(all, all.length - 1000));
        Path wide = tmp.resolve("widestyle.safetensors");
        SafeTensorsWriter.write(wide, Map.of("emb_params", WeightTensor.ofFloats("e", new float[3 * 1024], 3, 1024)), Map.of());

        record Bad(List<String> args, String message) {}
        for (Bad b : List.of(
                new Bad(List.of("--lora", sd2Lora + ":0.8"), sd2Lora + ": this LoRA does not fit the model"),
                new Bad(List.of("--lora", truncated.toString()), truncated + ": "),
                new Bad(List.of("--prompt", "a cat <lora:missing_style:0.7>", "--lora-dir", FIXTURES.resolve("loras").toString()),
                        "prompt: <lora:missing_style:0.7>: no LoRA named 'missing_style' in "),
                new Bad(List.of("--embedding", wide.toString()), wide + ": embedding 'widestyle' has vectors of width 1024 (SD 2.x)"))) {
            Path png = tmp.resolve("out.png");
            List<String> args = new ArrayList<>(List.of("generate", "--model", Fixtures.model("tiny-sd15").toString(), "--steps", "1",
                    "--seed", "1", "--width", "64", "--height", "64", "--quiet", "--output", png.toString()));
            if (!b.args().contains("--prompt")) args.addAll(List.of("--prompt", "a widestyle cat"));
            args.addAll(b.args());
            Result r = run(args);
            assertEquals(2, r.status(), b.message() + " / " + r.err());
            assertEquals(1, r.err().lines().count(), r.err());
            assertTrue(r.err().startsWith("jdiffusion: " + b.message()), r.err());
            assertFalse(Files.exists(png), "no image for " + b.args());
        }
        Result r = run(List.of("generate", "--model", "x", "--prompt", "x", "--prompt-syntax", "comfy"));
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("jdiffusion: --prompt-syntax: unknown prompt syntax 'comfy'"), r.err());
        r = run(List.of("generate", "--model", "x", "--prompt", "x", "--lora", "a.safetensors:1.2.3"));
        assertEquals(2, r.status());
        assertTrue(r.err().contains("--lora a.safetensors:1.2.3: the scale '1.2.3' is not a number"), r.err());
    }

    /** tokenize --json in A1111 syntax: the fixture's chunks (the comma rule's) with their ids and weights. */
    @Test
    void tokenizeShowsChunksAndWeights() throws Exception {
        JsonNode m = new ObjectMapper().readTree(FIXTURES.resolve("manifest.json").toFile()).get("files").get("cases/long_comma_backtrack.safetensors");
        StringWriter out = new StringWriter(), err = new StringWriter();
        int status = Main.run(new String[]{"tokenize", "--model", Fixtures.model("tiny-sd15").toString(), "--json", m.get("prompt").asText()},
                new PrintWriter(out, true), new PrintWriter(err, true));
        assertEquals(0, status, err.toString());
        JsonNode json = new ObjectMapper().readTree(out.toString());
        SafeTensors ref = SafeTensors.open(FIXTURES.resolve("cases/long_comma_backtrack.safetensors"));
        long[] tokens = ref.tensor("prompt_tokens").toLongArray();
        float[] weights = ref.tensor("prompt_multipliers").toFloatArray();
        assertEquals(2, json.get("chunks").size());
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 77; i++) {
                assertEquals(tokens[c * 77 + i], json.get("chunks").get(c).get("input_ids").get(i).asLong());
                assertEquals(weights[c * 77 + i], json.get("chunks").get(c).get("multipliers").get(i).floatValue());
            }
        assertEquals(73, json.get("chunks").get(0).get("tokens").asInt(), "the comma rule ends chunk 1 after 73 tokens");

        out = new StringWriter();
        status = Main.run(new String[]{"tokenize", "--model", Fixtures.model("tiny-sd15").toString(),
                        "--embedding", FIXTURES.resolve("embeddings/vividstyle.pt").toString(), "a (red:1.5) house, vividstyle BREAK [[mist]]"},
                new PrintWriter(out, true), new PrintWriter(err, true));
        assertEquals(0, status, err.toString());
        String nl = System.lineSeparator();
        assertEquals("8 tokens in 2 chunks of 75" + nl + "chunk 1, 7 tokens: a (red:1.5) house , vividstyle" + nl
                + "chunk 2, 1 tokens: (mist:0.8264)" + nl, out.toString());
    }
}
