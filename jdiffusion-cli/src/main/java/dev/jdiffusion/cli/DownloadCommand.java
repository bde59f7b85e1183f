package dev.jdiffusion.cli;

import dev.jdiffusion.io.hub.HubDownloader;
import dev.jdiffusion.io.hub.HubSettings;
import dev.jdiffusion.io.hub.RepoRef;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code jdiffusion download org/name}: fetches what the pipeline needs into the Hugging Face cache, where
 * Python tools find it too; afterwards {@code --model org/name} works offline. Prints the snapshot folder.
 */
@Command(name = "download", mixinStandardHelpOptions = true,
        description = {"Downloads a model from the Hugging Face Hub into the Hugging Face cache (shared with Python"
                + " tools). Only what the pipeline needs: configs, tokenizer, one set of safetensors weights per part"
                + " (the safety checker's included, unless --no-safety-checker).",
                "Environment: HF_TOKEN (gated or private repos), HF_HUB_CACHE / HF_HOME (cache), HF_ENDPOINT (mirror)."})
public final class DownloadCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Parameters(index = "0", paramLabel = "REPO", description = "the repo id: org/name (or org/name@revision)")
    String repo;

    @Option(names = "--revision", paramLabel = "REV", description = "branch, tag or commit hash (default: main)")
    String revision;

    @Option(names = "--variant", paramLabel = "NAME",
            description = "weights variant, e.g. fp16 (half the download); parts without it get their plain weights")
    String variant;

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "the cache folder (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)")
    Path cacheDir;

    @Option(names = "--endpoint", paramLabel = "URL", description = "the Hub to ask (default: $HF_ENDPOINT, else https://huggingface.co)")
    String endpoint;

    @Option(names = {"-q", "--quiet"}, description = "no progress bar")
    boolean quiet;

    @Option(names = "--no-safety-checker", description = "leave out the safety checker and its feature extractor"
            + " (generate then needs --no-safety-checker too)")
    boolean noSafetyChecker;

    @Override
    public Integer call() throws IOException {
        RepoRef ref = RepoRef.parse(repo);
        if (revision != null) {
            if (repo.contains("@"))
                throw new IllegalArgumentException("give the revision once: " + repo + " or --revision " + revision);
            ref = new RepoRef(ref.repoId(), revision);
        }
        HubSettings settings = HubSettings.fromEnvironment();
        if (cacheDir != null) settings = settings.withCacheDir(cacheDir);
        if (endpoint != null) settings = settings.withEndpoint(endpoint);

        // The launcher says whether stderr is a terminal (System.console() only knows about stdin/stdout).
        boolean tty = Boolean.getBoolean("jdiffusion.stderr.tty");
        HubDownloader.Listener listener = quiet || !tty ? HubDownloader.Listener.NONE
                : new DownloadProgressBar(spec.commandLine().getErr());
        HubDownloader.Result result = new HubDownloader(settings, listener).download(ref, variant, !noSafetyChecker);
        spec.commandLine().getOut().println(result.snapshot());
        return 0;
    }
}
