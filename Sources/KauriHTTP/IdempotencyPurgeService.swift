import KauriCore
import KauriDatabase
import Logging
import ServiceLifecycle

/// A background service that deletes idempotency keys older than the retention, every `interval`.
///
/// Each pass deletes in batches of `batchSize` rows, one short transaction each, until a batch comes back short,
/// so a backlog drains without holding a long write lock. A graceful shutdown ends the wait between passes.
public struct IdempotencyPurgeService: Service {
    /// How often a pass runs by default.
    public static let intervalDefault: Duration = .seconds(600)
    /// The most rows one batch deletes by default.
    public static let batchSizeDefault = 1_000

    /// The table purged.
    let store: IdempotencyStore
    /// The source of "now" for the age of a key.
    let clock: any WallClock
    /// How old a key must be to be deleted.
    let retention: Duration
    /// The wait between passes.
    let interval: Duration
    /// The most rows one transaction deletes.
    let batchSize: Int
    /// Where passes and failures are reported.
    let logger: Logger

    /// Purges the keys of `database` that are at least `retention` old (the middleware's retention).
    public init(
        database: Database,
        clock: any WallClock,
        retention: Duration = IdempotencyMiddleware.Configuration.retentionDefault,
        interval: Duration = Self.intervalDefault,
        batchSize: Int = Self.batchSizeDefault,
        logger: Logger
    ) {
        precondition(interval > .zero, "the purge interval is positive")
        precondition(batchSize > 0, "a purge batch deletes at least one row")
        self.store = IdempotencyStore(database: database)
        self.clock = clock
        self.retention = retention
        self.interval = interval
        self.batchSize = batchSize
        self.logger = logger
    }

    /// Runs passes until cancelled or shut down gracefully.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let deleted = try await self.purgeOnce()
                if deleted > 0 {
                    self.logger.info("idempotency keys purged", metadata: ["idempotency.purged": "\(deleted)"])
                }
            } catch {
                self.logger.warning("idempotency purge failed; retrying next interval", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: self.interval)
            }
        }
    }

    /// Deletes every key at least the retention old, batch by batch; returns how many were deleted.
    @discardableResult
    public func purgeOnce() async throws -> Int {
        var total = 0
        while true {
            let deleted = try await self.store.purge(
                now: self.clock.now(), retention: self.retention, limit: self.batchSize)
            total += deleted
            if deleted < self.batchSize { return total }
        }
    }
}
