package dev.jdiffusion.server;

import dev.jdiffusion.image.PngFiles;
import dev.jdiffusion.image.RgbImage;
import dev.jdiffusion.pipelines.GenerationRequest;
import dev.jdiffusion.pipelines.StableDiffusionPipeline;
import dev.jdiffusion.testing.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.Select;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

import static dev.jdiffusion.server.ServerFixtures.assertSamePixels;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The web page in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): type a
 * prompt, click Generate, watch the progress bar and the live preview, get the library's image; read a PNG's
 * parameters back into the form; send a result to img2img. A screenshot is kept in target/browser/.
 * Without a browser the test is skipped, except where -Djdiffusion.requireBrowser=true (CI) makes it fail.
 */
class WebPageBrowserTest {
    static final Path CHROMIUM = Path.of(System.getProperty("jdiffusion.chromium", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Path.of(System.getProperty("jdiffusion.chromedriver", "/usr/bin/chromedriver"));

    @TempDir Path tmp;

    @Test
    void generateWatchProgressReadParametersAndSendToImg2img() throws Exception {
        boolean present = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        if (!present && "true".equalsIgnoreCase(System.getProperty("jdiffusion.requireBrowser")))
            fail("no browser at " + CHROMIUM + " / " + CHROMEDRIVER + ": scripts/install-browser.sh installs Debian's chromium and chromium-driver");
        Assumptions.assumeTrue(present, "no headless browser here (scripts/install-browser.sh installs one); skipped");

        try (JDiffusionServer server = JDiffusionServer.start(ServerFixtures.options(tmp.resolve("outputs")))) {
            ChromeOptions options = new ChromeOptions();
            options.setBinary(CHROMIUM.toFile());
            options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    "--user-data-dir=" + Files.createDirectories(tmp.resolve("chromium-profile")));
            ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                    .usingAnyFreePort().build();
            ChromeDriver browser = new ChromeDriver(service, options);
            try {
                run(browser, "http://127.0.0.1:" + server.port() + "/");
            } finally {
                browser.quit();
            }
        }
    }

    private void run(ChromeDriver browser, String url) throws Exception {
        JavascriptExecutor js = browser;
        browser.get(url);
        waitUntil("page ready", () -> "true".equals(browser.findElement(By.tagName("body")).getDomAttribute("data-ready")));
        assertEquals("tiny-sd15", new Select(browser.findElement(By.id("model"))).getFirstSelectedOption().getText());

        set(browser, "prompt", "a lighthouse at dusk");
        new Select(browser.findElement(By.id("sampler_name"))).selectByVisibleText("Euler");
        set(browser, "steps", "40");
        set(browser, "seed", "7");
        set(browser, "width", "32");
        set(browser, "height", "32");
        browser.findElement(By.id("generate")).click();
        WebElement result = browser.findElement(By.id("result"));
        waitUntil("the image", () -> result.isDisplayed() && browser.findElements(By.cssSelector("#gallery .item")).size() == 1);

        WebElement bar = browser.findElement(By.id("progress-bar"));
        assertEquals("1", bar.getDomAttribute("data-value"));
        assertTrue(browser.findElement(By.id("progress-text")).getText().startsWith("Done: 1 image(s), seed 7"));
        @SuppressWarnings("unchecked")
        List<Number> seen = (List<Number>) js.executeScript("return window.jd.progressLog;");
        assertTrue(seen.stream().anyMatch(p -> p.doubleValue() > 0 && p.doubleValue() < 1), "the bar moved: " + seen);
        assertTrue(((Number) js.executeScript("return window.jd.previews;")).intValue() >= 1, "live previews were shown");

        String src = result.getDomAttribute("src");
        assertTrue(src.startsWith("data:image/png;base64,"));
        RgbImage shown = PngFiles.decode(Base64.getDecoder().decode(src.substring(src.indexOf(',') + 1)), 1 << 20).image();
        RgbImage expected = StableDiffusionPipeline.load(Fixtures.model("tiny-sd15")).generate(
                GenerationRequest.builder("a lighthouse at dusk").sampler("euler").steps(40).guidanceScale(7).seed(7)
                        .size(32, 32).build()).images().getFirst();
        assertSamePixels(expected, shown);
        assertTrue(browser.findElement(By.id("result-info")).getText().contains("Seed: 7"));
        screenshot(browser, "jdiffusion-page.png");

        // A PNG's parameters read back into the form (the drop zone's file picker; dropping uses the same code).
        Path png = tmp.resolve("dropped.png");
        PngFiles.write(png, expected, Map.of("parameters",
                "a castle on a hill\nNegative prompt: fog\nSteps: 12, Sampler: DDIM, Schedule type: Automatic, CFG scale: 5.5, Seed: 99, Size: 48x40, Model: x"));
        WebElement input = browser.findElement(By.id("png-file"));
        js.executeScript("arguments[0].hidden = false;", input);
        input.sendKeys(png.toString());
        waitUntil("parameters read back", () -> "a castle on a hill".equals(browser.findElement(By.id("prompt")).getDomProperty("value")));
        assertEquals("fog", browser.findElement(By.id("negative_prompt")).getDomProperty("value"));
        assertEquals("12", browser.findElement(By.id("steps")).getDomProperty("value"));
        assertEquals("99", browser.findElement(By.id("seed")).getDomProperty("value"));
        assertEquals("48", browser.findElement(By.id("width")).getDomProperty("value"));
        assertEquals("40", browser.findElement(By.id("height")).getDomProperty("value"));
        assertEquals("5.5", browser.findElement(By.id("cfg_scale")).getDomProperty("value"));
        assertEquals("DDIM", new Select(browser.findElement(By.id("sampler_name"))).getFirstSelectedOption().getText());

        // Send the result to img2img: the form takes its parameters, the init image is the result.
        browser.findElement(By.cssSelector("#gallery .item .send-to-img2img")).click();
        waitUntil("img2img", () -> browser.findElement(By.id("img2img-controls")).isDisplayed()
                && "a lighthouse at dusk".equals(browser.findElement(By.id("prompt")).getDomProperty("value")));
        assertTrue(browser.findElement(By.id("tab-img2img")).getDomAttribute("class").contains("active"));
        assertEquals(src, browser.findElement(By.id("init-preview")).getDomAttribute("src"));
        set(browser, "steps", "4");
        browser.findElement(By.id("generate")).click();
        waitUntil("the img2img image", () -> browser.findElements(By.cssSelector("#gallery .item")).size() == 2);
        assertTrue(browser.findElement(By.id("result-info")).getText().contains("Denoising strength: 0.75"));
        screenshot(browser, "jdiffusion-page-img2img.png");
    }

    private static void set(ChromeDriver browser, String id, String value) {
        WebElement e = browser.findElement(By.id(id));
        e.clear();
        e.sendKeys(value);
    }

    private static void screenshot(ChromeDriver browser, String name) throws Exception {
        Path dir = Files.createDirectories(Path.of("target", "browser"));
        Path shot = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath();
        Files.copy(shot, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }

    private static void waitUntil(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) return;
            Thread.sleep(50);
        }
        fail("timed out waiting for " + what);
    }
}
