package dev.jdiffusion.io.adapters;

import dev.jdiffusion.io.ModelFormatException;
import dev.jdiffusion.io.WeightSource;
import dev.jdiffusion.io.adapters.LoraFile.Layer;
import dev.jdiffusion.io.adapters.LoraFile.Part;
import dev.jdiffusion.tensor.DType;
import dev.jdiffusion.tensor.Gemm;
import dev.jdiffusion.tensor.WeightTensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * LoRAs merged into a model's weights as they load: for every adapted tensor
 * W' = W + Σ scale · (α / r) · up · down (reshaped to W's shape), computed in float32, over all LoRAs given.
 * Only the adapted tensors get merged copies (on the heap, in W's dtype: F16 weights stay F16 as A1111 and diffusers
 * keep them, F32 and BF16 ones become F32); every other tensor stays the mapped view it was. The cost is that of the
 * adapted tensors, not of the model.
 *
 * <p>{@link #plan} matches every layer of every LoRA to a tensor of the model (by the names and shapes the model's
 * parts read, see {@link RecordingWeights}) before anything is computed: a layer with no counterpart or of another
 * width is an error that names the file and the layers, so a LoRA for another architecture is refused whole.
 */
public final class LoraMerge {
    private LoraMerge() {}

    /** A LoRA file with the multipliers for the text encoder and the UNet (A1111's te and unet multipliers). */
    public record Scaled(LoraFile file, double textEncoderScale, double unetScale) {
        public double scale(Part part) { return part == Part.UNET ? unetScale : textEncoderScale; }
    }

    /**
     * One term of an adapted tensor: {@code factor · up[rowFrom : rowFrom + rows] · down}.
     *
     * @param down   (r, in…), read as r × (W.size / W.dim(0))
     * @param up     (out…, r), read as rows × r from row rowFrom (a slice when one LoRA layer adapts a fused q/k/v tensor)
     */
    public record Delta(WeightTensor down, WeightTensor up, int rowFrom, float factor, String source) {
        int rank() { return down.dim(0); }
    }

    /** Which tensors of each part change, and how. */
    public record Plan(Map<Part, Map<String, List<Delta>>> deltas) {
        public Map<String, List<Delta>> of(Part part) { return deltas.getOrDefault(part, Map.of()); }

        public boolean touches(Part part) { return !of(part).isEmpty(); }
    }

    /** OpenCLIP names of SD 2.x text-encoder layers (what some SD 2 LoRA trainers write), as diffusers modules. */
    private static final Pattern OPEN_CLIP = Pattern.compile("model_transformer_resblocks_(\\d+)_(attn_in_proj|attn_out_proj|mlp_c_fc|mlp_c_proj)");

    /**
     * Matches the LoRAs' layers to the model's tensors.
     *
     * @param tensors per part, every tensor the model's part reads and its shape (diffusers names)
     */
    public static Plan plan(List<Scaled> loras, Map<Part, Map<String, int[]>> tensors) {
        Map<Part, Map<String, String>> underscored = new HashMap<>();
        Map<Part, Map<String, List<Delta>>> out = new LinkedHashMap<>();
        for (Scaled lora : loras) {
            List<String> missing = new ArrayList<>(), misfit = new ArrayList<>();
            Map<Part, Map<String, List<Delta>>> mine = new LinkedHashMap<>();
            for (Layer layer : lora.file().layers()) {
                Map<String, int[]> shapes = tensors.getOrDefault(layer.part(), Map.of());
                List<Target> targets = targets(layer, shapes, underscored.computeIfAbsent(layer.part(), p -> underscoreIndex(shapes)));
                if (targets.isEmpty()) {
                    missing.add(layer.key());
                    continue;
                }
                float factor = (float) (lora.scale(layer.part()) * layer.alphaOverRank());
                for (Target t : targets) {
                    int[] shape = shapes.get(t.tensor());
                    String problem = fit(layer, shape, t.rowFrom(), targets.size());
                    if (problem != null) {
                        misfit.add(layer.key() + " " + problem);
                        continue;
                    }
                    if (lora.scale(layer.part()) == 0) continue;
                    mine.computeIfAbsent(layer.part(), p -> new LinkedHashMap<>())
                            .computeIfAbsent(t.tensor(), k -> new ArrayList<>())
                            .add(new Delta(layer.down(), layer.up(), t.rowFrom(), factor, layer.key()));
                }
            }
            if (!missing.isEmpty() || !misfit.isEmpty()) throw doesNotFit(lora.file(), missing, misfit, tensors);
            mine.forEach((part, m) -> m.forEach((name, ds) ->
                    out.computeIfAbsent(part, p -> new LinkedHashMap<>()).computeIfAbsent(name, k -> new ArrayList<>()).addAll(ds)));
        }
        return new Plan(out);
    }

