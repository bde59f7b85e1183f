package dev.jdiffusion.schedulers;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

/**
 * The training noise schedule that every diffusers scheduler builds in {@code __init__}: betas, their cumulative
 * product {@code alphas_cumprod}, and the sigmas derived from it; float32 like diffusers' tensors. Also the
 * helpers that turn it into inference sigmas (interpolation, Karras spacing, sigma-to-timestep).
 */
final class NoiseSchedule {
    private final int numTrainTimesteps;
    private final float[] betas;
    private final float[] alphasCumprod;
    private final float[] sigmas;
    private final float[] logSigmas;

    private NoiseSchedule(float[] betas) {
        numTrainTimesteps = betas.length;
        this.betas = betas.clone();
        alphasCumprod = new float[betas.length];
        // torch.cumprod accumulates float32 in double on the CPU, rounding each output.
        double product = 1;
        for (int i = 0; i < betas.length; i++) {
            product *= 1f - betas[i];
            alphasCumprod[i] = (float) product;
        }
        sigmas = new float[betas.length];
        logSigmas = new float[betas.length];
        for (int i = 0; i < betas.length; i++) {
            sigmas[i] = (float) Math.sqrt((1f - alphasCumprod[i]) / alphasCumprod[i]);
            logSigmas[i] = (float) Math.log(sigmas[i]);
        }
    }

    /**
     * From the config keys num_train_timesteps, beta_start, beta_end, beta_schedule (linear, scaled_linear,
     * squaredcos_cap_v2) and trained_betas, with the scheduler class's defaults for beta_start and beta_end.
     */
    static NoiseSchedule fromConfig(JsonConfig config, double defaultBetaStart, double defaultBetaEnd) {
        int numTrain = config.getInt("num_train_timesteps", 1000);
        if (numTrain < 2) throw new ModelFormatException(config.file(), "num_train_timesteps", "must be at least 2");
        if (config.has("trained_betas")) return new NoiseSchedule(trainedBetas(config, numTrain));
        String schedule = config.getEnum("beta_schedule", "linear", "linear", "scaled_linear", "squaredcos_cap_v2");
        double start = config.getDouble("beta_start", defaultBetaStart);
        double end = config.getDouble("beta_end", defaultBetaEnd);
        float[] betas = switch (schedule) {
            case "linear" -> torchLinspace((float) start, (float) end, numTrain);
            case "scaled_linear" -> {
                float[] b = torchLinspace((float) Math.sqrt(start), (float) Math.sqrt(end), numTrain);
                for (int i = 0; i < b.length; i++) b[i] = b[i] * b[i];
                yield b;
            }
            default -> betasForAlphaBar(numTrain);
        };
        return new NoiseSchedule(betas);
    }

    private static float[] trainedBetas(JsonConfig config, int numTrain) {
        JsonNode list = config.root().get("trained_betas");
        if (!list.isArray() || list.size() != numTrain)
            throw new ModelFormatException(config.file(), "trained_betas",
                    "must be a list of num_train_timesteps (" + numTrain + ") numbers");
        float[] betas = new float[numTrain];
        for (int i = 0; i < numTrain; i++) {
            if (!list.get(i).isNumber())
                throw new ModelFormatException(config.file(), "trained_betas", "entry " + i + " is not a number");
            betas[i] = (float) list.get(i).asDouble();
        }
        return betas;
    }

    /**
     * {@code torch.linspace(start, end, steps, dtype=float32)} as PyTorch 1.13's AVX2 CPU kernel computes it:
     * step = (end - start) / (steps - 1) in float; in blocks of 8 (16 per loop turn) a base value counted from the
     * nearer end, then base + k * step; the remaining tail one value at a time. GCC fused each multiply-add, so
     * one rounding each. Emulating this, not computing the ideal values, is what makes sigmas match to the bit.
     */
    static float[] torchLinspace(float start, float end, int steps) {
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        int vectorized = steps / 16 * 16;
        for (int i = 0; i < vectorized; i += 8) {
            float base = i < halfway ? Math.fma(step, i, start) : Math.fma(-step, steps - i - 1, end);
            out[i] = base;
            for (int k = 1; k < 8; k++) out[i + k] = Math.fma(k, step, base);
        }
        for (int i = vectorized; i < steps; i++)
            out[i] = i < halfway ? Math.fma(step, i, start) : Math.fma(-step, steps - i - 1, end);
        return out;
    }

