package dev.jdiffusion.io.checkpoint;

import dev.jdiffusion.image.PilImage;
import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.io.DiffusersFolder;
import dev.jdiffusion.io.SafeTensors;
import dev.jdiffusion.io.SafeTensorsWriter;
import dev.jdiffusion.io.hub.HubCache;
import dev.jdiffusion.io.hub.ModelLocator;
import dev.jdiffusion.models.controlnet.ControlNetModel;
import dev.jdiffusion.models.unet.UNet2DConditionConfig;
import dev.jdiffusion.models.unet.UNetResiduals;
import dev.jdiffusion.pipelines.ControlNets;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.LoadOptions;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.tensor.Tensor;
import dev.jdiffusion.tensor.TensorOps;
import dev.jdiffusion.tensor.WeightTensor;
import dev.jdiffusion.testing.Fixtures;
import dev.jdiffusion.testing.ImageControlFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.jdiffusion.testing.Compare.assertCloseToMax;
import static org.junit.jupiter.api.Assertions.*;

/**
 * ControlNets and inpainting models in the forms people have them: a ControlNet in the original single-file
 * layout (with and without {@code control_model.}, and in diffusers' names without a config), a hub id from the
 * Hugging Face cache, and a single-file inpainting checkpoint; each must compute what the diffusers folder computes.
 */
class SingleFileControlNetTest {
    @TempDir Path dir;

    static UNet2DConditionConfig tinyUnet() {
        return UNet2DConditionConfig.from(DiffusersFolder.open(Fixtures.model("tiny-sd15")).config("unet"));
    }

    /** controlnet-a's weights written under original-layout keys (as a .pth → .safetensors conversion holds them). */
    Path originalLayout(String prefix, String name) throws IOException {
        SafeTensors src = SafeTensors.open(ImageControlFixtures.path("controlnet-a/diffusion_pytorch_model.safetensors"));
        KeyMap map = LdmKeyMaps.controlNet(prefix, tinyUnet().layersPerBlock(), 2);
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        for (String n : src.names()) {
            KeyMap.Ref ref = map.resolve(n);
            assertNotNull(ref, n);
            entries.add(SafeTensorsWriter.Entry.of(ref.key(), src.tensor(n)));
        }
        Path file = dir.resolve(name);
        SafeTensorsWriter.write(file, entries, Map.of());
        return file;
    }

    static UNetResiduals residuals(ControlNetModel net) {
        SafeTensors ref = ImageControlFixtures.expected("module_controlnet-a");
        WeightTensor l = ref.tensor("latents"), c = ref.tensor("cond"), ctx = ref.tensor("context");
        return net.forward(TensorOps.nchwToNhwc(l.toFloatArray(), 1, 4, 8, 8), new float[]{500},
                new Tensor(ctx.toFloatArray(), ctx.shape()), TensorOps.nchwToNhwc(c.toFloatArray(), 1, 3, 16, 16), 1f, false);
    }

    static void assertMatchesDiffusers(ControlNetModel net, String what) {
        SafeTensors ref = ImageControlFixtures.expected("module_controlnet-a");
        UNetResiduals r = residuals(net);
        for (int i = 0; i < 6; i++)
            assertCloseToMax(ref.tensor("t500_down_" + i), TensorOps.nhwcToNchw(r.down().get(i)), 1e-4, what + " down " + i);
        assertCloseToMax(ref.tensor("t500_mid"), TensorOps.nhwcToNchw(r.mid()), 1e-4, what + " mid");
    }

