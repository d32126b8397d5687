import KauriCore
import KauriDatabase
import KauriTestSupport
import SQLKit
import Testing

@Suite("Migrations")
struct MigrationTests {
    static let migrations: [Migration] =
        PlatformMigrations.all + [
            Migration(
                module: "test", version: 1, name: "create_widgets",
                statements: { kind in
                    [
                        "CREATE TABLE widgets (id TEXT PRIMARY KEY, amount BIGINT NOT NULL)",
                        kind == .postgres
                            ? "CREATE INDEX widgets_amount ON widgets (amount)"
                            : "CREATE INDEX widgets_amount ON widgets (amount)",
                    ]
                }),
            Migration(
                module: "test", version: 2, name: "add_widget_name", sql: ["ALTER TABLE widgets ADD COLUMN name TEXT"]),
        ]

    static func appliedCount(_ database: Database) async throws -> Int {
        try await database.withConnection { connection in
            try await connection.raw("SELECT COUNT(*) AS n FROM kauri_migrations").first()!.decode(
                column: "n", as: Int.self)
        }
    }

    @Test("each migration is applied once and recorded; a second run applies nothing", arguments: TestDatabases.kinds)
    func appliedOnce(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { databases in
            let runner = MigrationRunner(
                database: databases[0], migrations: Self.migrations, logger: TestDatabases.logger)
            let first = try await runner.migrate()
            #expect(first.map { "\($0.module)/\($0.version)" } == ["platform/1", "test/1", "test/2"])
            let second = try await runner.migrate()
            #expect(second.isEmpty)
            #expect(try await Self.appliedCount(databases[0]) == 3)
            let status = try await runner.status()
            #expect(status.allSatisfy { $0.appliedAt != nil })
            // The schema is really there: the column added by test/2 accepts a row.
            try await databases[0].transaction { connection in
                try await connection.raw("INSERT INTO widgets (id, amount, name) VALUES ('w1', 5, 'x')").run()
            }
        }
    }

    @Test("status lists pending migrations on a fresh database without applying them", arguments: TestDatabases.kinds)
    func statusPending(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { databases in
            let runner = MigrationRunner(
                database: databases[0], migrations: Self.migrations, logger: TestDatabases.logger)
            let status = try await runner.status()
            #expect(status.count == 3)
            #expect(status.allSatisfy { $0.appliedAt == nil })
            #expect(try await Self.appliedCount(databases[0]) == 0)
        }
    }

    @Test("instances migrating at the same moment apply each migration exactly once", arguments: TestDatabases.kinds)
    func concurrent(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind, instances: 4) { databases in
            let applied = try await withThrowingTaskGroup(of: Int.self) { group in
                for database in databases {
                    group.addTask {
                        try await MigrationRunner(
                            database: database, migrations: Self.migrations, logger: TestDatabases.logger
                        )
                        .migrate().count
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(applied == Self.migrations.count)
            #expect(try await Self.appliedCount(databases[0]) == Self.migrations.count)
        }
    }

    @Test("a failing migration is rolled back whole and not recorded", arguments: TestDatabases.kinds)
    func failingMigrationRollsBack(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { databases in
            let broken =
                PlatformMigrations.all + [
                    Migration(
                        module: "broken", version: 1, name: "half",
                        sql: [
                            "CREATE TABLE half_done (id TEXT PRIMARY KEY)", "THIS IS NOT SQL",
                        ])
                ]
            let runner = MigrationRunner(database: databases[0], migrations: broken, logger: TestDatabases.logger)
            await #expect(throws: DatabaseError.self) { try await runner.migrate() }
            let count = try await Self.appliedCount(databases[0])
            #expect(count == 1)
            // The table created before the failing statement was rolled back with it.
            await #expect(throws: (any Error).self) {
                try await databases[0].withConnection { try await $0.raw("SELECT * FROM half_done").run() }
            }
        }
    }
}

@Suite("Database")
struct DatabaseTests {
    @Test("SQLite runs in WAL mode with synchronous=FULL and foreign keys on")
    func sqlitePragmas() async throws {
        try await TestDatabases.with(.sqlite) { databases in
            try await databases[0].withConnection { connection in
                let journal = try await connection.raw("PRAGMA journal_mode").first()!.decode(
                    column: "journal_mode", as: String.self)
                let synchronous = try await connection.raw("PRAGMA synchronous").first()!.decode(
                    column: "synchronous", as: Int.self)
                let foreignKeys = try await connection.raw("PRAGMA foreign_keys").first()!.decode(
                    column: "foreign_keys", as: Int.self)
                #expect(journal == "wal")
                #expect(synchronous == 2)
                #expect(foreignKeys == 1)
            }
        }
    }

    @Test(
        "a transaction that throws leaves nothing behind; one that returns is committed", arguments: TestDatabases.kinds
    )
    func transactionAtomicity(kind: Database.Kind) async throws {
        struct Boom: Error {}
        try await TestDatabases.with(kind) { databases in
            let database = databases[0]
            try await database.transaction { try await $0.raw("CREATE TABLE t (id INTEGER PRIMARY KEY)").run() }
            await #expect(throws: Boom.self) {
                try await database.transaction { connection in
                    try await connection.raw("INSERT INTO t (id) VALUES (1)").run()
                    throw Boom()
                }
            }
            try await database.transaction { try await $0.raw("INSERT INTO t (id) VALUES (2)").run() }
            let ids = try await database.withConnection { connection in
                try await connection.raw("SELECT id FROM t ORDER BY id").all().map {
                    try $0.decode(column: "id", as: Int.self)
                }
            }
            #expect(ids == [2])
        }
    }

