import KauriCore
import KauriDatabase
import KauriTestSupport
@testable import KauriLedger
import Logging
import SQLKit

/// A migrated database with a ledger over it, for one engine.
func withLedger<T>(
    _ kind: Database.Kind,
    clock: ManualClock = ManualClock(Timestamp(unixMilliseconds: 1_790_000_000_000)),
    configuration: Ledger.Configuration = .init(),
    _ body: (Ledger, Database, ManualClock) async throws -> T
) async throws -> T {
    try await TestDatabases.with(kind) { databases in
        let database = databases[0]
        _ = try await MigrationRunner(
            database: database, migrations: PlatformMigrations.all + LedgerMigrations.all,
            logger: TestDatabases.logger
        ).migrate()
        let ledger = Ledger(
            database: database, clock: clock, logger: TestDatabases.logger, configuration: configuration)
        return try await body(ledger, database, clock)
    }
}

func accountID(_ text: String) -> LedgerAccount.ID { LedgerAccount.ID(text)! }
func transferID(_ text: String) -> LedgerTransfer.ID { LedgerTransfer.ID(text)! }

extension Ledger {
    /// Creates accounts and fails the test if any was refused.
    func open(
        _ ids: [String], currency: Currency = .kes, code: LedgerAccount.Code = .sellerPayable,
        flags: LedgerAccount.Flags = []
    ) async throws {
        let results = try await self.createAccounts(
            ids.map { NewAccount(id: accountID($0), currency: currency, code: code, flags: flags) })
        for result in results where result.account == nil {
            throw TestFailure("account refused: \(result)")
        }
    }

    /// A single-phase transfer.
    func move(
        _ id: String, from debit: String, to credit: String, _ amount: Int64, currency: Currency = .kes
    ) async throws -> TransferResult {
        try await self.submit(
            NewTransfer(
                id: transferID(id),
                operation: .single(
                    debit: accountID(debit), credit: accountID(credit),
                    amount: Money(minorUnits: amount, currency: currency)),
                code: "test"))
    }

    /// The four balances of an account.
    func balances(_ id: String) async throws -> LedgerAccount.Balances {
        guard let account = try await self.account(accountID(id)) else { throw TestFailure("no account \(id)") }
        return account.balances
    }
}

/// The number of transfer rows.
func transferCount(_ database: Database) async throws -> Int64 {
    try await database.withConnection { connection in
        try await connection.raw("SELECT COUNT(*) AS n FROM ledger_transfers").first()!.decode(
            column: "n", as: Int64.self)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
