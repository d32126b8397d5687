@preconcurrency import AsyncKit
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// Opens SQLite connections with Kauri's durability settings applied to every connection:
/// WAL journal (readers never block the writer), `synchronous=FULL` (a committed transaction survives
/// power loss) and foreign keys enforced.
struct SQLiteFileSource: ConnectionPoolSource, Sendable {
    let path: String
    let threadPool: NIOThreadPool

    /// `busy_timeout` replaces sqlite-nio's spin-forever busy handler: a writer from another process waits
    /// with back-off for at most this long instead of burning a thread.
    static let pragmas = [
        "PRAGMA busy_timeout = 10000",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
        // 32 MiB of page cache per connection (the default is 2 MiB), so the ledger's hot index pages stay in
        // memory instead of being re-read from the OS on every batch.
        "PRAGMA cache_size = -32768",
    ]

    func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<SQLiteConnection> {
        SQLiteConnection.open(storage: .file(path: self.path), threadPool: self.threadPool, logger: logger, on: eventLoop)
            .flatMap { connection in
                var future = eventLoop.makeSucceededVoidFuture()
                for pragma in Self.pragmas {
                    future = future.flatMap { connection.query(pragma, []).map { _ in } }
                }
                return future.map { connection }.flatMapErrorThrowing { error in
                    _ = connection.close()
                    throw error
                }
            }
    }
}
