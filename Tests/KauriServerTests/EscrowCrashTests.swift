import Foundation
import KauriCore
import KauriDatabase
import KauriLedger
import KauriServer
import Logging
import SQLKit
import Testing

/// Settlement under `kill -9`: a `kauri settle --now` process killed mid-pass leaves every escrow either released
/// whole or not at all; the next pass finishes the rest, and the ledger verifies after each step.
@Suite("Escrow settlement crash safety", .serialized)
struct EscrowCrashTests {
    static let escrowCount = 1_500

    @Test("kill -9 during settlement, then settle again: each escrow released exactly once, none half-released")
    func killDuringSettlement() async throws {
        try await CLITests.withDirectory { directory in
            #expect(try CLITests.run(["migrate", "--data-dir", "data"], directory: directory).status == 0)
            let path = directory.appendingPathComponent("data/kauri.sqlite").path
            try await Self.seed(path)

            let (process, _, _) = try CLITests.launch(["settle", "--now", "--data-dir", "data"], directory: directory)
            // Kill it somewhere in the pass: the first batches commit within a few hundred milliseconds.
            var released = 0
            for _ in 0..<400 {
                released = try await Self.count(path, "SELECT COUNT(*) AS n FROM escrows WHERE status = 'completed'")
                if released > 0 || !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(5))
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let afterKill = try await Self.check(path)
            #expect(afterKill < Self.escrowCount, "the kill came before the pass finished (\(afterKill) released)")
            let verified = try CLITests.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(verified.status == 0, "\(verified.output)")

            let again = try CLITests.run(["settle", "--now", "--data-dir", "data"], directory: directory)
            #expect(again.status == 0, "\(again.error)")
            #expect(
                again.output.contains("settled: \(Self.escrowCount - afterKill) escrow(s) released"), "\(again.output)")
            #expect(try await Self.check(path) == Self.escrowCount)
            let final = try CLITests.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(final.status == 0, "\(final.output)")
        }
    }

    /// Checks that every escrow is wholly released or wholly held, and returns how many are released.
    static func check(_ path: String) async throws -> Int {
        let database = try Database(.sqlite(path: path, poolSize: 1), logger: Logger(label: "test"))
        defer { Task { await database.shutdown() } }
        return try await database.withConnection { connection in
            // A completed escrow has its release, its fee and one log entry; any other has none of them.
            let torn = try await connection.raw(
                """
                SELECT e.id, e.status,
                    (SELECT COUNT(*) FROM ledger_transfers t WHERE t.id IN (e.id || '.release', e.id || '.fee')) AS legs,
                    (SELECT COUNT(*) FROM escrow_transitions x WHERE x.escrow_id = e.id AND x.event = 'auto_release')
                        AS logged
                FROM escrows e
                WHERE NOT ((e.status = 'completed' AND legs = 2 AND logged = 1)
                    OR (e.status = 'delivered' AND legs = 0 AND logged = 0))
                """
            ).all()
            #expect(torn.isEmpty, "\(torn.count) escrows half-released")
            let held = try await connection.raw(
                "SELECT debits_posted, credits_posted FROM ledger_accounts WHERE id = 'escrow_holding:platform:KES'"
            ).first()
            let released = try await connection.raw(
                "SELECT COUNT(*) AS n FROM escrows WHERE status = 'completed'"
            ).first()!.decode(column: "n", as: Int.self)
            let credits = try held?.decode(column: "credits_posted", as: Int64.self) ?? 0
            let debits = try held?.decode(column: "debits_posted", as: Int64.self) ?? 0
            #expect(credits - debits == Int64(Self.escrowCount - released) * DueEscrows.amount)
            return released
        }
    }

    static func count(_ path: String, _ sql: String) async throws -> Int {
        let database = try Database(.sqlite(path: path, poolSize: 1), logger: Logger(label: "test"))
        let n = try await database.withConnection { connection in
            try await connection.raw(SQLQueryString(sql)).first()!.decode(column: "n", as: Int.self)
        }
        await database.shutdown()
        return n
    }

    /// `escrowCount` due escrows in the SQLite file at `path`.
    static func seed(_ path: String) async throws {
        let database = try Database(.sqlite(path: path, poolSize: 1), logger: Logger(label: "test"))
        let ledger = Ledger(database: database, clock: SystemClock(), logger: Logger(label: "test"))
        try await DueEscrows.seed(count: Self.escrowCount, database: database, ledger: ledger, now: SystemClock().now())
        await database.shutdown()
    }
}
