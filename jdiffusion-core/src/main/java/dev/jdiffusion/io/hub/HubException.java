package dev.jdiffusion.io.hub;

import java.io.IOException;

/**
 * The Hub refused a request or answered something unusable (not found, gated, bad checksum...). The message
 * names the repo and says what to do; the CLI prints it alone. Transient network errors are plain
 * IOExceptions; a HubException is final: retrying the same request will not help.
 */
public class HubException extends IOException {
    private static final long serialVersionUID = 1L;

    public HubException(String message) { super(message); }

    public HubException(String message, Throwable cause) { super(message, cause); }
}