    @Test("concurrent SQLite write transactions are serialised, none lost", arguments: TestDatabases.kinds)
    func concurrentWrites(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind) { databases in
            let database = databases[0]
            try await database.transaction {
                try await $0.raw("CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)").run()
            }
            try await database.transaction { try await $0.raw("INSERT INTO counter (id, n) VALUES (1, 0)").run() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // 10 writers × 5 increments: concurrent enough to race, without queueing past the pool's
                // connection-request timeout when the whole suite loads the machine.
                for _ in 0..<10 {
                    group.addTask {
                        for _ in 0..<5 {
                            try await database.transaction { connection in
                                let n = try await connection.raw(
                                    "SELECT n FROM counter WHERE id = 1 \(unsafeRaw: kind == .postgres ? "FOR UPDATE" : "")"
                                )
                                .first()!.decode(column: "n", as: Int.self)
                                try await connection.raw("UPDATE counter SET n = \(bind: n + 1) WHERE id = 1").run()
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let n = try await database.withConnection {
                try await $0.raw("SELECT n FROM counter WHERE id = 1").first()!.decode(column: "n", as: Int.self)
            }
            #expect(n == 50)
        }
    }

    /// SQLite's group commit: concurrent write transactions share commits, yet each keeps its own outcome.
    @Test("batched SQLite transactions: the ones that throw leave nothing, the others commit and get their values")
    func batchedWrites() async throws {
        struct Refused: Error {}
        try await TestDatabases.with(.sqlite) { databases in
            let database = databases[0]
            try await database.transaction { try await $0.raw("CREATE TABLE items (id INTEGER PRIMARY KEY)").run() }
            let outcomes = try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
                for index in 0..<300 {
                    group.addTask {
                        do {
                            let value = try await database.transaction { connection -> Int in
                                try await connection.raw("INSERT INTO items (id) VALUES (\(bind: index))").run()
                                // Every third one fails after writing; a duplicate key fails inside SQLite itself.
                                if index % 3 == 0 { throw Refused() }
                                if index % 10 == 1 {
                                    try await connection.raw("INSERT INTO items (id) VALUES (\(bind: index))").run()
                                }
                                return index * 2
                            }
                            return (index, value)
                        } catch is Refused {
                            return (index, nil)
                        } catch {
                            return (index, -1)
                        }
                    }
                }
                var all: [Int: Int?] = [:]
                for try await (index, value) in group { all[index] = value }
                return all
            }
            let stored = try await database.withConnection { connection in
                try await connection.raw("SELECT id FROM items ORDER BY id").all().map {
                    try $0.decode(column: "id", as: Int.self)
                }
            }
            let expected = (0..<300).filter { $0 % 3 != 0 && $0 % 10 != 1 }
            #expect(stored == expected)
            for index in 0..<300 {
                let outcome = outcomes[index] ?? nil
                if index % 3 == 0 {
                    #expect(outcome == nil, "\(index) threw")
                } else if index % 10 == 1 {
                    #expect(outcome == -1, "\(index) hit the duplicate key")
                } else {
                    #expect(outcome == index * 2, "\(index)")
                }
            }
        }
    }

    @Test(
        "a transaction whose connection drops mid-way fails at once and the next one gets a new connection",
        .enabled(if: TestDatabases.kinds.contains(.postgres)), .timeLimit(.minutes(1)))
    func connectionDroppedInTransaction() async throws {
        try await TestDatabases.with(.postgres) { databases in
            let database = databases[0]
            struct Boom: Error {}
            // The server ends this session mid-transaction (57P01), and the body fails a moment later, once the
            // connection's channel is closed: the ROLLBACK that used to follow was written to that closed channel
            // and never answered, so the transaction never returned.
            await #expect(throws: Boom.self) {
                try await database.transaction { connection in
                    try? await connection.raw("SELECT pg_terminate_backend(pg_backend_pid())").run()
                    try await Task.sleep(for: .milliseconds(200))
                    throw Boom()
                }
            }
            // And when the body's own query is what meets the dropped connection.
            await #expect(throws: DatabaseError.self) {
                try await database.transaction { connection in
                    try await connection.raw("SELECT pg_terminate_backend(pg_backend_pid())").run()
                }
            }
            let one = try await database.transaction { connection in
                try await connection.raw("SELECT 1 AS one").first()!.decode(column: "one", as: Int.self)
            }
            #expect(one == 1)
        }
    }

    @Test("an unreachable PostgreSQL server is reported as unavailable, quickly")
    func unreachablePostgres() async throws {
        let database = try Database(
            .postgres(url: .init("postgres://kauri:secret@127.0.0.1:1/kauri"), poolSize: 1),
            logger: TestDatabases.logger)
        await #expect(throws: DatabaseError.self) { try await database.ping(timeoutMilliseconds: 3_000) }
        await database.shutdown()
    }

    @Test("the database description never shows the password")
    func redaction() {
        let configuration = DatabaseConfiguration.postgres(
            url: .init("postgres://kauri:hunter2@db:5432/kauri"), poolSize: 2)
        #expect(configuration.description == "postgres://kauri:***@db:5432/kauri")
        #expect(!"\(configuration)".contains("hunter2"))
    }
}