    private record Target(String tensor, int rowFrom) {}

    /** module path with '_' for '.' → its weight's name, for kohya's names. */
    private static Map<String, String> underscoreIndex(Map<String, int[]> shapes) {
        Map<String, String> index = new HashMap<>();
        for (String name : shapes.keySet())
            if (name.endsWith(".weight")) index.put(name.substring(0, name.length() - 7).replace('.', '_'), name);
        return index;
    }

    private static List<Target> targets(Layer layer, Map<String, int[]> shapes, Map<String, String> underscored) {
        if (!layer.underscored()) {
            String name = layer.path() + ".weight";
            return shapes.containsKey(name) ? List.of(new Target(name, 0)) : List.of();
        }
        String name = underscored.get(layer.path());
        if (name != null) return List.of(new Target(name, 0));
        Matcher m = OPEN_CLIP.matcher(layer.path());
        if (layer.part() == Part.TEXT_ENCODER && m.matches()) {
            String base = "text_model.encoder.layers." + m.group(1) + ".";
            List<Target> t = switch (m.group(2)) {
                case "attn_out_proj" -> List.of(new Target(base + "self_attn.out_proj.weight", 0));
                case "mlp_c_fc" -> List.of(new Target(base + "mlp.fc1.weight", 0));
                case "mlp_c_proj" -> List.of(new Target(base + "mlp.fc2.weight", 0));
                default -> {  // the fused in_proj: rows [0, D) are q, [D, 2D) k, [2D, 3D) v
                    int[] q = shapes.get(base + "self_attn.q_proj.weight");
                    int d = q == null ? 0 : q[0];
                    yield List.of(new Target(base + "self_attn.q_proj.weight", 0), new Target(base + "self_attn.k_proj.weight", d),
                            new Target(base + "self_attn.v_proj.weight", 2 * d));
                }
            };
            return t.stream().allMatch(x -> shapes.containsKey(x.tensor())) ? t : List.of();
        }
        return List.of();
    }

    /** Why the layer cannot adapt a tensor of this shape, or null. */
    private static String fit(Layer layer, int[] shape, int rowFrom, int fused) {
        long out = shape[0], in = 1;
        for (int i = 1; i < shape.length; i++) in *= shape[i];
        long downIn = layer.down().size() / layer.rank();
        if (downIn != in)
            return "takes " + describeIn(layer.down()) + " inputs where the model's layer takes " + describeIn(shape);
        long upOut = layer.up().dim(0);
        if (upOut != out * fused)
            return "gives " + upOut + " outputs where the model's layer gives " + out * fused;
        return null;
    }

    private static String describeIn(WeightTensor down) {
        int[] s = down.shape();
        return s.length == 4 ? s[1] + "×" + s[2] + "×" + s[3] : Long.toString(down.size() / down.dim(0));
    }

    private static String describeIn(int[] shape) {
        return shape.length == 4 ? shape[1] + "×" + shape[2] + "×" + shape[3] : Integer.toString(shape[1]);
    }

    private static ModelFormatException doesNotFit(LoraFile file, List<String> missing, List<String> misfit,
                                                   Map<Part, Map<String, int[]>> tensors) {
        int total = file.layers().size();
        StringBuilder sb = new StringBuilder("this LoRA does not fit the model: ");
        if (!missing.isEmpty())
            sb.append(missing.size()).append(" of its ").append(total).append(" layers have no counterpart in it (")
                    .append(String.join(", ", missing.stream().limit(2).toList())).append(missing.size() > 2 ? ", ..." : "").append(")");
        if (!misfit.isEmpty())
            sb.append(missing.isEmpty() ? "" : "; ").append(misfit.size()).append(" layers have other widths (")
                    .append(misfit.getFirst()).append(misfit.size() > 1 ? "; ..." : "").append(")");
        String family = familyHint(file, tensors);
        sb.append(family != null ? family : ": a LoRA made for another architecture cannot be applied");
        return new ModelFormatException(file.file(), null, sb.toString());
    }

