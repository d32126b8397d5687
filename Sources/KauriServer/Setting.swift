/// The catalogue of settings: one entry per setting with its flag, environment variable, default and help.
///
/// `kauri serve --help`, README.md's configuration table and the loader all come from this list, so a setting
/// is added in one place.
public struct Setting: Sendable, Hashable {
    /// The kind of value, which fixes how it is parsed.
    public enum Kind: String, Sendable {
        case string, integer, boolean, list
    }

    /// The command-line flag without dashes (`port`).
    public let flag: String
    /// The environment variable (`KAURI_PORT`); also the key in the JSON config file.
    public let environmentVariable: String
    /// The kind of value.
    public let kind: Kind
    /// The default, as shown in help.
    public let defaultDescription: String
    /// Whether the value is a secret (never printed).
    public let isSecret: Bool
    /// What it does.
    public let help: String

    /// Where it listens.
    public static let host = Setting(
        flag: "host", environmentVariable: "KAURI_HOST", kind: .string, defaultDescription: "127.0.0.1",
        isSecret: false, help: "Address to listen on.")
    /// The port.
    public static let port = Setting(
        flag: "port", environmentVariable: "KAURI_PORT", kind: .integer, defaultDescription: "8080", isSecret: false,
        help: "Port to listen on (0 picks a free port).")
    /// The data directory.
    public static let dataDirectory = Setting(
        flag: "data-dir", environmentVariable: "KAURI_DATA_DIR", kind: .string, defaultDescription: "./.kauri",
        isSecret: false, help: "Directory for the SQLite database and generated keys; created if missing.")
    /// The PostgreSQL URL.
    public static let databaseURL = Setting(
        flag: "database-url", environmentVariable: "DATABASE_URL", kind: .string,
        defaultDescription: "(none: SQLite in the data dir)", isSecret: true,
        help: "postgres://user:pass@host:5432/db to run on PostgreSQL instead of SQLite.")
    /// The pool size.
    public static let databasePoolSize = Setting(
        flag: "database-pool-size", environmentVariable: "KAURI_DATABASE_POOL_SIZE", kind: .integer,
        defaultDescription: "8", isSecret: false, help: "Maximum database connections (1–200).")
    /// Sandbox or live.
    public static let mode = Setting(
        flag: "mode", environmentVariable: "KAURI_MODE", kind: .string, defaultDescription: "sandbox",
        isSecret: false, help: "sandbox (local gateway simulators) or live (real providers).")
    /// CORS.
    public static let corsAllowedOrigins = Setting(
        flag: "cors-allowed-origins", environmentVariable: "KAURI_CORS_ALLOWED_ORIGINS", kind: .list,
        defaultDescription: "(none)", isSecret: false,
        help: "Comma-separated origins allowed to call the API from a browser, e.g. https://shop.example.")
    /// Body limit.
    public static let requestBodyBytesMax = Setting(
        flag: "request-body-bytes-max", environmentVariable: "KAURI_REQUEST_BODY_BYTES_MAX", kind: .integer,
        defaultDescription: "1048576", isSecret: false, help: "Largest request body accepted, in bytes.")
    /// Access log.
    public static let accessLog = Setting(
        flag: "access-log", environmentVariable: "KAURI_ACCESS_LOG", kind: .boolean, defaultDescription: "true",
        isSecret: false, help: "Write one JSON line per request (true/false).")
    /// Log level.
    public static let logLevel = Setting(
        flag: "log-level", environmentVariable: "KAURI_LOG_LEVEL", kind: .string, defaultDescription: "info",
        isSecret: false, help: "trace, debug, info, notice, warning, error or critical.")
    /// Shutdown grace.
    public static let shutdownGraceSeconds = Setting(
        flag: "shutdown-grace-seconds", environmentVariable: "KAURI_SHUTDOWN_GRACE_SECONDS", kind: .integer,
        defaultDescription: "30", isSecret: false,
        help: "Seconds in-flight requests may take to finish after SIGTERM/SIGINT.")

    /// The admin API key.
    public static let adminAPIKey = Setting(
        flag: "admin-api-key", environmentVariable: "KAURI_ADMIN_API_KEY", kind: .string,
        defaultDescription: "(sandbox: generated into <data-dir>/admin-api-key; live: admin API off)", isSecret: true,
        help: "Bearer key for admin routes (/v1/ledger/…), at least 32 characters. Prefer the environment variable.")

    /// Every setting of `kauri serve`, in help order.
    public static let all: [Setting] = [
        .host, .port, .dataDirectory, .databaseURL, .databasePoolSize, .mode, .corsAllowedOrigins,
        .requestBodyBytesMax, .accessLog, .logLevel, .shutdownGraceSeconds, .adminAPIKey,
    ]

    /// The setting's names for error messages: `--port / KAURI_PORT`.
    public var names: String { "--\(self.flag) / \(self.environmentVariable)" }
}
