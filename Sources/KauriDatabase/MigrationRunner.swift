import KauriCore
import Logging
import SQLKit

/// Applies migrations exactly once each, in order, also when several instances start at the same time.
///
/// Every migration runs in its own transaction that first takes a lock (PostgreSQL: a transaction-scoped
/// advisory lock; SQLite: `BEGIN IMMEDIATE`, the database's single write lock), then re-reads the
/// `kauri_migrations` table, and applies the migration only if it is still missing. A second instance
/// therefore waits for the first and then finds nothing to do.
public struct MigrationRunner: Sendable {
    /// The state of one migration.
    public struct Status: Sendable, Hashable {
        /// The owning module.
        public let module: String
        /// The version.
        public let version: Int
        /// The name.
        public let name: String
        /// When it was applied (RFC 3339), or nil if pending.
        public let appliedAt: String?
    }

    /// First of the two advisory-lock keys; the second is derived from the schema so that separate schemas
    /// (one per test, one per tenant) do not wait for each other.
    static let advisoryLockKey: Int32 = 0x4B41_5552  // "KAUR"

    let database: Database
    let migrations: [Migration]
    let clock: any WallClock
    let logger: Logger

    /// Creates a runner for the migrations of all modules, in dependency order.
    public init(database: Database, migrations: [Migration], clock: any WallClock = SystemClock(), logger: Logger) {
        var seen = Set<String>()
        var lastVersion: [String: Int] = [:]
        for migration in migrations {
            let key = "\(migration.module)/\(migration.version)"
            precondition(seen.insert(key).inserted, "duplicate migration \(key)")
            precondition(
                migration.version == (lastVersion[migration.module] ?? 0) + 1,
                "migrations of \(migration.module) must be numbered 1, 2, 3… in order")
            lastVersion[migration.module] = migration.version
        }
        self.database = database
        self.migrations = migrations
        self.clock = clock
        self.logger = logger
    }

    /// Applies every pending migration and returns the ones this call applied.
    @discardableResult
    public func migrate() async throws -> [Migration] {
        var applied: [Migration] = []
        for migration in self.migrations {
            let didApply = try await self.database.transaction { connection in
                try await self.lock(connection)
                try await Self.createTable(connection)
                let rows = try await connection.raw(
                    """
                    SELECT version FROM kauri_migrations \
                    WHERE module = \(bind: migration.module) AND version = \(bind: migration.version)
                    """
                ).all()
                guard rows.isEmpty else { return false }
                for statement in migration.statements(self.database.kind) {
                    do {
                        try await connection.raw(SQLQueryString(statement)).run()
                    } catch {
                        throw DatabaseError.migrationFailed(
                            module: migration.module, version: migration.version, reason: String(reflecting: error))
                    }
                }
                try await connection.raw(
                    """
                    INSERT INTO kauri_migrations (module, version, name, applied_at) \
                    VALUES (\(bind: migration.module), \(bind: migration.version), \(bind: migration.name), \
                    \(bind: self.clock.now().rfc3339))
                    """
                ).run()
                return true
            }
            if didApply {
                self.logger.info(
                    "migration applied",
                    metadata: ["migration.module": .string(migration.module), "migration.version": "\(migration.version)",
                               "migration.name": .string(migration.name)])
                applied.append(migration)
            }
        }
        return applied
    }

    /// Every known migration with the time it was applied, or nil if pending.
    public func status() async throws -> [Status] {
        let applied: [String: String] = try await self.database.withConnection { connection in
            try await Self.createTableIfAbsent(connection, kind: self.database.kind)
            let rows = try await connection.raw("SELECT module, version, applied_at FROM kauri_migrations").all()
            var applied: [String: String] = [:]
            for row in rows {
                let module = try row.decode(column: "module", as: String.self)
                let version = try row.decode(column: "version", as: Int.self)
                applied["\(module)/\(version)"] = try row.decode(column: "applied_at", as: String.self)
            }
            return applied
        }
        return self.migrations.map {
            Status(module: $0.module, version: $0.version, name: $0.name, appliedAt: applied["\($0.module)/\($0.version)"])
        }
    }

    private func lock(_ connection: any SQLDatabase) async throws {
        switch self.database.kind {
        case .postgres:
            try await connection.raw(
                "SELECT pg_advisory_xact_lock(\(literal: Int(Self.advisoryLockKey)), hashtext(current_schema()))"
            ).run()
        case .sqlite:
            // BEGIN IMMEDIATE already holds SQLite's write lock.
            break
        }
    }

    private static func createTable(_ connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            CREATE TABLE IF NOT EXISTS kauri_migrations (
                module TEXT NOT NULL,
                version INTEGER NOT NULL,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                PRIMARY KEY (module, version)
            )
            """
        ).run()
    }

    /// Creates the bookkeeping table outside a migration transaction, for `status` on a fresh database; on
    /// PostgreSQL it takes the same lock so it cannot race a concurrent `migrate`.
    private static func createTableIfAbsent(_ connection: any SQLDatabase, kind: Database.Kind) async throws {
        switch kind {
        case .postgres:
            try await connection.raw("BEGIN").run()
            do {
                try await connection.raw(
                    "SELECT pg_advisory_xact_lock(\(literal: Int(Self.advisoryLockKey)), hashtext(current_schema()))"
                ).run()
                try await Self.createTable(connection)
                try await connection.raw("COMMIT").run()
            } catch {
                try? await connection.raw("ROLLBACK").run()
                throw error
            }
        case .sqlite:
            try await Self.createTable(connection)
        }
    }
}