    /** "its text encoder is 1024 wide (SD 2.x), the model's 768 (SD 1.x)" when the text-encoder widths tell. */
    private static String familyHint(LoraFile file, Map<Part, Map<String, int[]>> tensors) {
        Integer loraWidth = null;
        for (Layer l : file.layers())
            if (l.part() == Part.TEXT_ENCODER && (l.path().endsWith("q_proj") || l.path().endsWith("attn_in_proj"))) {
                loraWidth = (int) (l.down().size() / l.rank());
                break;
            }
        int[] q = tensors.getOrDefault(Part.TEXT_ENCODER, Map.of()).get("text_model.encoder.layers.0.self_attn.q_proj.weight");
        if (loraWidth == null || q == null || loraWidth == q[1]) return null;
        return ": its text encoder is " + loraWidth + " wide" + family(loraWidth) + ", the model's " + q[1] + family(q[1])
                + " (a LoRA for another architecture)";
    }

    private static String family(int width) {
        return switch (width) {
            case 768 -> " (SD 1.x)";
            case 1024 -> " (SD 2.x)";
            case 1280 -> " (SDXL)";
            default -> "";
        };
    }

    /** {@code base} with the plan's tensors merged (lazily, once each, when a model part asks for them). */
    public static WeightSource apply(WeightSource base, Map<String, List<Delta>> deltas) {
        return deltas.isEmpty() ? base : new Merged(base, Map.copyOf(deltas));
    }

    private static final class Merged implements WeightSource {
        private final WeightSource base;
        private final Map<String, List<Delta>> deltas;
        private final Map<String, WeightTensor> merged = new ConcurrentHashMap<>();

        Merged(WeightSource base, Map<String, List<Delta>> deltas) {
            this.base = base;
            this.deltas = deltas;
        }

        @Override
        public WeightTensor get(String name) {
            return deltas.containsKey(name) ? merged.computeIfAbsent(name, n -> merge(base.get(n), deltas.get(n))) : base.get(name);
        }

        @Override
        public WeightTensor get(String name, int... expectedShape) {
            if (!deltas.containsKey(name)) return base.get(name, expectedShape);
            return merged.computeIfAbsent(name, n -> merge(base.get(n, expectedShape), deltas.get(n)));
        }

        @Override public boolean contains(String name) { return base.contains(name); }

        @Override public int rank(String name) { return base.rank(name); }

        @Override public String describe() { return base.describe() + " with LoRA"; }
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Rows of W merged at a time: a block of about 256 KB of float32 (48 rows at least), so temporaries stay small. */
    private static final int BLOCK_FLOATS = 1 << 16;
    private static final java.lang.invoke.VarHandle SHORTS =
            java.lang.invoke.MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);

    /**
     * W + Σ factor · up · down as one GEMM over the concatenated ranks, a block of W's rows at a time: the rows
     * widened to float32, the product accumulated into them (on all cores), the sum stored in the result's dtype.
     */
    public static WeightTensor merge(WeightTensor w, List<Delta> deltas) {
        int out = w.dim(0);
        if (w.size() > Integer.MAX_VALUE / 4) throw new IllegalStateException(w.name() + " is too large to merge");
        int in = (int) (w.size() / out);
        int rank = 0;
        for (Delta d : deltas) rank += d.rank();
        float[] up = new float[out * rank], downT = new float[in * rank];
        int off = 0;
        for (Delta d : deltas) {
            int r = d.rank();
            float[] u = new float[out * r];
            d.up().copyTo((long) d.rowFrom() * r, u, 0, u.length);
            for (int o = 0; o < out; o++)
                for (int k = 0; k < r; k++) up[o * rank + off + k] = d.factor() * u[o * r + k];
            float[] dn = d.down().toFloatArray();
            for (int k = 0; k < r; k++)
                for (int j = 0; j < in; j++) downT[j * rank + off + k] = dn[k * in + j];
            off += r;
        }
        boolean half = w.dtype() == DType.F16;
        byte[] result = new byte[Math.toIntExact(w.size() * (half ? 2 : 4))];
        MemorySegment seg = MemorySegment.ofArray(result);
        int rows = Math.min(out, Math.max(48, BLOCK_FLOATS / in));  // at least 48: the packed GEMM's row panels over both cores
        float[] c = new float[rows * in];
        for (int r0 = 0; r0 < out; r0 += rows) {
            int n = Math.min(rows, out - r0) * in;
            w.copyTo((long) r0 * in, c, 0, n);
            Gemm.nt(Math.min(rows, out - r0), in, rank, up, r0 * rank, rank, downT, 0, rank, c, 0, in, true);
            if (half) {
                int base = r0 * in * 2;
                for (int i = 0; i < n; i++) SHORTS.set(result, base + 2 * i, Float.floatToFloat16(c[i]));
            } else {
                MemorySegment.copy(c, 0, seg, F32, (long) r0 * in * 4, n);
            }
        }
        return new WeightTensor(w.name(), half ? DType.F16 : DType.F32, w.shape(), seg);
    }
}
