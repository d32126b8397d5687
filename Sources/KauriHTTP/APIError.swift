import HTTPTypes

/// The one error type routes throw to answer with RFC 9457 `application/problem+json`.
///
/// Domain errors are mapped to it in one exhaustive switch per module; anything else that escapes a route is
/// answered as `internal_error`, with the details only in the log.
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// The stable code, which fixes the status and title.
    public var code: ErrorCode
    /// An explanation specific to this occurrence, safe to show to the client.
    public var detail: String?
    /// Per-field problems for validation errors.
    public var fieldErrors: [FieldError]
    /// Extra response headers (`Allow`, `Retry-After`).
    public var headers: HTTPFields

    /// Creates an error.
    public init(_ code: ErrorCode, detail: String? = nil, fieldErrors: [FieldError] = [], headers: HTTPFields = [:]) {
        self.code = code
        self.detail = detail
        self.fieldErrors = fieldErrors
        self.headers = headers
    }

    /// The code and detail, for logs.
    public var description: String { "\(self.code.rawValue): \(self.detail ?? self.code.title)" }

    /// One invalid field: where it is (a JSON path like `items[0].quantity`), a code, and a message.
    public struct FieldError: Sendable, Hashable, Codable {
        /// The field's path in the request, dotted, with `[i]` for array elements.
        public var field: String
        /// A stable code for the kind of problem (`missing`, `invalid_type`, `too_long`, …).
        public var code: String
        /// A sentence for humans.
        public var message: String

        /// Creates a field error.
        public init(field: String, code: String, message: String) {
            self.field = field
            self.code = code
            self.message = message
        }
    }
}

extension APIError {
    /// 422 with per-field errors.
    public static func validation(_ fieldErrors: [FieldError]) -> APIError {
        APIError(.validationFailed, detail: "\(fieldErrors.count) field(s) failed validation", fieldErrors: fieldErrors)
    }

    /// 422 for a single invalid field.
    public static func invalidField(_ field: String, code: String = "invalid", _ message: String) -> APIError {
        .validation([FieldError(field: field, code: code, message: message)])
    }

    /// 405 with the `Allow` header listing the methods the path does accept.
    public static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> APIError {
        let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
        return APIError(
            .methodNotAllowed, detail: "\(method.rawValue) is not allowed here; allowed: \(allow)",
            headers: [.allow: allow])
    }
}
