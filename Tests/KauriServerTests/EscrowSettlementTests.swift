import Foundation
import KauriCore
import KauriDatabase
import KauriEscrow
import KauriLedger
import KauriServer
import KauriTestSupport
import SQLKit
import Testing

/// Settlement with several instances on one database: every due escrow is released exactly once.
@Suite("Escrow settlement")
struct EscrowSettlementTests {
    static let escrowCount = 120

    @Test("two settlement workers on one database release each due escrow exactly once", arguments: TestDatabases.kinds)
    func twoWorkers(kind: Database.Kind) async throws {
        try await TestDatabases.with(kind, instances: 2) { databases in
            try await MigrationRunner(database: databases[0], migrations: allMigrations, logger: TestDatabases.logger)
                .migrate()
            let clock = ManualClock(SystemClock().now())
            // Two instances of the application, each with its own pool, on the same database.
            let instances = databases.map { database in
                AppDependencies(
                    settings: ServerSettings(), database: database, logger: TestDatabases.logger, clock: clock,
                    bcryptCost: 4, escrowConfiguration: { $0.releaseBatchSize = 7 })
            }
            try await DueEscrows.seed(
                count: Self.escrowCount, database: databases[0], ledger: instances[0].ledger, now: clock.now())
            let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                for instance in instances {
                    group.addTask {
                        var released = 0
                        while true {
                            let count = try await instance.escrows.releaseDue()
                            released += count
                            if count == 0 { break }
                        }
                        return released
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(counts.reduce(0, +) == Self.escrowCount, "\(counts)")
            let database = databases[0]
            let statuses = try await database.withConnection { connection in
                try await connection.raw("SELECT status, COUNT(*) AS n FROM escrows GROUP BY status").all().map {
                    "\(try $0.decode(column: "status", as: String.self))=\(try $0.decode(column: "n", as: Int.self))"
                }
            }
            #expect(statuses == ["completed=\(Self.escrowCount)"])
            let logged = try await database.withConnection { connection in
                try await connection.raw(
                    "SELECT COUNT(*) AS n FROM escrow_transitions WHERE event = 'auto_release'"
                ).first()!.decode(column: "n", as: Int.self)
            }
            #expect(logged == Self.escrowCount)
            let holding = try await instances[0].ledger.account(LedgerAccount.ID("escrow_holding:platform:KES")!)
            #expect(holding.map { $0.balances.creditsPosted - $0.balances.debitsPosted } == 0)
            let revenue = try await instances[0].ledger.account(LedgerAccount.ID("platform_revenue:platform:KES")!)
            #expect(revenue?.balances.creditsPosted == DueEscrows.fee * Int64(Self.escrowCount))
            let report = try await LedgerVerifier.verify(database)
            #expect(report.isValid, "\(report.violations)")
        }
    }
}
