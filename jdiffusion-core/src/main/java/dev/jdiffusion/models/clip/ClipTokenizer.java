package dev.jdiffusion.models.clip;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffusion.io.JsonConfig;
import dev.jdiffusion.io.ModelFormatException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * The CLIP byte-level BPE tokenizer, id for id as transformers' slow {@code CLIPTokenizer} behaves when ftfy
 * is not installed: added tokens are split off first, the rest goes through {@code BasicTokenizer(strip_accents=False,
 * do_split_on_punc=False)} (control characters dropped, spaces around CJK ideographs, NFC, lower case), the CLIP
 * regex, UTF-8 bytes mapped by {@code bytes_to_unicode}, and BPE by merge rank with {@code </w>} ending a word.
 * Loaded from a diffusers {@code tokenizer/} folder. Thread-safe.
 */
public final class ClipTokenizer {
    /** transformers reads {@code merges[1 : 49152 - 256 - 2 + 1]}: the header line is skipped and later lines ignored. */
    private static final int MAX_MERGES = 49152 - 256 - 2;
    /** What diffusers' CLIP text encoders take; used when tokenizer_config.json does not say. */
    private static final int DEFAULT_MAX_LENGTH = 77;
    private static final String START_OF_TEXT = "<|startoftext|>", END_OF_TEXT = "<|endoftext|>";

