package dev.jdiffusion.pipelines;

import dev.jdiffusion.image.Canny;
import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.models.controlnet.ControlNetModel;

import java.util.Objects;

/**
 * One ControlNet of a request (A1111's "ControlNet unit"): the net, its control image and how strongly and when it
 * steers. Several units make a multi-ControlNet, their residuals summed in the given order.
 *
 * @param model         the ControlNet (load it once with {@link ControlNets#load}; a unit only refers to it)
 * @param image         the control image (an edge map, depth map, pose, ...), resized to the generated size;
 *                      with {@code preprocessor} the picture the annotator turns into one
 * @param scale         diffusers' {@code controlnet_conditioning_scale} (A1111's "Weight")
 * @param guidanceStart the fraction of the steps before which the net is off ({@code control_guidance_start})
 * @param guidanceEnd   the fraction after which it is off again ({@code control_guidance_end})
 * @param preprocessor  null, or "canny:LOW:HIGH": OpenCV's Canny edges of the image at its own size first
 */
public record ControlNetUnit(ControlNetModel model, PilImage image, double scale, double guidanceStart,
                             double guidanceEnd, String preprocessor) {
    public ControlNetUnit {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(image, "image");
        if (!Double.isFinite(scale)) throw new IllegalArgumentException("control scale must be a number, got " + scale);
        if (!(guidanceStart >= 0)) throw new IllegalArgumentException("control guidance start must be at least 0, got " + guidanceStart);
        if (!(guidanceEnd <= 1)) throw new IllegalArgumentException("control guidance end must be at most 1, got " + guidanceEnd);
        if (!(guidanceStart < guidanceEnd))
            throw new IllegalArgumentException("control guidance start (" + guidanceStart + ") must be below its end (" + guidanceEnd + ")");
        if (preprocessor != null) Canny.parseSpec(preprocessor);
    }

    /** A unit with diffusers' defaults: scale 1, the whole schedule, no preprocessor. */
    public static ControlNetUnit of(ControlNetModel model, PilImage image) {
        return new ControlNetUnit(model, image, 1.0, 0.0, 1.0, null);
    }

    public ControlNetUnit withScale(double s) { return new ControlNetUnit(model, image, s, guidanceStart, guidanceEnd, preprocessor); }

    public ControlNetUnit withGuidance(double start, double end) { return new ControlNetUnit(model, image, scale, start, end, preprocessor); }

    public ControlNetUnit withPreprocessor(String p) { return new ControlNetUnit(model, image, scale, guidanceStart, guidanceEnd, p); }

    /** The control image after the preprocessor (the picture the net is given before resizing). */
    public PilImage preprocessedImage() {
        if (preprocessor == null) return image;
        double[] t = Canny.parseSpec(preprocessor);
        return PilImage.of(Canny.edges(image.toRgb(), t[0], t[1]));
    }
}
