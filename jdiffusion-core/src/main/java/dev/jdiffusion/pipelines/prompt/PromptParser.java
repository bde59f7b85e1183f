package dev.jdiffusion.pipelines.prompt;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A1111's emphasis syntax, as its {@code prompt_parser.parse_prompt_attention} reads it: {@code (x)} multiplies the
 * weight of x by 1.1, {@code [x]} divides it by 1.1, {@code (x:w)} multiplies it by w (spaces allowed around w),
 * nesting multiplies, {@code \( \) \[ \] \\} are literal characters, a bracket left open weights to the end of
 * the prompt, an unmatched closer is text, and neighbouring pieces of equal weight merge. The word {@code BREAK}
 * becomes a marker fragment that ends a chunk. Weights are doubles, multiplied in A1111's order.
 */
public final class PromptParser {
    private PromptParser() {}

    /** A piece of the prompt with its weight; {@link #isBreak()} marks a BREAK. */
    public record Fragment(String text, double weight) {
        /** A1111 treats a fragment as BREAK only when its text is "BREAK" and its weight exactly -1 (so not inside brackets). */
        public boolean isBreak() { return weight == -1 && text.equals("BREAK"); }
    }

    static final double ROUND = 1.1, SQUARE = 1 / 1.1;

    /** {@code re_attention}, alternative for alternative; Python's \s and \d are Unicode-aware. */
    private static final Pattern ATTENTION = Pattern.compile(
            "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|:\\s*([+-]?[.\\d]+)\\s*\\)|\\)|]|[^\\\\()\\[\\]:]+|:",
            Pattern.UNICODE_CHARACTER_CLASS);
    /** {@code re_break}: BREAK as a whole word, with the whitespace around it. */
    private static final Pattern BREAK = Pattern.compile("\\s*\\bBREAK\\b\\s*", Pattern.UNICODE_CHARACTER_CLASS | Pattern.DOTALL);

    public static List<Fragment> parse(String text) {
        List<String> texts = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        Deque<Integer> round = new ArrayDeque<>(), square = new ArrayDeque<>();
        Matcher m = ATTENTION.matcher(text);
        while (m.find()) {
            String t = m.group();
            String weight = m.group(1);
            if (t.startsWith("\\")) {
                texts.add(t.substring(1));
                weights.add(1.0);
            } else if (t.equals("(")) {
                round.push(texts.size());
            } else if (t.equals("[")) {
                square.push(texts.size());
            } else if (weight != null && !round.isEmpty()) {
                multiplyRange(weights, round.pop(), number(weight, text));
            } else if (t.equals(")") && !round.isEmpty()) {
                multiplyRange(weights, round.pop(), ROUND);
            } else if (t.equals("]") && !square.isEmpty()) {
                multiplyRange(weights, square.pop(), SQUARE);
            } else {
                String[] parts = BREAK.split(t, -1);
                for (int i = 0; i < parts.length; i++) {
                    if (i > 0) {
                        texts.add("BREAK");
                        weights.add(-1.0);
                    }
                    texts.add(parts[i]);
                    weights.add(1.0);
                }
            }
        }
        // Python iterates the lists of open brackets from the first opened to the last.
        for (Iterator<Integer> it = round.descendingIterator(); it.hasNext(); ) multiplyRange(weights, it.next(), ROUND);
        for (Iterator<Integer> it = square.descendingIterator(); it.hasNext(); ) multiplyRange(weights, it.next(), SQUARE);
        if (texts.isEmpty()) {
            texts.add("");
            weights.add(1.0);
        }
        List<Fragment> out = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            if (!out.isEmpty() && out.getLast().weight() == weights.get(i))
                out.set(out.size() - 1, new Fragment(out.getLast().text() + texts.get(i), weights.get(i)));
            else
                out.add(new Fragment(texts.get(i), weights.get(i)));
        }
        return out;
    }

    private static void multiplyRange(List<Double> weights, int from, double multiplier) {
        for (int p = from; p < weights.size(); p++) weights.set(p, weights.get(p) * multiplier);
    }

    /** Python's float() of what {@code [+-]?[.\d]+} matched: one point at most, at least one digit (any script's digits). */
    private static double number(String s, String prompt) {
        StringBuilder ascii = new StringBuilder();
        int points = 0, digits = 0;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == '.') {
                points++;
                ascii.append('.');
            } else if (cp == '+' || cp == '-') {
                ascii.append((char) cp);
            } else {
                digits++;
                ascii.append((char) ('0' + Character.digit(cp, 10)));
            }
        }
        if (points > 1 || digits == 0)
            throw new IllegalArgumentException("prompt: the weight '" + s + "' in '" + shorten(prompt)
                    + "' is not a number (write (text:1.2))");
        return Double.parseDouble(ascii.toString());
    }

    private static String shorten(String s) { return s.length() <= 60 ? s : s.substring(0, 57) + "..."; }
}
