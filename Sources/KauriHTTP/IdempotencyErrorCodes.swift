extension ErrorCode {
    /// The `Idempotency-Key` header is malformed: not an sf-string or bare key, empty, over 255 characters,
    /// or sent more than once.
    public static let idempotencyKeyInvalid = ErrorCode(
        "idempotency.key_invalid", status: 400, title: "Invalid idempotency key")
    /// The operation moves money and needs an `Idempotency-Key` header.
    public static let idempotencyKeyMissing = ErrorCode(
        "idempotency.key_missing", status: 400, title: "Idempotency key required")
    /// The key was used before for a different request (another body, path or method).
    public static let idempotencyKeyReused = ErrorCode(
        "idempotency.key_reused", status: 422, title: "Idempotency key reused")
    /// The first request with this key is still being processed; `Retry-After` says when to retry.
    public static let idempotencyRequestInProgress = ErrorCode(
        "idempotency.request_in_progress", status: 409, title: "Request with this idempotency key in progress")
}

/// The idempotency middleware's problem codes, for docs/ERRORS.md and its test.
public enum IdempotencyErrorCodes {
    /// Every code `IdempotencyMiddleware` answers with.
    public static let all: [ErrorCode] = [
        .idempotencyKeyInvalid, .idempotencyKeyMissing, .idempotencyKeyReused, .idempotencyRequestInProgress,
    ]
}
