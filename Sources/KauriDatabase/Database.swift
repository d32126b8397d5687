@preconcurrency import AsyncKit
import KauriCore
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import SQLKit
import SQLiteKit
import Synchronization

/// The relational database behind Kauri: SQLite (embedded, default) or PostgreSQL (production), both used
/// through SQLKit so stores write one query for both.
///
/// Use `withConnection` for reads and `transaction` for every change: a use case commits exactly one
/// transaction that holds its state change, its ledger transfers and its idempotency record.
public final class Database: Sendable {
    /// Which engine is underneath; stores branch on it only where the dialects differ.
    public enum Kind: String, Sendable {
        case sqlite
        case postgres
    }

    /// The engine.
    public let kind: Kind
    /// The configuration the database was opened with.
    public let configuration: DatabaseConfiguration
    private let backend: Backend
    private let writeGate = AsyncGate()
    private let logger: Logger

    // The pools lock internally and are used from any thread (AsyncKit documents them as thread-safe); they
    // only lack the annotation.
    private enum Backend: @unchecked Sendable {
        case sqlite(EventLoopGroupConnectionPool<SQLiteFileSource>, NIOThreadPool)
        case postgres(EventLoopGroupConnectionPool<PostgresConnectionSource>)
    }

    /// Opens a connection pool. No connection is made until first use; call `ping()` to check reachability.
    /// - Parameter connectionRequestTimeout: How long a caller waits for a free pooled connection before failing
    ///   (tests that queue many transactions on a small pool on a loaded machine raise it).
    public init(
        _ configuration: DatabaseConfiguration,
        logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectionRequestTimeout: TimeAmount = .seconds(10)
    ) throws {
        self.configuration = configuration
        self.logger = logger
        let loops = Array(eventLoopGroup.makeIterator()).count
        switch configuration {
        case .sqlite(let path, let poolSize):
            self.kind = .sqlite
            // SQLite calls block; they get threads of their own so they never starve other blocking work,
            // and a connection waiting on another process's write lock cannot hold up this pool's writer.
            let threadPool = NIOThreadPool(numberOfThreads: max(1, poolSize))
            threadPool.start()
            self.backend = .sqlite(
                EventLoopGroupConnectionPool(
                    source: SQLiteFileSource(path: path, threadPool: threadPool),
                    maxConnectionsPerEventLoop: max(1, poolSize / max(1, loops)),
                    requestTimeout: connectionRequestTimeout,
                    pruneInterval: nil,
                    logger: logger,
                    on: eventLoopGroup),
                threadPool)
        case .postgres(let url, let poolSize, let searchPath):
            self.kind = .postgres
            var sqlConfiguration: SQLPostgresConfiguration
            do {
                sqlConfiguration = try SQLPostgresConfiguration(url: url.value)
            } catch {
                throw DatabaseError.invalidURL(DatabaseConfiguration.redacted(url.value))
            }
            sqlConfiguration.searchPath = searchPath
            sqlConfiguration.coreConfiguration.options.connectTimeout = .seconds(3)
            self.backend = .postgres(
                EventLoopGroupConnectionPool(
                    source: PostgresConnectionSource(sqlConfiguration: sqlConfiguration),
                    maxConnectionsPerEventLoop: max(1, poolSize / max(1, loops)),
                    requestTimeout: connectionRequestTimeout,
                    pruneInterval: .seconds(60),
                    logger: logger,
                    on: eventLoopGroup))
        }
    }

    /// Runs `body` on one pooled connection (a single session), without a transaction.
    public func withConnection<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        do {
            switch self.backend {
            case .sqlite(let pool, _):
                let connection = try await pool.requestConnection(logger: self.logger).get()
                defer { pool.releaseConnection(connection, logger: self.logger) }
                return try await body(connection.sql(queryLogLevel: .trace))
            case .postgres(let pool):
                let connection = try await pool.requestConnection(logger: self.logger).get()
                defer { pool.releaseConnection(connection, logger: self.logger) }
                return try await body(connection.sql(queryLogLevel: .trace))
            }
        } catch let error as DatabaseError {
            throw error
        } catch {
            throw DatabaseError.classify(error)
        }
    }

    /// Runs `body` inside one transaction: committed if it returns, rolled back if it throws.
    ///
    /// On SQLite, write transactions are serialised in-process and begin with `BEGIN IMMEDIATE`, so a
    /// transaction never fails half-way because another writer got there first.
    public func transaction<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        switch self.kind {
        case .sqlite:
            return try await self.writeGate.withGate {
                try await self.withConnection { connection in
                    try await Self.run(body, on: connection, begin: "BEGIN IMMEDIATE")
                }
            }
        case .postgres:
            return try await self.withConnection { connection in
                try await Self.run(body, on: connection, begin: "BEGIN")
            }
        }
    }

    /// Runs `body` in a read-only transaction that sees one consistent snapshot of the database.
    ///
    /// PostgreSQL: `REPEATABLE READ READ ONLY`. SQLite (WAL): a deferred transaction, whose snapshot is fixed by
    /// its first read; it never blocks writers.
    public func snapshot<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await self.withConnection { connection in
            switch self.kind {
            case .sqlite: try await Self.run(body, on: connection, begin: "BEGIN DEFERRED")
            case .postgres:
                try await Self.run(body, on: connection, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            }
        }
    }

    private static func run<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T,
        on connection: any SQLDatabase,
        begin: String
    ) async throws -> T {
        try await connection.raw(SQLQueryString(begin)).run()
        let result: T
        do {
            result = try await body(connection)
        } catch {
            // The rollback's own failure (a dropped connection) must not hide the original error.
            try? await connection.raw("ROLLBACK").run()
            throw error
        }
        try await connection.raw("COMMIT").run()
        return result
    }

    /// Checks that the database answers `SELECT 1` within `timeoutMilliseconds`.
    ///
    /// Returns or throws by the deadline even when the query cannot be cancelled (a connection request waiting
    /// in the pool, a query on a connection whose peer went silent): that query finishes in the background.
    public func ping(timeoutMilliseconds: Int = 2_000) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let once = ResumeOnce(continuation)
            let query = Task {
                do {
                    try await self.withConnection { connection in
                        try await connection.raw("SELECT 1 AS one").run()
                    }
                    once.resume(with: .success(()))
                } catch {
                    once.resume(with: .failure(error))
                }
            }
            Task {
                try? await Task.sleep(for: .milliseconds(timeoutMilliseconds))
                once.resume(with: .failure(DatabaseError.unavailable("no answer within \(timeoutMilliseconds) ms")))
                query.cancel()
            }
        }
    }

    /// Closes every pooled connection. The database is unusable afterwards.
    public func shutdown() async {
        do {
            switch self.backend {
            case .sqlite(let pool, let threadPool):
                try await pool.shutdownAsync()
                try await threadPool.shutdownGracefully()
            case .postgres(let pool): try await pool.shutdownAsync()
            }
        } catch {
            self.logger.debug("database pool already shut down", metadata: ["error": "\(error)"])
        }
    }
}

/// Resumes a continuation with the first result given and ignores the rest.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, any Error>?>

    init(_ continuation: CheckedContinuation<Void, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func resume(with result: Result<Void, any Error>) {
        let continuation = self.continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }
        continuation?.resume(with: result)
    }
}
