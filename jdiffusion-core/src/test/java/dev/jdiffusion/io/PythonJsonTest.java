package dev.jdiffusion.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Configs written as Python's json.dumps(indent=2, sort_keys=True) writes them. */
class PythonJsonTest {

    /** The fixtures' configs were written by diffusers and transformers (without the final newline). */
    @ParameterizedTest
    @ValueSource(strings = {"model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
            "scheduler/scheduler_config.json", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json"})
    void rewritesTheFixtureConfigsAsPythonWroteThem(String file) throws IOException {
        for (String model : new String[]{"tiny-sd15", "tiny-sd2"}) {
            Path p = Fixtures.model(model).resolve(file);
            String python = Files.readString(p);
            assertEquals(python.stripTrailing() + "\n", PythonJson.dumps(new ObjectMapper().readTree(python)), p.toString());
        }
    }

    @ParameterizedTest
    @CsvSource({"1e-05, 1e-05", "0.00085, 0.00085", "0.012, 0.012", "1.0, 1.0", "0.18215, 0.18215", "100.0, 100.0",
            "0.0001, 0.0001", "1.5e-05, 1.5e-05", "1e16, 1e+16", "1.2345e17, 1.2345e+17", "123456789012345.0, 123456789012345.0",
            "-2.5e-07, -2.5e-07", "0.995, 0.995"})
    void floatsAsPythonsRepr(double value, String repr) {
        assertEquals(repr, PythonJson.floatRepr(value));
    }
}
