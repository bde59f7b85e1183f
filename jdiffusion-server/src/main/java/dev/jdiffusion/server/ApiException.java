package dev.jdiffusion.server;

/**
 * A request the server refuses: an HTTP status and one line that names the field (when there is one) and what was
 * expected. Answered as JSON {@code {"error": ..., "detail": ..., "field": ...}}; the server keeps serving.
 */
final class ApiException extends RuntimeException {
    final int status;
    final String field;

    ApiException(int status, String field, String message) {
        super(field == null ? message : field + ": " + message);
        this.status = status;
        this.field = field;
    }

    static ApiException badField(String field, String message) { return new ApiException(422, field, message); }

    /** A short name of the kind of error, as A1111's answers carry the exception's type. */
    String errorName() {
        return switch (status) {
            case 400 -> "BadRequest";
            case 401 -> "Unauthorized";
            case 404 -> "NotFound";
            case 405 -> "MethodNotAllowed";
            case 413 -> "PayloadTooLarge";
            case 422 -> "ValidationError";
            case 503 -> "QueueFull";
            default -> status >= 500 ? "ServerError" : "HTTPException";
        };
    }
}
