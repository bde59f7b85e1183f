package dev.jdiffusion.models.safety;

import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.models.clip.ClipVisionConfig;
import dev.jdiffusion.models.clip.ClipVisionModel;
import dev.jdiffusion.models.nn.Linear;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.WeightTensor;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers' StableDiffusionSafetyChecker: a CLIP vision tower and {@code visual_projection} embed the image;
 * its cosine similarity with 3 "special care" and 17 concept embeddings, less each one's threshold
 * ({@code *_embeds_weights}), gives the scores. Scored exactly as diffusers' {@code forward}: the cosines in
 * float32, the differences in float64 (numpy's promotion of a float32 scalar and a Python float); a special
 * score that rounds (to 3 decimals, numpy's round half to even) above 0 adds 0.01 to the later special scores
 * and to every concept score; the image is NSFW when a concept score rounds above 0.
 */
public final class StableDiffusionSafetyChecker {
    /** diffusers fixes the number of concepts: 17 concept embeddings and 3 special-care ones. */
    public static final int CONCEPTS = 17, SPECIAL_CONCEPTS = 3;
    /** What a special-care hit adds to the later scores (diffusers' {@code adjustment}). */
    public static final double SPECIAL_CARE_ADJUSTMENT = 0.01;

    /**
     * What {@code forward} computes for one image.
     *
     * @param conceptScores 17 scores before rounding: cos − threshold + adjustment
     * @param specialScores 3 scores before rounding
     * @param specialCare   indices of the special concepts whose rounded score is above 0
     * @param badConcepts   indices of the concepts whose rounded score is above 0
     * @param nsfw          whether any concept is bad (diffusers' has_nsfw_concepts)
     */
    public record Scores(double[] conceptScores, double[] specialScores, List<Integer> specialCare,
                         List<Integer> badConcepts, boolean nsfw) {}

    private final ClipVisionModel visionModel;
    private final Linear visualProjection;
    private final int projectionDim;
    private final float[][] conceptEmbeds, specialCareEmbeds;
    private final float[] conceptWeights, specialCareWeights;

    /**
     * @param config  the checker's config.json (a CLIPConfig: top-level projection_dim, vision_config)
     * @param weights its model.safetensors: {@code vision_model.vision_model.*}, {@code visual_projection.weight},
     *                the embeddings and thresholds
     */
    public StableDiffusionSafetyChecker(JsonConfig config, WeightSource weights) {
        ClipVisionConfig vision = ClipVisionConfig.fromClipConfig(config);
        projectionDim = config.getInt("projection_dim", 512);
        if (projectionDim <= 0)
            throw new ModelFormatException(config.file(), "projection_dim", "must be positive, got " + projectionDim);
        visionModel = new ClipVisionModel(vision, weights.prefixed("vision_model."));
        visualProjection = new Linear(weights, "visual_projection", vision.hiddenSize(), projectionDim, false);
        conceptEmbeds = normalizedRows(weights.get("concept_embeds", CONCEPTS, projectionDim));
        specialCareEmbeds = normalizedRows(weights.get("special_care_embeds", SPECIAL_CONCEPTS, projectionDim));
        conceptWeights = weights.get("concept_embeds_weights", CONCEPTS).toFloatArray();
        specialCareWeights = weights.get("special_care_embeds_weights", SPECIAL_CONCEPTS).toFloatArray();
    }

    public ClipVisionModel visionModel() { return visionModel; }

    /** The image size the vision tower takes (the preprocessor's crop must match it). */
    public int imageSize() { return visionModel.config().imageSize(); }

    /** visual_projection(pooled output) for {@code n} preprocessed images (n, 3, S, S): (n, projection_dim). */
    public Tensor imageEmbeds(float[] pixelValues, int n) {
        return visualProjection.forward(visionModel.forward(pixelValues, n).pooled());
    }

    /** Scores {@code n} preprocessed images. */
    public List<Scores> forward(float[] pixelValues, int n) {
        Tensor embeds = imageEmbeds(pixelValues, n);
        List<Scores> out = new ArrayList<>(n);
        float[] e = embeds.data();
        for (int i = 0; i < n; i++) {
            float[] image = normalize(e, i * projectionDim, projectionDim);
            out.add(score(cosines(image, specialCareEmbeds), cosines(image, conceptEmbeds)));
        }
        return out;
    }

    /** The scoring loop of diffusers' forward, on one image's cosines. */
    Scores score(float[] specialCos, float[] conceptCos) {
        double adjustment = 0.0;
        double[] special = new double[SPECIAL_CONCEPTS], concept = new double[CONCEPTS];
        List<Integer> specialCare = new ArrayList<>(), bad = new ArrayList<>();
        for (int j = 0; j < SPECIAL_CONCEPTS; j++) {
            special[j] = (double) specialCos[j] - specialCareWeights[j] + adjustment;
            if (roundsAboveZero(special[j])) {
                specialCare.add(j);
                adjustment = SPECIAL_CARE_ADJUSTMENT;
            }
        }
        for (int k = 0; k < CONCEPTS; k++) {
            concept[k] = (double) conceptCos[k] - conceptWeights[k] + adjustment;
            if (roundsAboveZero(concept[k])) bad.add(k);
        }
        return new Scores(concept, special, List.copyOf(specialCare), List.copyOf(bad), !bad.isEmpty());
    }

    /** {@code round(score, 3) > 0} with numpy's round (x·1000 rounded half to even, divided back). */
    static boolean roundsAboveZero(double score) { return Math.rint(score * 1000) / 1000 > 0; }

    /** torch.nn.functional.normalize: x / max(‖x‖₂, 1e-12), in float32. */
    private static float[] normalize(float[] x, int off, int len) {
        double sq = 0;
        for (int i = 0; i < len; i++) sq += (double) x[off + i] * x[off + i];
        float norm = (float) Math.max(Math.sqrt(sq), 1e-12);
        float[] out = new float[len];
        for (int i = 0; i < len; i++) out[i] = x[off + i] / norm;
        return out;
    }

    private static float[][] normalizedRows(WeightTensor t) {
        int rows = t.dim(0), cols = t.dim(1);
        float[] all = t.toFloatArray();
        float[][] out = new float[rows][];
        for (int r = 0; r < rows; r++) out[r] = normalize(all, r * cols, cols);
        return out;
    }

    /** The float32 cosine of the normalised image embedding with each normalised row (torch.mm). */
    private static float[] cosines(float[] image, float[][] rows) {
        float[] out = new float[rows.length];
        for (int r = 0; r < rows.length; r++) {
            double dot = 0;
            for (int i = 0; i < image.length; i++) dot += (double) image[i] * rows[r][i];
            out[r] = (float) dot;
        }
        return out;
    }
}
