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
    private let writeGate: AsyncGate
    /// SQLite's group commit (nil on PostgreSQL, whose own WAL flush groups concurrent commits).
    private let writeBatcher: SQLiteWriteBatcher?
    private let logger: Logger

    /// The most write transactions one SQLite commit holds.
    public static let sqliteBatchTransactionsMax = 128

    // The pools lock internally and are used from any thread (AsyncKit documents them as thread-safe); they
    // only lack the annotation.
    private enum Backend: @unchecked Sendable {
        case sqlite(EventLoopGroupConnectionPool<SQLiteFileSource>, NIOThreadPool)
        case postgres(EventLoopGroupConnectionPool<PostgresConnectionSource>)
    }

    /// Opens a connection pool. No connection is made until first use; call `ping()` to check reachability.
    /// - Parameter connectionRequestTimeout: How long a caller waits for a free pooled connection before failing
    ///   (tests that queue many transactions on a small pool on a loaded machine raise it).
    /// - Parameter sqliteGroupCommit: Whether SQLite write transactions share commits (the default). Off, each is its
    ///   own `BEGIN IMMEDIATE … COMMIT`: only benchmarks measuring one commit per transaction turn it off.
    public init(
        _ configuration: DatabaseConfiguration,
        logger: Logger,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectionRequestTimeout: TimeAmount = .seconds(10),
        sqliteGroupCommit: Bool = true
    ) throws {
        self.configuration = configuration
        self.logger = logger
        let gate = AsyncGate()
        self.writeGate = gate
        let loops = Array(eventLoopGroup.makeIterator()).count
        switch configuration {
        case .sqlite(let path, let poolSize):
            self.kind = .sqlite
            // SQLite calls block; they get threads of their own so they never starve other blocking work,
            // and a connection waiting on another process's write lock cannot hold up this pool's writer.
            let threadPool = NIOThreadPool(numberOfThreads: max(1, poolSize))
            threadPool.start()
            let pool = EventLoopGroupConnectionPool(
                source: SQLiteFileSource(path: path, threadPool: threadPool),
                maxConnectionsPerEventLoop: max(1, poolSize / max(1, loops)),
                requestTimeout: connectionRequestTimeout,
                pruneInterval: nil,
                logger: logger,
                on: eventLoopGroup)
            self.backend = .sqlite(pool, threadPool)
            let sendablePool = UncheckedSendable(pool)
            let batchSizeMax = sqliteGroupCommit ? Self.sqliteBatchTransactionsMax : 1
            self.writeBatcher = SQLiteWriteBatcher(batchSizeMax: batchSizeMax) { bodies in
                try await gate.withGate {
                    try await Self.runSQLiteBatch(bodies, pool: sendablePool.value, logger: logger)
                }
            }
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
            self.writeBatcher = nil
        }
    }

    /// Runs `body` on one pooled connection (a single session), without a transaction.
    public func withConnection<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await self.withSession { session in try await body(session.sql) }
    }

    /// One pooled connection, with what `run` needs to know about it beyond SQL.
    private struct Session: Sendable {
        let sql: any SQLDatabase
        /// Whether the connection is gone (never on SQLite).
        let isClosed: @Sendable () -> Bool
        /// Closes the connection so the pool opens a new one instead of handing this one out again.
        let close: @Sendable () -> Void
    }

    private func withSession<T: Sendable>(_ body: @Sendable (Session) async throws -> T) async throws -> T {
        do {
            switch self.backend {
            case .sqlite(let pool, _):
                let connection = try await pool.requestConnection(logger: self.logger).get()
                defer { pool.releaseConnection(connection, logger: self.logger) }
                return try await body(
                    Session(sql: connection.sql(queryLogLevel: .trace), isClosed: { false }, close: {}))
            case .postgres(let pool):
                let connection = try await pool.requestConnection(logger: self.logger).get()
                defer { pool.releaseConnection(connection, logger: self.logger) }
                // A pooled connection whose server went away is never used: PostgresNIO 1.33.2 does not complete a
                // query written to a closed channel. (It can still close between this check and the first write.)
                if connection.isClosed { throw DatabaseError.unavailable("postgres: the pooled connection is closed") }
                let sendable = UncheckedSendable(connection)
                return try await body(
                    Session(
                        sql: connection.sql(queryLogLevel: .trace),
                        isClosed: { sendable.value.isClosed },
                        close: {
                            let future: EventLoopFuture<Void> = sendable.value.close()
                            _ = future
                        }))
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
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        switch self.kind {
        case .sqlite:
            // Queued for SQLite's group commit; it runs on the batcher's task while this call waits.
            guard let batcher = self.writeBatcher else { preconditionFailure("SQLite databases batch their writes") }
            return try await batcher.submit(body)
        case .postgres:
            return try await self.withSession { session in
                try await Self.run(body, on: session, begin: "BEGIN")
            }
        }
    }

    /// Runs one write statement as its own transaction: on PostgreSQL a single autocommit round trip (no BEGIN and
    /// COMMIT around it), on SQLite through the group commit like any write transaction.
    public func execute(_ statement: SQLQueryString) async throws {
        switch self.kind {
        case .sqlite:
            try await self.transaction { connection in try await connection.raw(statement).run() }
        case .postgres:
            try await self.withConnection { connection in try await connection.raw(statement).run() }
        }
    }

    /// Runs `body` in a read-only transaction that sees one consistent snapshot of the database.
    ///
    /// PostgreSQL: `REPEATABLE READ READ ONLY`. SQLite (WAL): a deferred transaction, whose snapshot is fixed by
    /// its first read; it never blocks writers.
    public func snapshot<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await self.withSession { session in
            switch self.kind {
            case .sqlite: try await Self.run(body, on: session, begin: "BEGIN DEFERRED")
            case .postgres:
                try await Self.run(body, on: session, begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            }
        }
    }

    /// One SQLite group commit: `BEGIN IMMEDIATE`, each body in its own savepoint (none for a lone body), `COMMIT`.
    /// Returns each body's outcome; throws (everything rolled back) when the batch itself fails.
    private static func runSQLiteBatch(
        _ bodies: [SQLiteWriteBatcher.Body], pool: EventLoopGroupConnectionPool<SQLiteFileSource>, logger: Logger
    ) async throws -> [Result<any Sendable, any Error>] {
        do {
            let connection = try await pool.requestConnection(logger: logger).get()
            defer { pool.releaseConnection(connection, logger: logger) }
            let sql = connection.sql(queryLogLevel: .trace)
            try await sql.raw("BEGIN IMMEDIATE").run()
            var outcomes: [Result<any Sendable, any Error>] = []
            outcomes.reserveCapacity(bodies.count)
            do {
                if bodies.count == 1 {
                    do {
                        outcomes.append(.success(try await bodies[0](sql)))
                    } catch {
                        try? await sql.raw("ROLLBACK").run()
                        return [.failure(DatabaseError.classify(error))]
                    }
                } else {
                    for body in bodies {
                        try await sql.raw("SAVEPOINT kauri_write").run()
                        do {
                            let value = try await body(sql)
                            try await sql.raw("RELEASE kauri_write").run()
                            outcomes.append(.success(value))
                        } catch {
                            try await sql.raw("ROLLBACK TO kauri_write").run()
                            try await sql.raw("RELEASE kauri_write").run()
                            outcomes.append(.failure(DatabaseError.classify(error)))
                        }
                    }
                }
                try await sql.raw("COMMIT").run()
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
            return outcomes
        } catch let error as DatabaseError {
            throw error
        } catch {
            throw DatabaseError.classify(error)
        }
    }

    /// How long a ROLLBACK may take before its connection is given up and closed.
    static let rollbackDeadline: Duration = .seconds(5)

    private static func run<T: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> T,
        on session: Session,
        begin: String
    ) async throws -> T {
        let connection = session.sql
        try await connection.raw(SQLQueryString(begin)).run()
        let result: T
        do {
            result = try await body(connection)
        } catch {
            await Self.rollback(session, after: error)
            throw error
        }
        try await connection.raw("COMMIT").run()
        return result
    }

    /// Rolls back after `error`, never waiting on a connection that is gone.
    ///
    /// A server rolls back the transaction of a connection that dropped, so nothing is sent then: PostgresNIO
    /// 1.33.2 never completes a query written to a connection whose channel has closed (the write is dropped with
    /// no promise to fail), and a worker awaiting that ROLLBACK hung for good after a database outage. Should the
    /// connection drop between the check and the write, the deadline closes it instead. The rollback's own
    /// failure must not hide the original error, so it is not thrown.
    private static func rollback(_ session: Session, after error: any Error) async {
        if session.isClosed() { return }
        if case DatabaseError.unavailable = DatabaseError.classify(error) {
            session.close()
            return
        }
        let finished = await Self.finishes(within: Self.rollbackDeadline) {
            try? await session.sql.raw("ROLLBACK").run()
        }
        if !finished { session.close() }
    }

    /// Runs `work` and answers whether it finished within `deadline`; past it the caller goes on and `work` is left
    /// to finish (or not) in the background.
    static func finishes(
        within deadline: Duration, _ work: @escaping @Sendable () async -> Void
    ) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let once = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: deadline)
                once.resume(with: .success(false))
            }
            Task {
                await work()
                once.resume(with: .success(true))
                timer.cancel()
            }
        }
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
private final class ResumeOnce<Value: Sendable, Failure: Error>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Failure>?>

    init(_ continuation: CheckedContinuation<Value, Failure>) {
        self.continuation = Mutex(continuation)
    }

    func resume(with result: Result<Value, Failure>) {
        let continuation = self.continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }
        continuation?.resume(with: result)
    }
}

/// A value whose type lacks the annotation but is safe to share (a PostgresNIO connection's state is confined to its
/// event loop).
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
