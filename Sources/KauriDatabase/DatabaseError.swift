@preconcurrency import AsyncKit
import NIOCore
import PostgresKit
import SQLiteKit

/// Database failures that callers act on; anything else passes through unchanged.
public enum DatabaseError: Error, CustomStringConvertible, Sendable {
    /// The database could not be reached (refused, timed out, pool shut down, connection lost).
    case unavailable(String)
    /// `DATABASE_URL` is not a URL Kauri can connect with.
    case invalidURL(String)
    /// A migration failed; the transaction holding it was rolled back.
    case migrationFailed(module: String, version: Int, reason: String)

    /// One sentence for logs and for the command line.
    public var description: String {
        switch self {
        case .unavailable(let reason): "database unavailable: \(reason)"
        case .invalidURL(let url): "DATABASE_URL is not a valid postgres:// URL: \(url)"
        case .migrationFailed(let module, let version, let reason):
            "migration \(module)/\(version) failed: \(reason)"
        }
    }

    /// Turns connection-level failures into `.unavailable`; query errors (constraint violations, syntax)
    /// are returned unchanged so callers can handle them.
    static func classify(_ error: any Error) -> any Error {
        switch error {
        case let error as ConnectionPoolError:
            return DatabaseError.unavailable("connection pool: \(error)")
        case let error as ConnectionPoolTimeoutError:
            // No connection came free in time: the database is down (connections keep failing) or overloaded.
            return DatabaseError.unavailable("connection pool: \(error)")
        case is ChannelError, is IOError:
            return DatabaseError.unavailable("\(error)")
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .unexpectedBackendMessage,
                .messageDecodingFailure, .uncleanShutdown, .failedToAddSSLHandler, .sslUnsupported:
                return DatabaseError.unavailable("postgres: \(error.code)")
            default:
                // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection.
                if let sqlState = error.serverInfo?[.sqlState],
                    sqlState.hasPrefix("08") || sqlState.hasPrefix("57P")
                {
                    return DatabaseError.unavailable("postgres SQLSTATE \(sqlState)")
                }
                return error
            }
        case let error as SQLiteError:
            switch error.reason {
            case .cantOpen, .ioError, .notADatabase, .corrupt, .full, .readOnly:
                return DatabaseError.unavailable("sqlite: \(error.message)")
            default:
                return error
            }
        default:
            return error
        }
    }

    /// Whether `error` is a write conflict that a retry of the whole transaction can resolve: a unique-key
    /// violation from a concurrent insert of the same key, a serialization failure or a deadlock.
    public static func isRetryableConflict(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            guard let sqlState = error.serverInfo?[.sqlState] else { return false }
            return sqlState == "23505" || sqlState == "40001" || sqlState == "40P01"
        case let error as SQLiteError:
            return error.reason == .constraintUniqueFailed || error.reason == .constraintPrimaryKeyFailed
                || error.reason == .busy || error.reason == .locked
        default:
            return false
        }
    }
}
