import KauriDatabase
import KauriHTTP

extension DatabaseError: APIErrorConvertible {
    /// Unavailability is a 503 the client may retry; anything else is an internal error.
    public var apiError: APIError {
        switch self {
        case .unavailable:
            APIError(.databaseUnavailable, detail: "the database is unavailable; retry later")
        case .invalidURL, .migrationFailed:
            APIError(.internalError)
        }
    }
}
