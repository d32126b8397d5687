/// A stable, namespaced error code (`request.not_found`) with the HTTP status and title it always has.
///
/// Codes are part of the public API: clients branch on them, so a code never changes meaning. Every code is
/// listed in docs/ERRORS.md; a test keeps the two in step.
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// The code string, `<namespace>.<snake_case_name>`.
    public let rawValue: String
    /// The HTTP status answered with this code.
    public let status: Int
    /// A short human summary that does not vary between occurrences.
    public let title: String

    /// Declares a code.
    public init(_ rawValue: String, status: Int, title: String) {
        self.rawValue = rawValue
        self.status = status
        self.title = title
    }

    /// The code string.
    public var description: String { self.rawValue }
}

extension ErrorCode {
    /// No route matches the path.
    public static let notFound = ErrorCode("request.not_found", status: 404, title: "Not found")
    /// The path exists but not with this method.
    public static let methodNotAllowed = ErrorCode(
        "request.method_not_allowed", status: 405, title: "Method not allowed")
    /// The body is larger than the configured limit.
    public static let bodyTooLarge = ErrorCode("request.body_too_large", status: 413, title: "Request body too large")
    /// The body is not `application/json`.
    public static let unsupportedMediaType = ErrorCode(
        "request.unsupported_media_type", status: 415, title: "Unsupported media type")
    /// The body is not well-formed JSON.
    public static let malformedJSON = ErrorCode("request.malformed_json", status: 400, title: "Malformed JSON")
    /// One or more fields are missing or invalid; `errors` lists them.
    public static let validationFailed = ErrorCode(
        "request.validation_failed", status: 422, title: "Validation failed")
    /// A query parameter is invalid (for example `limit` or `cursor`).
    public static let invalidQuery = ErrorCode("request.invalid_query", status: 400, title: "Invalid query parameter")
    /// A CORS preflight came from an origin not on the allow-list.
    public static let originNotAllowed = ErrorCode(
        "request.origin_not_allowed", status: 403, title: "Origin not allowed")
    /// The database cannot be reached; retry later.
    public static let databaseUnavailable = ErrorCode(
        "service.database_unavailable", status: 503, title: "Database unavailable")
    /// An unexpected failure; the request id finds the details in the log.
    public static let internalError = ErrorCode("internal_error", status: 500, title: "Internal server error")

    /// Every code the HTTP platform itself can answer with.
    public static let platform: [ErrorCode] = [
        .notFound, .methodNotAllowed, .bodyTooLarge, .unsupportedMediaType, .malformedJSON, .validationFailed,
        .invalidQuery, .originNotAllowed, .databaseUnavailable, .internalError,
    ]
}
