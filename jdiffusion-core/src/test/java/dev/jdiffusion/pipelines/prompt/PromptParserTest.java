package dev.jdiffusion.pipelines.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A1111's parse_prompt_attention and extra-network tags, against the table A1111's own code made (fixture manifest). */
class PromptParserTest {

    /** Every row of the manifest's parse_prompt_attention table: the same fragments, the same double weights, bit for bit. */
    @Test
    void parsesAsA1111() {
        JsonNode table = PromptControlFixtures.manifest().get("parse_prompt_attention");
        assertTrue(table.size() >= 20, "the table has its 20 rows");
        for (JsonNode row : table) {
            String prompt = row.get(0).asText();
            List<PromptParser.Fragment> expected = new ArrayList<>();
            for (JsonNode f : row.get(1)) expected.add(new PromptParser.Fragment(f.get(0).asText(), f.get(1).asDouble()));
            assertEquals(expected, PromptParser.parse(prompt), prompt);
        }
    }

    /** The parsed fragments the fixture lists for each case and text file (A1111's weights, merged runs). */
    @Test
    void parsesTheFixturePrompts() {
        JsonNode files = PromptControlFixtures.manifest().get("files");
        int n = 0;
        for (var it = files.properties().iterator(); it.hasNext(); ) {
            var e = it.next();
            JsonNode parsed = e.getValue().has("parsed") ? e.getValue().get("parsed") : e.getValue().path("text").get("parsed_prompt");
            if (parsed == null) continue;
            String prompt = e.getValue().has("text") && e.getValue().get("text").has("prompt_after_tags")
                    ? e.getValue().get("text").get("prompt_after_tags").asText() : e.getValue().get("prompt").asText();
            List<PromptParser.Fragment> expected = new ArrayList<>();
            for (JsonNode f : parsed) expected.add(new PromptParser.Fragment(f.get(0).asText(), f.get(1).asDouble()));
            assertEquals(expected, PromptParser.parse(prompt), e.getKey());
            n++;
        }
        assertTrue(n >= 10, "checked " + n);
    }

    @Test
    void breakMarkersAreOnlyThoseOfWeightMinusOne() {
        List<PromptParser.Fragment> f = PromptParser.parse("a BREAK b (c BREAK d)");
        assertTrue(f.get(1).isBreak());
        assertEquals(new PromptParser.Fragment("BREAK", -1.1), f.get(4));
        assertTrue(!f.get(4).isBreak(), "inside brackets BREAK is text");
    }

    @Test
    void aWeightThatIsNoNumberIsOneClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptParser.parse("a (cat:1.2.3) b"));
        assertTrue(e.getMessage().contains("'1.2.3'") && e.getMessage().contains("not a number"), e.getMessage());
        assertEquals(List.of(new PromptParser.Fragment("x", 0.5)), PromptParser.parse("(x:.5)"));
        assertEquals(List.of(new PromptParser.Fragment("x", 1.5)), PromptParser.parse("(x:\u0661.5)"), "any script's digits, as Python's float()");
    }

    /** The manifest's lora_tags table: the prompt after the tags are cut, and each tag's type and items. */
    @Test
    void cutsExtraNetworkTagsAsA1111() {
        for (JsonNode row : PromptControlFixtures.manifest().get("lora_tags")) {
            ExtraNetworks.Parsed p = ExtraNetworks.parse(row.get(0).asText());
            assertEquals(row.get(1).asText(), p.prompt(), row.get(0).asText());
            assertEquals(row.get(2).size(), p.tags().size());
            for (int i = 0; i < p.tags().size(); i++) {
                assertEquals(row.get(2).get(i).get(0).asText(), p.tags().get(i).type());
                List<String> items = new ArrayList<>();
                row.get(2).get(i).get(1).forEach(x -> items.add(x.asText()));
                assertEquals(items, p.tags().get(i).positional());
            }
        }
        ExtraNetworks.Tag t = ExtraNetworks.parse("x <lora:name:0.5:unet=1.2:te=0.3>").tags().getFirst();
        assertEquals(List.of("name", "0.5"), t.positional());
        assertEquals(Map.of("unet", "1.2", "te", "0.3"), t.named());
    }
}
