package dev.jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `train --replay` against PyTorch autograd + torch.optim in float64 on the real diffusers models
 * (testdata/training: the four shared fixture cases, and three made by scripts/reference/training_reference.py —
 * SD 2 v-prediction with the text encoder, min-SNR and clipping at 40×56; AdamW at another learning rate,
 * weight decay and clipping at 48×32, batch 1; the SD 2 VAE at 56×40). Tolerances are the issue's, set by how
 * far PyTorch's own float32 lands from the float64 reference:
 * <ul>
 *   <li>every step's loss within 1e-4 relative;</li>
 *   <li>SGD: each element's change (final − initial) within 0.2% of the larger of its tensor's largest change and
 *       1% of the case's largest change, plus 4 float32 ulps of the weight;</li>
 *   <li>AdamW: elements whose gradient strength (smallest |g| / RMS over the steps) exceeds 1e-3 within 2% of
 *       lr·steps, every element within 2.5·lr·steps (Adam turns rounding noise of a zero gradient into ±lr).</li>
 * </ul>
 */
class TrainReplayParityTest {
    @TempDir Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"unet_sgd", "unet_adamw", "unet_text_encoder_adamw_snr", "vae_sgd",
            "sd2_vpred_te_sgd_40x56", "sd15_adamw_clip05_48x32", "sd2_vae_sgd_56x40"})
    void replayMatchesPyTorch(String name) throws IOException {
        Path dir = Fixtures.root().resolve("training").resolve(name);
        SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"));
        Map<String, String> c = caseOptions(name, expected);
        TrainingOptions o = new TrainingOptions();
        String train = c.get("train");
        o.target = train.equals("vae") ? TrainingOptions.Target.VAE : TrainingOptions.Target.UNET;
        o.trainTextEncoder = train.equals("unet+text_encoder");
        o.model = Fixtures.model(Path.of(c.get("model")).getFileName().toString());
        o.output = tmp.resolve("out");
        o.replay = dir.resolve("replay.safetensors");
        o.optimizer = c.get("optimizer");
        o.learningRate = Double.parseDouble(c.get("lr"));
        o.weightDecay = Double.parseDouble(c.getOrDefault("weight_decay", "0.01"));
        o.maxGradNorm = Double.parseDouble(c.get("max_grad_norm"));
        o.snrGamma = Double.parseDouble(c.getOrDefault("snr_gamma", "0"));
        o.klWeight = Double.parseDouble(c.getOrDefault("kl_weight", "1e-6"));
        Trainer trainer = new Trainer(o);
        List<Double> losses = new ArrayList<>();
        trainer.run(new Trainer.Listener() {
            @Override public void onStep(Trainer.StepLog log, int total) { losses.add(log.loss()); }
        });
        int steps = 0;
        while (expected.contains("loss." + steps)) steps++;
        assertEquals(steps, losses.size(), "steps run");
        for (int k = 0; k < steps; k++) {
            double ref = expected.tensor("loss." + k).getDouble(0);
            assertEquals(ref, losses.get(k), 1e-4 * Math.abs(ref), name + " loss of step " + k);
        }
        double worst = worstErrorOverTolerance(trainer.parameters(), expected, DiffusersFolder.open(o.model),
                o.optimizer.equals("adamw"), o.learningRate * steps);
        System.out.printf("%s: worst error / tolerance %.3f%n", name, worst);
        assertTrue(worst <= 1.0, name + ": an element is off by " + worst + " × its tolerance");
    }

    /** The case's options: the shared manifest's entry, or the metadata the reference script stored. */
    private static Map<String, String> caseOptions(String name, SafeTensors expected) throws IOException {
        Map<String, String> c = new HashMap<>(expected.metadata());
        JsonNode manifest = new ObjectMapper().readTree(Fixtures.root().resolve("training/manifest.json").toFile());
        JsonNode entry = manifest.path("cases").path(name);
        entry.fields().forEachRemaining(e -> c.put(e.getKey(), e.getValue().asText()));
        return c;
    }

    static double worstErrorOverTolerance(Parameters params, SafeTensors expected, DiffusersFolder initialModel, boolean adam,
                                          double lrTimesSteps) {
        Map<String, SafeTensors> parts = new HashMap<>();
        Map<String, float[]> initial = new HashMap<>();
        double caseMax = 0;
        for (Parameters.Parameter p : params.all()) {
            String part = p.name().substring(0, p.name().indexOf('.'));
            float[] init = parts.computeIfAbsent(part, x -> initialModel.weights(x, false))
                    .tensor(p.name().substring(part.length() + 1)).toFloatArray();
            initial.put(p.name(), init);
            float[] exp = expected.tensor(p.name()).toFloatArray();
            for (int i = 0; i < exp.length; i++) caseMax = Math.max(caseMax, Math.abs(exp[i] - init[i]));
        }
        assertTrue(caseMax > 0, "the reference changed no weight");
        double worst = 0;
        for (Parameters.Parameter p : params.all()) {
            float[] exp = expected.tensor(p.name()).toFloatArray(), init = initial.get(p.name()), got = p.value();
            if (adam) {
                WeightTensor strength = expected.tensor("gradient_strength." + p.name());
                for (int i = 0; i < exp.length; i++) {
                    double tol = strength.getFloat(i) > 1e-3 ? 0.02 * lrTimesSteps : 2.5 * lrTimesSteps;
                    worst = Math.max(worst, Math.abs(got[i] - exp[i]) / tol);
                }
            } else {
                double tensorMax = 0;
                for (int i = 0; i < exp.length; i++) tensorMax = Math.max(tensorMax, Math.abs(exp[i] - init[i]));
                double scale = Math.max(tensorMax, 0.01 * caseMax);
                for (int i = 0; i < exp.length; i++) {
                    double err = Math.abs((got[i] - init[i]) - (exp[i] - init[i]));
                    worst = Math.max(worst, err / (0.002 * scale + 4 * Math.ulp(exp[i])));
                }
            }
        }
        return worst;
    }
}