    /** diffusers' betas_for_alpha_bar with the cosine alpha_bar ("squaredcos_cap_v2"), in float64, then float32. */
    private static float[] betasForAlphaBar(int numTrain) {
        float[] betas = new float[numTrain];
        for (int i = 0; i < numTrain; i++) {
            double t1 = (double) i / numTrain;
            double t2 = (double) (i + 1) / numTrain;
            betas[i] = (float) Math.min(1 - cosineAlphaBar(t2) / cosineAlphaBar(t1), 0.999);
        }
        return betas;
    }

    private static double cosineAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    int numTrainTimesteps() { return numTrainTimesteps; }

    /** {@code betas[t]}. */
    float beta(int t) { return betas[t]; }

    /** {@code alphas_cumprod[t]}. */
    float alphaCumprod(int t) { return alphasCumprod[t]; }

    /**
     * add_noise of the alphas_cumprod-based schedulers (DDIM, DDPM, PNDM): the forward process at timestep t,
     * {@code sqrt(alphas_cumprod[t]) * original + sqrt(1 - alphas_cumprod[t]) * noise}.
     */
    float[] addNoise(float[] original, float[] noise, int t) {
        float sqrtAlpha = (float) Math.sqrt(alphasCumprod[t]);
        float sqrtOneMinusAlpha = (float) Math.sqrt(1f - alphasCumprod[t]);
        float[] out = new float[original.length];
        for (int i = 0; i < out.length; i++) out[i] = sqrtAlpha * original[i] + sqrtOneMinusAlpha * noise[i];
        return out;
    }

    /** {@code ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5} at training timestep t. */
    float sigma(int t) { return sigmas[t]; }

    /** {@code np.interp(timesteps, arange(T), sigmas)}: the training sigmas at (possibly fractional) timesteps. */
    double[] interpolateSigmas(double[] timesteps) {
        double[] out = new double[timesteps.length];
        int last = numTrainTimesteps - 1;
        for (int i = 0; i < timesteps.length; i++) {
            double x = timesteps[i];
            if (x <= 0) {
                out[i] = sigmas[0];
            } else if (x >= last) {
                out[i] = sigmas[last];
            } else {
                int j = (int) x;  // the training timesteps are 0, 1, 2, ...: the slope's denominator is 1
                double slope = (double) sigmas[j + 1] - sigmas[j];
                out[i] = j == x ? sigmas[j] : slope * (x - j) + sigmas[j];
            }
        }
        return out;
    }

    /**
     * Karras et al. (2022) spacing, diffusers' _convert_to_karras: n sigmas from sigmaMax down to sigmaMin, evenly
     * spaced in sigma^(1/7).
     */
    static double[] karrasSigmas(double sigmaMin, double sigmaMax, int n) {
        double rho = 7.0;
        double[] ramp = TimestepSpacing.linspace(0, 1, n);
        double minInvRho = Math.pow(sigmaMin, 1 / rho);
        double maxInvRho = Math.pow(sigmaMax, 1 / rho);
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = Math.pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), rho);
        return out;
    }

    /**
     * diffusers' _sigma_to_t: the fractional training timestep whose sigma is {@code sigma}, interpolating
     * linearly in log sigma between the two neighbouring training timesteps.
     */
    double sigmaToT(double sigma) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int low = 0;  // the last index with log_sigmas[i] <= log_sigma (0 when none), at most T - 2
        for (int i = 0; i < numTrainTimesteps; i++) if (logSigma - logSigmas[i] >= 0) low = i;
        low = Math.min(low, numTrainTimesteps - 2);
        double lowLog = logSigmas[low];
        double highLog = logSigmas[low + 1];
        double w = (lowLog - logSigma) / (lowLog - highLog);
        w = Math.clamp(w, 0, 1);
        return (1 - w) * low + w * (low + 1);
    }

    /**
     * x0 from a model output at training timestep t for the alphas_cumprod-based schedulers:
     * {@code (x - sqrt(1 - a) eps) / sqrt(a)} for epsilon, {@code sqrt(a) x - sqrt(1 - a) v} for v-prediction.
     */
    float[] predOriginalSample(PredictionType predictionType, float[] modelOutput, float[] sample, int t) {
        float sqrtAlpha = (float) Math.sqrt(alphasCumprod[t]);
        float sqrtBeta = (float) Math.sqrt(1f - alphasCumprod[t]);
        float[] x0 = new float[sample.length];
        for (int i = 0; i < x0.length; i++) {
            x0[i] = switch (predictionType) {
                case EPSILON -> (sample[i] - sqrtBeta * modelOutput[i]) / sqrtAlpha;
                case V_PREDICTION -> sqrtAlpha * sample[i] - sqrtBeta * modelOutput[i];
                case SAMPLE -> modelOutput[i];
            };
        }
        return x0;
    }
}
