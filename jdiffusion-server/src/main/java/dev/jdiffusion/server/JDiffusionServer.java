package dev.jdiffusion.server;

/**
 * {@code jdiffusion serve}: AUTOMATIC1111's HTTP API and a web page over one loaded model. Starts in seconds (the
 * weights are mapped, not read); {@link #close()} stops it.
 */
public final class JDiffusionServer implements AutoCloseable {
    private final SdApi api;
    private final HttpTransport transport;

    private JDiffusionServer(SdApi api, HttpTransport transport) {
        this.api = api;
        this.transport = transport;
    }

    /**
     * Loads the model and listens.
     *
     * @throws IllegalArgumentException or {@link dev.jdiffusion.io.ModelFormatException} for a bad model or option
     */
    public static JDiffusionServer start(ServerOptions options) throws InterruptedException {
        SdApi api = new SdApi(options);
        try {
            HttpTransport transport = new HttpTransport(options.host(), options.port(), options.limits().maxBodyBytes(), api::handle);
            api.port(transport.port());
            return new JDiffusionServer(api, transport);
        } catch (RuntimeException | InterruptedException e) {
            api.close();
            throw e;
        }
    }

    /** The port it listens on (the chosen one when started with port 0). */
    public int port() { return transport.port(); }

    /** The title of the current model, as /sdapi/v1/options names it. */
    public String modelTitle() { return api.modelTitle(); }

    /** Whether {@code host} is a loopback address (binding elsewhere without --api-auth deserves a warning). */
    public static boolean isLoopback(String host) { return SdApi.isLoopback(host); }

    /** Jobs waiting behind the running one (tests watch the queue bound with it). */
    int waitingJobs() { return api.waitingJobs(); }

    @Override
    public void close() {
        transport.close();
        api.close();
    }
}
