package dev.jdiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * JSON as diffusers' and transformers' {@code save_pretrained} write their configs:
 * {@code json.dumps(obj, indent=2, sort_keys=True) + "\n"}, with Python's float repr ({@code 1e-05},
 * {@code 0.012}, {@code 1.0}) and non-ASCII characters escaped, so that a config written here reads the
 * same as one Python wrote.
 */
public final class PythonJson {
    private PythonJson() {}

    public static String dumps(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(node, sb, 0);
        return sb.append('\n').toString();
    }

    public static void write(Path file, JsonNode node) throws IOException {
        Files.writeString(file, dumps(node), StandardCharsets.US_ASCII);
    }

    private static void write(JsonNode node, StringBuilder sb, int indent) {
        if (node.isObject()) {
            List<String> keys = new ArrayList<>();
            node.fieldNames().forEachRemaining(keys::add);
            if (keys.isEmpty()) { sb.append("{}"); return; }
            Collections.sort(keys);
            sb.append('{');
            for (int i = 0; i < keys.size(); i++) {
                sb.append(i == 0 ? "\n" : ",\n").append(" ".repeat(indent + 2));
                string(keys.get(i), sb);
                sb.append(": ");
                write(node.get(keys.get(i)), sb, indent + 2);
            }
            sb.append('\n').append(" ".repeat(indent)).append('}');
        } else if (node.isArray()) {
            if (node.isEmpty()) { sb.append("[]"); return; }
            sb.append('[');
            for (int i = 0; i < node.size(); i++) {
                sb.append(i == 0 ? "\n" : ",\n").append(" ".repeat(indent + 2));
                write(node.get(i), sb, indent + 2);
            }
            sb.append('\n').append(" ".repeat(indent)).append(']');
        } else if (node.isTextual()) {
            string(node.asText(), sb);
        } else if (node.isFloatingPointNumber()) {
            sb.append(floatRepr(node.asDouble()));
        } else if (node.isNumber() || node.isBoolean() || node.isNull()) {
            sb.append(node.asText());
        } else {
            throw new IllegalArgumentException("cannot write a " + node.getNodeType() + " as JSON");
        }
    }

    /** Python's json string escaping with ensure_ascii. */
    private static void string(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    /**
     * Python's {@code repr(float)}: the shortest digits that read back to the same double (which
     * {@link Double#toString} also finds), positional for exponents -4 to 15, else {@code d.ddde-XX}.
     */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) return "NaN";
        if (Double.isInfinite(d)) return d > 0 ? "Infinity" : "-Infinity";
        if (d == 0) return 1 / d < 0 ? "-0.0" : "0.0";
        BigDecimal b = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = b.unscaledValue().abs().toString();
        int exponent = digits.length() - 1 - b.scale();
        String sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16) {
            String plain = b.abs().toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "") + Math.abs(exponent);
    }
}