    /** transformers compiles this with re.IGNORECASE; \s there is Unicode whitespace. */
    private static final Pattern PAT = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);
    /** What Python's str.split() still splits on once _clean_text has run: the other whitespace is Cc or Zs. */
    private static final Pattern PY_WHITESPACE = Pattern.compile("[ \\u2028\\u2029]+");
    private static final char[] BYTE_ENCODER = bytesToUnicode();

    private final Map<String, Integer> encoder;
    /** Added tokens (the config's added_tokens_decoder and the special tokens), never split or lower-cased. */
    private final Map<String, Integer> addedTokensEncoder;
    /** The added tokens, longest first, so that splitting prefers the longest match. */
    private final List<String> addedTokens;
    /** Merge ranks keyed by {@code first + " " + second} (symbols never hold a space). */
    private final Map<String, Integer> bpeRanks;
    private final Map<String, int[]> cache;
    private final int maxLength, bosId, eosId, padId, unkId;
    /** transformers' len(tokenizer): distinct tokens of the vocabulary and the added tokens (the next added token's id). */
    private final int size;
    private volatile Map<Integer, String> decoder;

    private ClipTokenizer(Map<String, Integer> encoder, Map<String, Integer> addedTokensEncoder,
                          Map<String, Integer> bpeRanks, int maxLength, String bos, String eos, String pad, String unk) {
        this.encoder = encoder;
        this.addedTokensEncoder = addedTokensEncoder;
        this.addedTokens = addedTokensEncoder.keySet().stream()
                .sorted(Comparator.comparingInt(String::length).reversed()).toList();
        this.bpeRanks = bpeRanks;
        this.maxLength = maxLength;
        this.unkId = addedTokensEncoder.get(unk);
        this.bosId = tokenToId(bos);
        this.eosId = tokenToId(eos);
        this.padId = tokenToId(pad);
        this.cache = new ConcurrentHashMap<>();
        // As transformers seeds its cache: the regex can match these, and they are not BPE'd.
        cache.put(START_OF_TEXT, new int[]{tokenToId(START_OF_TEXT)});
        cache.put(END_OF_TEXT, new int[]{tokenToId(END_OF_TEXT)});
        java.util.Set<String> distinct = new java.util.HashSet<>(encoder.keySet());
        distinct.addAll(addedTokensEncoder.keySet());
        this.size = distinct.size();
    }

    /** A copy with more added tokens (sharing the vocabulary, merges and BPE cache), as transformers' add_tokens. */
    private ClipTokenizer(ClipTokenizer base, Map<String, Integer> addedTokensEncoder, int size) {
        this.encoder = base.encoder;
        this.addedTokensEncoder = addedTokensEncoder;
        this.addedTokens = addedTokensEncoder.keySet().stream()
                .sorted(Comparator.comparingInt(String::length).reversed()).toList();
        this.bpeRanks = base.bpeRanks;
        this.maxLength = base.maxLength;
        this.unkId = base.unkId;
        this.bosId = base.bosId;
        this.eosId = base.eosId;
        this.padId = base.padId;
        this.cache = base.cache;  // BPE of text between added tokens does not depend on them
        this.size = size;
    }

    /**
     * Reads vocab.json and merges.txt (required) and tokenizer_config.json and special_tokens_map.json (optional, as
     * in transformers; the latter overrides the former) from {@code tokenizerDir}.
     */
    public static ClipTokenizer load(Path tokenizerDir) {
        Map<String, Integer> vocab = readVocab(tokenizerDir.resolve("vocab.json"));
        Map<String, Integer> ranks = readMerges(tokenizerDir.resolve("merges.txt"));
        JsonConfig config = readOptional(tokenizerDir.resolve("tokenizer_config.json"));
        JsonConfig specialMap = readOptional(tokenizerDir.resolve("special_tokens_map.json"));

        Map<String, Integer> added = new LinkedHashMap<>();
        if (config != null && config.has("added_tokens_decoder")) readAddedTokens(config, added);
        String bos = specialToken("bos_token", START_OF_TEXT, specialMap, config);
        String eos = specialToken("eos_token", END_OF_TEXT, specialMap, config);
        String pad = specialToken("pad_token", END_OF_TEXT, specialMap, config);
        String unk = specialToken("unk_token", END_OF_TEXT, specialMap, config);
        // transformers makes every special token an added token; those in the vocabulary keep their id.
        for (String token : List.of(bos, eos, pad, unk)) {
            if (!added.containsKey(token) && !vocab.containsKey(token))
                throw new ModelFormatException(tokenizerDir, null, "special token '" + token
                        + "' is neither in vocab.json nor in tokenizer_config.json's added_tokens_decoder");
            added.putIfAbsent(token, vocab.get(token));
        }

        int maxLength = config == null ? DEFAULT_MAX_LENGTH : config.getInt("model_max_length", DEFAULT_MAX_LENGTH);
        if (maxLength < 2)
            throw new ModelFormatException(config.file(), "model_max_length", "must leave room for bos and eos, found " + maxLength);
        return new ClipTokenizer(vocab, Map.copyOf(added), ranks, maxLength, bos, eos, pad, unk);
    }

    private static Map<String, Integer> readVocab(Path file) {
        JsonNode root = JsonConfig.read(file).root();
        Map<String, Integer> vocab = HashMap.newHashMap(root.size());
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (!e.getValue().canConvertToInt() || !e.getValue().isIntegralNumber())
                throw new ModelFormatException(file, e.getKey(), "token id must be an integer, found " + e.getValue());
            vocab.put(e.getKey(), e.getValue().intValue());
        }
        return vocab;
    }

    private static Map<String, Integer> readMerges(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file, null, "file not found");
        } catch (IOException e) {
            throw new ModelFormatException(file, null, "cannot read merges: " + e.getMessage(), e);
        }
        String[] lines = text.strip().split("\n");
        int end = Math.min(lines.length, MAX_MERGES + 1);
        Map<String, Integer> ranks = HashMap.newHashMap(end);
        for (int i = 1; i < end; i++) {
            String[] pair = lines[i].strip().split("\\s+");
            if (pair.length != 2)
                throw new ModelFormatException(file, null, "line " + (i + 1) + ": expected two symbols separated by "
                        + "a space, found '" + lines[i].strip() + "'");
            // A repeated pair takes its later rank, as Python's dict(zip(...)) does.
            ranks.put(pair[0] + " " + pair[1], i - 1);
        }
        return ranks;
    }

    private static JsonConfig readOptional(Path file) {
        return Files.exists(file) ? JsonConfig.read(file) : null;
    }

    private static void readAddedTokens(JsonConfig config, Map<String, Integer> added) {
        JsonNode decoder = config.root().get("added_tokens_decoder");
        if (!decoder.isObject())
            throw new ModelFormatException(config.file(), "added_tokens_decoder", "must be an object of id -> token");
        for (Map.Entry<String, JsonNode> e : decoder.properties()) {
            String content = tokenContent(e.getValue());
            if (content == null || !e.getKey().matches("[0-9]{1,9}"))
                throw new ModelFormatException(config.file(), "added_tokens_decoder",
                        "entry '" + e.getKey() + "' must map an integer id to {\"content\": token}");
            added.put(content, Integer.parseInt(e.getKey()));
        }
    }

    /** The first file that names {@code key} wins; the token is a string or an AddedToken object. */
    private static String specialToken(String key, String fallback, JsonConfig... files) {
        for (JsonConfig f : files) {
            if (f == null || !f.has(key)) continue;
            String content = tokenContent(f.root().get(key));
            if (content == null)
                throw new ModelFormatException(f.file(), key, "expected a string or {\"content\": string}, found "
                        + f.root().get(key));
            return content;
        }
        return fallback;
    }

    private static String tokenContent(JsonNode v) {
        if (v.isTextual()) return v.asText();
        if (v.isObject() && v.path("content").isTextual()) return v.get("content").asText();
        return null;
    }

    /** The prompt's token ids, without bos/eos and untruncated. */
    public int[] encode(String text) {
        IntStream.Builder ids = IntStream.builder();
        // Added tokens are cut out of the raw text before anything else, as transformers' tokens_trie.split does.
        int pending = 0;
        for (int i = 0; i < text.length(); ) {
            String match = addedTokenAt(text, i);
            if (match == null) {
                i++;
                continue;
            }
            tokenize(text.substring(pending, i), ids);
            ids.add(addedTokensEncoder.get(match));
            i += match.length();
            pending = i;
        }
        tokenize(text.substring(pending), ids);
        return ids.build().toArray();
    }

    /**
     * The {@link #maxLength()} ids a pipeline feeds the text encoder: bos, the prompt truncated to
     * {@code maxLength - 2} tokens, eos, then padding, as {@code tokenizer(prompt, padding="max_length",
     * max_length=77, truncation=True)}.
     */
    public int[] encodePadded(String text) {
        int[] ids = encode(text);
        int n = Math.min(ids.length, maxLength - 2);
        int[] out = new int[maxLength];
        Arrays.fill(out, padId);
        out[0] = bosId;
        System.arraycopy(ids, 0, out, 1, n);
        out[n + 1] = eosId;
        return out;
    }

    /** bos, every token of the prompt, eos: as {@code tokenizer(prompt)} without truncation. */
    public int[] encodeUntruncated(String text) {
        int[] ids = encode(text);
        int[] out = new int[ids.length + 2];
        out[0] = bosId;
        System.arraycopy(ids, 0, out, 1, ids.length);
        out[ids.length + 1] = eosId;
        return out;
    }

    /**
     * A tokenizer that also splits off {@code tokens} (in order, new ids from {@link #size()} on), as
     * transformers' {@code tokenizer.add_tokens(tokens)} with plain (non-special) tokens: they match case-sensitively
     * in the raw text, longest first. Tokens this tokenizer already knows keep their id. This one is not changed.
     */
    public ClipTokenizer withAddedTokens(List<String> tokens) {
        Map<String, Integer> added = new LinkedHashMap<>(addedTokensEncoder);
        int next = size;
        for (String t : tokens) {
            if (t.isEmpty()) throw new IllegalArgumentException("an added token cannot be empty");
            if (added.containsKey(t) || encoder.containsKey(t)) continue;
            added.put(t, next++);
        }
        return new ClipTokenizer(this, Map.copyOf(added), next);
    }

    /** transformers' {@code len(tokenizer)}: the number of distinct tokens, which is the id the next added token gets. */
    public int size() { return size; }

    /**
     * The id of a token of the vocabulary (a BPE symbol such as "cat" or "cat</w>") or an added token, or -1
     * (transformers' {@code get_vocab().get(token)}).
     */
    public int tokenId(String token) {
        Integer added = addedTokensEncoder.get(token);
        return added != null ? added : encoder.getOrDefault(token, -1);
    }

    /**
     * The text of some ids, as transformers' {@code decode} with {@code skip_special_tokens=False}: the BPE symbols
     * joined, their bytes decoded as UTF-8 (malformed sequences become U+FFFD), {@code </w>} as a space. An id
     * no token has becomes {@code <id>}.
     */
    public String decode(int[] ids) {
        Map<Integer, String> dec = decoder;
        if (dec == null) {
            Map<Integer, String> d = HashMap.newHashMap(encoder.size() + addedTokensEncoder.size());
            encoder.forEach((k, v) -> d.put(v, k));
            addedTokensEncoder.forEach((k, v) -> d.put(v, k));
            decoder = dec = d;
        }
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String token = dec.get(id);
            if (token == null || addedTokensEncoder.containsKey(token)) {
                flush(bytes, out);
                out.append(token == null ? "<" + id + ">" : token);
                continue;
            }
            for (int i = 0; i < token.length(); i++) {
                if (token.startsWith("</w>", i)) {
                    flush(bytes, out);
                    out.append(' ');
                    i += 3;
                    continue;
                }
                int b = byteOf(token.charAt(i));
                if (b < 0) {
                    flush(bytes, out);
                    out.append(token.charAt(i));
                } else {
                    bytes.write(b);
                }
            }
        }
        flush(bytes, out);
        return out.toString();
    }

    private static void flush(java.io.ByteArrayOutputStream bytes, StringBuilder out) {
        if (bytes.size() == 0) return;
        out.append(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
        bytes.reset();
    }

    private static int byteOf(char c) {
        for (int b = 0; b < 256; b++) if (BYTE_ENCODER[b] == c) return b;
        return -1;
    }

    /** Sequence length the text encoder takes, bos and eos included (model_max_length, 77). */
    public int maxLength() { return maxLength; }

    public int bosId() { return bosId; }

    public int eosId() { return eosId; }

    public int padId() { return padId; }

    private String addedTokenAt(String text, int i) {
        for (String token : addedTokens) if (text.startsWith(token, i)) return token;
        return null;
    }

    /** transformers' CLIPTokenizer._tokenize for text between added tokens. */
    private void tokenize(String text, IntStream.Builder ids) {
        if (text.isEmpty()) return;
        Matcher m = PAT.matcher(basicTokenize(text));
        while (m.find()) for (int id : cache.computeIfAbsent(m.group(), this::bpe)) ids.add(id);
    }

    /**
     * BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize, joined by spaces: drop NUL, U+FFFD and
     * C* characters (but tab/newline), turn whitespace into spaces, space out CJK ideographs, NFC, then lower-case
     * each whitespace-separated word.
     */
    private static String basicTokenize(String text) {
        StringBuilder sb = new StringBuilder(text.length() + 8);
        text.codePoints().forEach(cp -> {
            if (cp == 0 || cp == 0xFFFD || isControl(cp)) return;
            if (isWhitespace(cp)) sb.append(' ');
            else if (isChineseChar(cp)) sb.append(' ').appendCodePoint(cp).append(' ');
            else sb.appendCodePoint(cp);
        });
        String normalized = Normalizer.normalize(sb, Normalizer.Form.NFC).strip();
        if (normalized.isEmpty()) return "";
        StringBuilder out = new StringBuilder(normalized.length());
        for (String word : PY_WHITESPACE.split(normalized)) {
            if (!out.isEmpty()) out.append(' ');
            out.append(word.toLowerCase(Locale.ROOT));  // per word, as Python lower()s each token (final sigma)
        }
        return out.toString();
    }

    private static boolean isWhitespace(int cp) {
        return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || Character.getType(cp) == Character.SPACE_SEPARATOR;
    }

    private static boolean isControl(int cp) {
        if (cp == '\t' || cp == '\n' || cp == '\r') return false;
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.UNASSIGNED, Character.PRIVATE_USE,
                 Character.SURROGATE -> true;
            default -> false;
        };
    }

    /** The CJK Unified Ideographs blocks BERT's BasicTokenizer spaces out (not kana or hangul). */
    private static boolean isChineseChar(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F)
                || (cp >= 0x2B820 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF)
                || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    /** BPE of one regex match: its UTF-8 bytes as bytes_to_unicode characters, the last one ending in {@code </w>}. */
    private int[] bpe(String token) {
        byte[] bytes = token.getBytes(StandardCharsets.UTF_8);
        List<String> word = new ArrayList<>(bytes.length);
        for (byte b : bytes) word.add(String.valueOf(BYTE_ENCODER[b & 0xff]));
        word.set(word.size() - 1, word.getLast() + "</w>");
        while (word.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String first = null, second = null;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer rank = bpeRanks.get(word.get(i) + " " + word.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) break;
            // Merge every non-overlapping occurrence of the best pair, left to right.
            List<String> merged = new ArrayList<>(word.size());
            for (int i = 0; i < word.size(); i++) {
                if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i++;
                } else {
                    merged.add(word.get(i));
                }
            }
            word = merged;
        }
        return word.stream().mapToInt(this::tokenToId).toArray();
    }

    /** convert_tokens_to_ids: added tokens first, then the vocabulary, else the unknown token. */
    private int tokenToId(String token) {
        Integer added = addedTokensEncoder.get(token);
        return added != null ? added : encoder.getOrDefault(token, unkId);
    }

    /**
     * GPT-2's reversible byte → character table: printable Latin-1 bytes stand for themselves, the rest
     * (space, controls, ...) for the characters from U+0100 on, so that BPE never sees whitespace.
     */
    private static char[] bytesToUnicode() {
        char[] table = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = (char) (printable ? b : 256 + n++);
        }
        return table;
    }
}
