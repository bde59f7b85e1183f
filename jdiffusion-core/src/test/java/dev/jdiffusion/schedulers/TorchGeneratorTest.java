package dev.jdiffusion.schedulers;

import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bit-exact parity with torch.randn / torch.rand on a seeded CPU generator (expected/rng.safetensors). */
class TorchGeneratorTest {
    private static final Pattern RANDN = Pattern.compile("randn_seed(\\d+)_[0-9x]+");

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void randnMatchesTorchForEverySeedAndShape(String model) {
        SafeTensors rng = Fixtures.expected(model, "rng.safetensors");
        int checked = 0;
        for (String name : rng.names()) {
            Matcher m = RANDN.matcher(name);
            if (!m.matches()) continue;
            WeightTensor expected = rng.tensor(name);
            TorchGenerator g = new TorchGenerator(Long.parseUnsignedLong(m.group(1)));
            assertBitsEqual(expected, g.randn(expected.shape()), name);
            checked++;
        }
        assertEquals(48, checked, "randn fixtures: 6 seeds x 8 shapes");
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void successiveCallsContinueOneStream(String model) {
        SafeTensors rng = Fixtures.expected(model, "rng.safetensors");
        TorchGenerator twice = new TorchGenerator(42);
        assertBitsEqual(rng.tensor("twice_first_1x4x8x8"), twice.randn(1, 4, 8, 8), "twice_first");
        assertBitsEqual(rng.tensor("twice_second_1x4x8x8"), twice.randn(1, 4, 8, 8), "twice_second");

        // 5 values leave a cached Box-Muller value; 20 values take the normal_fill path, which neither uses
        // nor clears it; the third call starts with the cached value.
        TorchGenerator mixed = new TorchGenerator(42);
        assertBitsEqual(rng.tensor("mixed_first_5"), mixed.randn(5), "mixed_first");
        assertBitsEqual(rng.tensor("mixed_second_20"), mixed.randn(20), "mixed_second");
        assertBitsEqual(rng.tensor("mixed_third_3"), mixed.randn(3), "mixed_third");
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sd15", "tiny-sd2"})
    void randMatchesTorch(String model) {
        TorchGenerator g = new TorchGenerator(42);
        assertBitsEqual(Fixtures.expected(model, "rng.safetensors").tensor("rand_seed42_100"), g.rand(100), "rand");
    }

    @org.junit.jupiter.api.Test
    void keepsTheFullSeedAndUsesItsLow32Bits() {
        long seed = Long.parseUnsignedLong("9223372036854775807");
        TorchGenerator g = new TorchGenerator(seed);
        assertEquals(Long.MAX_VALUE, g.initialSeed());
        // 2^63-1 and 2^32-1 share their low 32 bits, so torch draws the same stream from both.
        float[] a = g.randn(7);
        float[] b = new TorchGenerator(4294967295L).randn(7);
        assertTrue(java.util.Arrays.equals(a, b));
    }

    private static void assertBitsEqual(WeightTensor expected, float[] actual, String what) {
        assertEquals(expected.size(), actual.length, what + ": element count");
        for (int i = 0; i < actual.length; i++) {
            float e = expected.getFloat(i);
            if (Float.floatToRawIntBits(e) != Float.floatToRawIntBits(actual[i]))
                throw new AssertionError(String.format("%s: element %d expected %s (0x%08x) got %s (0x%08x)", what, i,
                        e, Float.floatToRawIntBits(e), actual[i], Float.floatToRawIntBits(actual[i])));
        }
    }
}
