package dev.jdiffusion.models;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipTextConfig;
import dev.jdiffusion.models.clip.ClipTextModel;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** CLIP text encoder parity with transformers: every output within 1e-4 of the largest reference magnitude. */
class ClipTextModelTest {
    static final double TOL = 1e-4;

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void matchesTransformers(String model) {
        DiffusersFolder folder = DiffusersFolder.open(Fixtures.model(model));
        ClipTextModel clip = new ClipTextModel(ClipTextConfig.from(folder.config("text_encoder")),
                WeightSource.of(folder.weights("text_encoder", false)));
        JsonNode files = Fixtures.manifest(model).get("files");
        List<String> tokPrompts = strings(files.get("tokenizer.safetensors").get("prompts"));
        List<String> encPrompts = strings(files.get("text_encoder.safetensors").get("prompts"));
        SafeTensors tok = Fixtures.expected(model, "tokenizer.safetensors");
        SafeTensors ref = Fixtures.expected(model, "text_encoder.safetensors");
        // The manifest lists 5 encoder prompts: a shorter list would silently test less.
        assertEquals(5, encPrompts.size(), "text encoder prompts in the manifest");
        int layers = clip.config().numHiddenLayers();
        for (int p = 0; p < encPrompts.size(); p++) {
            // Token ids come from the reference tokenizer so this test isolates the encoder.
            long[] ids = tok.tensor("ids_%02d".formatted(tokPrompts.indexOf(encPrompts.get(p)))).toLongArray();
            int[] ids32 = new int[ids.length];
            for (int i = 0; i < ids.length; i++) ids32[i] = (int) ids[i];
            ClipTextModel.Output out = clip.forward(new int[][]{ids32});
            String nn = "_%02d".formatted(p);
            Tensor penultimate = out.hiddenStates().get(layers - 1);
            assertCloseToMax(ref.tensor("last_hidden_state" + nn), out.lastHiddenState().data(), TOL, model + " last" + nn);
            assertCloseToMax(ref.tensor("penultimate" + nn), penultimate.data(), TOL, model + " penultimate" + nn);
            assertCloseToMax(ref.tensor("penultimate_final_ln" + nn), clip.finalLayerNorm(penultimate).data(), TOL,
                    model + " penultimate_final_ln" + nn);
            assertCloseToMax(ref.tensor("pooled" + nn), out.pooled().data(), TOL, model + " pooled" + nn);
        }
    }

    private static List<String> strings(JsonNode arr) {
        List<String> out = new ArrayList<>();
        arr.forEach(n -> out.add(n.asText()));
        return out;
    }
}
