import KauriCore

/// Where the database is and how many connections to keep.
public enum DatabaseConfiguration: Sendable, CustomStringConvertible {
    /// An SQLite file (created when missing), in WAL mode with `synchronous=FULL` and foreign keys on.
    case sqlite(path: String, poolSize: Int)
    /// A PostgreSQL server, reached through a `postgres://` URL that may carry credentials.
    case postgres(url: Secret<String>, poolSize: Int, searchPath: [String]? = nil)

    /// A description safe for logs: the SQLite path, or the PostgreSQL URL without its password.
    public var description: String {
        switch self {
        case .sqlite(let path, _): "sqlite:\(path)"
        case .postgres(let url, _, _): Self.redacted(url.value)
        }
    }

    /// The URL with any password replaced by `***`.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return "***" }
        let rest = url[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return url }
        let userInfo = rest[..<at]
        let user = userInfo.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
        return String(url[..<schemeEnd.upperBound]) + user + ":***" + String(rest[at...])
    }
}
