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
    static let amount: Int64 = 10_000
    static let fee: Int64 = 250

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
            try await Self.seed(databases[0], ledger: instances[0].ledger, now: clock.now())
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
            #expect(revenue?.balances.creditsPosted == Self.fee * Int64(Self.escrowCount))
            let report = try await LedgerVerifier.verify(database)
            #expect(report.isValid, "\(report.violations)")
        }
    }

    /// `escrowCount` delivered escrows whose window ended, their money captured into escrow holding.
    static func seed(_ database: Database, ledger: Ledger, now: Timestamp) async throws {
        let clearing = LedgerAccount.ID("gateway_clearing:mpesa:KES")!
        let holding = LedgerAccount.ID("escrow_holding:platform:KES")!
        _ = try await ledger.createAccounts([
            NewAccount(id: clearing, currency: .kes, code: .gatewayClearing, ownerReference: "mpesa"),
            NewAccount(
                id: holding, currency: .kes, code: .escrowHolding, ownerReference: "platform",
                flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: LedgerAccount.ID("platform_revenue:platform:KES")!, currency: .kes, code: .platformRevenue,
                ownerReference: "platform", flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: LedgerAccount.ID("seller_payable:usr_seller:KES")!, currency: .kes, code: .sellerPayable,
                ownerReference: "usr_seller", flags: [.debitsMustNotExceedCredits, .history]),
        ])
        let link = "plink_" + UUIDv7(unixMilliseconds: 1, sequence: 0, random: 1).base32
        try await database.transaction { connection in
            try await connection.raw(
                """
                INSERT INTO payment_links (id, seller_reference, title, price, currency, quantity_sold, status,
                    created_at, updated_at)
                VALUES (\(bind: link), 'usr_seller', 'Basket', \(bind: Self.amount), 'KES', 0, 'active', 0, 0)
                """
            ).run()
        }
        for index in 0..<Self.escrowCount {
            let escrow = "esc_" + UUIDv7(unixMilliseconds: 2, sequence: UInt16(index), random: 7).base32
            let captured = try await ledger.submit(
                NewTransfer(
                    id: LedgerTransfer.ID("pay_\(index).captured")!,
                    operation: .single(
                        debit: clearing, credit: holding, amount: Money(minorUnits: Self.amount, currency: .kes)),
                    code: "payment_captured"))
            #expect(captured.transfer != nil)
            let due = Int64(now.unixMilliseconds) - 1_000 - Int64(index)
            try await database.transaction { connection in
                try await connection.raw(
                    """
                    INSERT INTO escrows (id, link_id, seller_reference, buyer_phone, buyer_name, title, amount, fee,
                        currency, status, payment_id, gateway, release_due_at, created_at, updated_at)
                    VALUES (\(bind: escrow), \(bind: link), 'usr_seller', '+254700000000', 'Amina', 'Basket',
                        \(bind: Self.amount), \(bind: Self.fee), 'KES', 'delivered', \(bind: "pay_\(index)"), 'mpesa',
                        \(bind: due), 0, 0)
                    """
                ).run()
            }
        }
    }
}