    @Test
    void originalLayoutFilesLoadWithTheArchitectureOfTheirUnet() throws IOException {
        Path withPrefix = originalLayout("control_model.", "control_tiny_a.safetensors");
        Path bare = originalLayout("", "control_tiny_a_bare.safetensors");
        SafeTensors file = SafeTensors.open(withPrefix);
        assertTrue(file.contains("control_model.input_hint_block.6.weight"), "2 levels: conv_in 0, blocks 2 and 4, conv_out 6");
        assertTrue(file.contains("control_model.zero_convs.5.0.weight"));
        assertTrue(file.contains("control_model.middle_block_out.0.bias"));
        for (Path p : List.of(withPrefix, bare)) {
            ControlNetModel net = ControlNets.load(p, tinyUnet(), "tiny-sd15");
            assertEquals(List.of(16, 32), net.config().conditioningEmbeddingOutChannels());
            assertEquals(p.getFileName().toString().replace(".safetensors", ""), net.name());
            assertMatchesDiffusers(net, p.getFileName().toString());
        }
        // diffusers' names in one file, no config.json beside it: the architecture comes from the UNet and the file.
        Path loose = Files.copy(ImageControlFixtures.path("controlnet-a/diffusion_pytorch_model.safetensors"), dir.resolve("loose.safetensors"));
        assertMatchesDiffusers(ControlNets.load(loose, tinyUnet(), "tiny-sd15"), "diffusers names, no config");
    }

    @Test
    void aHubIdResolvesToTheCachedSnapshot() throws IOException {
        String commit = "0123456789abcdef0123456789abcdef01234567";
        Path repo = dir.resolve("hub/models--someone--controlnet-a-tiny");
        Path snap = Files.createDirectories(repo.resolve("snapshots").resolve(commit));
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), commit);
        for (String f : List.of("config.json", "diffusion_pytorch_model.safetensors"))
            Files.copy(ImageControlFixtures.path("controlnet-a/" + f), snap.resolve(f));
        Path resolved = ModelLocator.resolve("someone/controlnet-a-tiny", new HubCache(dir.resolve("hub")));
        ControlNetModel net = ControlNets.load(resolved, tinyUnet(), "tiny-sd15");
        assertEquals("controlnet-a-tiny", net.name());
        assertMatchesDiffusers(net, "hub snapshot");
        // A snapshot with the weights only (a single-file repo) loads too.
        Files.delete(snap.resolve("config.json"));
        assertMatchesDiffusers(ControlNets.load(resolved, tinyUnet(), "tiny-sd15"), "hub snapshot without config.json");
    }

    @Test
    void notAControlNetIsNamed() throws IOException {
        Path vae = Fixtures.model("tiny-sd15").resolve("vae/diffusion_pytorch_model.safetensors");
        var e = assertThrows(dev.jdiffusion.io.ModelFormatException.class, () -> ControlNets.load(vae, tinyUnet(), "tiny-sd15"));
        assertTrue(e.getMessage().contains("not a ControlNet"), e.getMessage());
        var f = assertThrows(dev.jdiffusion.io.ModelFormatException.class,
                () -> ControlNets.load(Fixtures.model("tiny-sd15").resolve("unet"), tinyUnet(), "tiny-sd15"));
        assertTrue(f.getMessage().contains("UNet2DConditionModel, not a ControlNetModel"), f.getMessage());
    }

    /**
     * A single-file inpainting checkpoint (what CheckpointConverter, proven against diffusers' export, writes from the
     * tiny inpainting folder) is recognised by its 9-channel conv_in and paints what the folder paints.
     */
    @Test
    void singleFileInpaintingCheckpointPaintsWhatTheFolderPaints() throws IOException {
        Path folder = ImageControlFixtures.path("tiny-sd15-inpaint");
        Path file = dir.resolve("tiny-inpaint.safetensors");
        CheckpointConverter.toSingleFile(folder, file, CheckpointConverter.Options.DEFAULTS);
        SingleFileCheckpoint cp = SingleFileCheckpoint.open(file, folder, null);
        assertTrue(FamilyDetector.isInpainting(cp.file()));
        StableDiffusionPipeline single = StableDiffusionPipeline.load(file, new LoadOptions(folder, null, null));
        assertEquals(9, single.model().unet().config().inChannels());
        PilImage init = PngFiles.readPixels(ImageControlFixtures.path("inputs/scene_a_64.png"));
        GenerationRequest r = GenerationRequest.builder("a bowl of fruit").steps(3).sampler("euler").seed(3).size(64, 64)
                .initImage(init.toRgb(), 1.0).mask(PngFiles.readPixels(ImageControlFixtures.path("inputs/mask_ellipse_64.png"))).build();
        assertArrayEquals(StableDiffusionPipeline.load(folder).generate(r).images().getFirst().rgb(),
                single.generate(r).images().getFirst().rgb());
    }
}
