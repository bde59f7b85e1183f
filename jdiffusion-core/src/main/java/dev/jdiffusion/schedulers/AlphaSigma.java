package dev.jdiffusion.schedulers;

/**
 * A noise level as the DPM-Solver family writes it, x_t = alpha_t x_0 + sigma_t eps: diffusers'
 * _sigma_to_alpha_sigma_t in float32.
 */
record AlphaSigma(float alpha, float sigma) {

    /** alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha_t. */
    static AlphaSigma of(float sigma) {
        float alpha = 1f / (float) Math.sqrt(sigma * sigma + 1f);
        return new AlphaSigma(alpha, sigma * alpha);
    }

    /** lambda_t = log(alpha_t) - log(sigma_t), half the log signal-to-noise ratio (+infinity at sigma 0). */
    float lambda() {
        return (float) Math.log(alpha) - (float) Math.log(sigma);
    }
}
