package dev.jdiffusion.pipelines;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads an infotext ({@link InfoText}'s format, the PNG {@code parameters} chunk of AUTOMATIC1111) back into its
 * fields as AUTOMATIC1111's {@code parse_generation_parameters} does: {@code Prompt}, {@code Negative prompt}, each
 * {@code Key: value} of the last line (quoted values unquoted), sizes split into {@code Size-1}/{@code Size-2}, and
 * {@code Clip skip} 1 when absent. Values stay strings, as there.
 */
public final class GenerationParameters {
    private GenerationParameters() {}

    private static final Pattern PARAM = Pattern.compile("\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)");
    private static final Pattern SIZE = Pattern.compile("^(\\d+)x(\\d+)$");

    public static Map<String, String> parse(String infotext) {
        Map<String, String> res = new LinkedHashMap<>();
        List<String> lines = new ArrayList<>(Arrays.asList(infotext.strip().split("\n", -1)));
        String last = lines.removeLast();
        if (count(last) < 3) {
            lines.add(last);
            last = "";
        }
        StringBuilder prompt = new StringBuilder(), negative = new StringBuilder();
        boolean inNegative = false;
        for (String raw : lines) {
            String line = raw.strip();
            if (line.startsWith("Negative prompt:")) {
                inNegative = true;
                line = line.substring(16).strip();
            }
            StringBuilder target = inNegative ? negative : prompt;
            if (!target.isEmpty()) target.append('\n');
            target.append(line);
        }
        res.put("Prompt", prompt.toString());
        res.put("Negative prompt", negative.toString());
        Matcher m = PARAM.matcher(last);
        while (m.find()) {
            if (m.end() == m.start()) break;
            String k = m.group(1), v = m.group(2);
            if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) v = unquote(v);
            Matcher size = SIZE.matcher(v);
            if (size.matches()) {
                res.put(k + "-1", size.group(1));
                res.put(k + "-2", size.group(2));
            } else {
                res.put(k, v);
            }
        }
        res.putIfAbsent("Clip skip", "1");
        return res;
    }

    private static int count(String line) {
        Matcher m = PARAM.matcher(line);
        int n = 0;
        while (m.find() && m.end() > m.start()) n++;
        return n;
    }

    /** A JSON string literal's value (how {@link InfoText} quotes values holding commas, colons or quotes). */
    private static String unquote(String quoted) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < quoted.length() - 1; i++) {
            char c = quoted.charAt(i);
            if (c != '\\' || i + 1 >= quoted.length() - 1) {
                sb.append(c);
                continue;
            }
            char e = quoted.charAt(++i);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'u' -> {
                    if (i + 4 < quoted.length()) {
                        sb.append((char) Integer.parseInt(quoted.substring(i + 1, i + 5), 16));
                        i += 4;
                    }
                }
                default -> sb.append(e);  // \" \\ \/
            }
        }
        return sb.toString();
    }
}
