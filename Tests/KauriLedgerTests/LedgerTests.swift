import KauriCore
import KauriDatabase
import KauriTestSupport
@testable import KauriLedger
import SQLKit
import Testing

@Suite("Ledger")
struct LedgerTests {
    @Test(
        "a single transfer moves posted balances and a replay answers exists with the original",
        arguments: TestDatabases.kinds)
    func singleTransferAndReplay(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, clock in
            try await ledger.open(["funding"])
            try await ledger.open(["alice"], flags: .debitsMustNotExceedCredits)
            let first = try await ledger.move("t1", from: "funding", to: "alice", 5_000)
            guard case .created(let original) = first else { throw TestFailure("\(first)") }
            clock.advance(milliseconds: 1_000)
            let replay = try await ledger.move("t1", from: "funding", to: "alice", 5_000)
            #expect(replay == .exists(original))
            #expect(try await ledger.balances("alice") == .init(creditsPosted: 5_000))
            #expect(try await ledger.balances("funding") == .init(debitsPosted: 5_000))
            #expect(try await transferCount(database) == 1)
        }
    }

    @Test(
        "a replay answers exists even when the balance no longer allows the transfer again",
        arguments: TestDatabases.kinds)
    func replayAfterBalanceChanged(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            try await ledger.open(["funding", "sink"])
            try await ledger.open(["wallet"], flags: .debitsMustNotExceedCredits)
            _ = try await ledger.move("fund", from: "funding", to: "wallet", 1_000)
            guard case .created(let original) = try await ledger.move("t1", from: "wallet", to: "sink", 600) else {
                throw TestFailure("t1 not created")
            }
            // A second debit of 600 would exceed the credits; the replay must still be recognised as the original.
            #expect(try await ledger.move("t1", from: "wallet", to: "sink", 600) == .exists(original))
            #expect(
                try await ledger.move("t1", from: "wallet", to: "sink", 601) == .failed(.existsWithDifferent(.amount)))
            // Replays mixed into a batch with new transfers: each gets its own answer.
            async let replay = ledger.move("t1", from: "wallet", to: "sink", 600)
            async let fresh = ledger.move("t2", from: "wallet", to: "sink", 400)
            #expect(try await replay == .exists(original))
            #expect(try await fresh.transfer != nil)
            #expect(try await ledger.balances("wallet") == .init(debitsPosted: 1_000, creditsPosted: 1_000))
            #expect(try await transferCount(database) == 3)
        }
    }

    @Test("the same id with a different field fails with exists_with_different_<field>", arguments: TestDatabases.kinds)
    func existsWithDifferentFields(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            try await ledger.open(["a", "b", "c"])
            try await ledger.open(["n"], currency: .ngn)
            _ = try await ledger.move("t1", from: "a", to: "b", 100)
            let cases: [(TransferResult, TransferError.Field)] = [
                (try await ledger.move("t1", from: "a", to: "b", 101), .amount),
                (try await ledger.move("t1", from: "c", to: "b", 100), .debitAccountID),
                (try await ledger.move("t1", from: "a", to: "c", 100), .creditAccountID),
                (try await ledger.move("t1", from: "a", to: "b", 100, currency: .ngn), .currency),
            ]
            for (result, field) in cases {
                #expect(result == .failed(.existsWithDifferent(field)))
            }
            let otherCode = try await ledger.submit(
                NewTransfer(
                    id: transferID("t1"),
                    operation: .single(
                        debit: accountID("a"), credit: accountID("b"), amount: Money(minorUnits: 100, currency: .kes)),
                    code: "other"))
            #expect(otherCode == .failed(.existsWithDifferent(.code)))
            #expect(try await transferCount(database) == 1)
        }
    }

    @Test("bad input fails with a specific error and writes nothing", arguments: TestDatabases.kinds)
    func badInputWritesNothing(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            try await ledger.open(["funding", "b"])
            try await ledger.open(["limited"], flags: .debitsMustNotExceedCredits)
            try await ledger.open(["naira"], currency: .ngn)
            _ = try await ledger.move("fund", from: "funding", to: "limited", 1_000)
            let before = try await transferCount(database)
            #expect(try await ledger.move("x1", from: "funding", to: "naira", 10) == .failed(.currencyMismatch))
            #expect(try await ledger.move("x2", from: "funding", to: "b", 0) == .failed(.amountMustBePositive))
            #expect(try await ledger.move("x3", from: "funding", to: "b", -5) == .failed(.amountMustBePositive))
            #expect(try await ledger.move("x4", from: "ghost", to: "b", 10) == .failed(.debitAccountNotFound))
            #expect(try await ledger.move("x5", from: "b", to: "ghost", 10) == .failed(.creditAccountNotFound))
            #expect(try await ledger.move("x6", from: "limited", to: "b", 1_001) == .failed(.exceedsCredits))
            #expect(try await ledger.move("x7", from: "b", to: "b", 1) == .failed(.accountsMustBeDifferent))
            #expect(
                try await ledger.move("x8", from: "funding", to: "b", 10, currency: .ngn) == .failed(.currencyMismatch))
            let badCode = try await ledger.submit(
                NewTransfer(
                    id: transferID("x9"),
                    operation: .single(
                        debit: accountID("funding"), credit: accountID("b"),
                        amount: Money(minorUnits: 1, currency: .kes)),
                    code: "Not Valid"))
            #expect(badCode == .failed(.codeInvalid))
            #expect(try await transferCount(database) == before)
            #expect(try await ledger.balances("limited") == .init(creditsPosted: 1_000))
            #expect(try await ledger.balances("b") == .init())
            #expect(try await LedgerVerifier.verify(database).isValid)
        }
    }

    @Test("two-phase: pending reserves, post (partial) resolves once, void releases", arguments: TestDatabases.kinds)
    func twoPhase(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            try await ledger.open(["funding"])
            try await ledger.open(["buyer"], flags: .debitsMustNotExceedCredits)
            try await ledger.open(["escrow"])
            _ = try await ledger.move("fund", from: "funding", to: "buyer", 10_000)
            func pending(_ id: String, _ amount: Int64) async throws -> TransferResult {
                try await ledger.submit(
                    NewTransfer(
                        id: transferID(id),
                        operation: .pending(
                            debit: accountID("buyer"), credit: accountID("escrow"),
                            amount: Money(minorUnits: amount, currency: .kes), timeoutSeconds: nil),
                        code: "hold"))
            }
            func resolve(_ id: String, _ operation: NewTransfer.Operation) async throws -> TransferResult {
                try await ledger.submit(NewTransfer(id: transferID(id), operation: operation, code: "resolve"))
            }
            #expect(try await pending("p1", 6_000).transfer != nil)
            #expect(try await ledger.balances("buyer") == .init(debitsPending: 6_000, creditsPosted: 10_000))
            // The reservation counts against the limit.
            #expect(try await pending("p2", 4_001) == .failed(.exceedsCredits))
            #expect(
                try await resolve("post-big", .post(pendingID: transferID("p1"), amount: 6_001))
                    == .failed(.exceedsPendingTransferAmount))
            let posted = try await resolve("post1", .post(pendingID: transferID("p1"), amount: 2_500))
            #expect(posted.transfer?.amount.minorUnits == 2_500)
            #expect(try await ledger.balances("buyer") == .init(debitsPosted: 2_500, creditsPosted: 10_000))
            #expect(try await ledger.balances("escrow") == .init(creditsPosted: 2_500))
            #expect(
                try await resolve("post2", .post(pendingID: transferID("p1"), amount: nil))
                    == .failed(.pendingTransferAlreadyPosted))
            #expect(
                try await resolve("void1", .void(pendingID: transferID("p1"))) == .failed(.pendingTransferAlreadyPosted)
            )
            #expect(
                try await resolve("post1", .post(pendingID: transferID("p1"), amount: 2_500))
                    == .exists(posted.transfer!))

            #expect(try await pending("p3", 1_000).transfer != nil)
            #expect(try await resolve("void3", .void(pendingID: transferID("p3"))).transfer != nil)
            #expect(
                try await resolve("post3", .post(pendingID: transferID("p3"), amount: nil))
                    == .failed(.pendingTransferAlreadyVoided))
            #expect(
                try await resolve("post4", .post(pendingID: transferID("fund"), amount: nil))
                    == .failed(.pendingTransferNotPending))
            #expect(
                try await resolve("post5", .post(pendingID: transferID("nope"), amount: nil))
                    == .failed(.pendingTransferNotFound))
            #expect(try await ledger.balances("buyer") == .init(debitsPosted: 2_500, creditsPosted: 10_000))
            #expect(try await LedgerVerifier.verify(database).isValid)
        }
    }

    @Test("a linked chain commits all or nothing", arguments: TestDatabases.kinds)
    func linkedChain(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            try await ledger.open(["funding", "seller", "platform"])
            try await ledger.open(["buyer"], flags: .debitsMustNotExceedCredits)
            _ = try await ledger.move("fund", from: "funding", to: "buyer", 1_000)
            func leg(_ id: String, _ credit: String, _ amount: Int64) -> NewTransfer {
                NewTransfer(
                    id: transferID(id),
                    operation: .single(
                        debit: accountID("buyer"), credit: accountID(credit),
                        amount: Money(minorUnits: amount, currency: .kes)),
                    code: "split")
            }
            let failed = try await ledger.submit([leg("s1", "seller", 900), leg("f1", "platform", 101)])
            #expect(failed == [.failed(.linkedEventFailed), .failed(.exceedsCredits)])
            #expect(try await ledger.balances("buyer") == .init(creditsPosted: 1_000))
            #expect(try await ledger.transfer(transferID("s1")) == nil)
            let ok = try await ledger.submit([leg("s2", "seller", 900), leg("f2", "platform", 100)])
            #expect(ok.allSatisfy { $0.transfer != nil })
            #expect(try await ledger.balances("buyer") == .init(debitsPosted: 1_000, creditsPosted: 1_000))
            #expect(try await transferCount(database) == 3)
        }
    }

    @Test(
        "a pending transfer expires by the injected clock and the expiry service releases it",
        arguments: TestDatabases.kinds)
    func expiry(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, clock in
            try await ledger.open(["funding", "escrow"])
            try await ledger.open(["buyer"], flags: .debitsMustNotExceedCredits)
            _ = try await ledger.move("fund", from: "funding", to: "buyer", 1_000)
            let hold = try await ledger.submit(
                NewTransfer(
                    id: transferID("hold"),
                    operation: .pending(
                        debit: accountID("buyer"), credit: accountID("escrow"),
                        amount: Money(minorUnits: 700, currency: .kes), timeoutSeconds: 60),
                    code: "hold"))
            #expect(hold.transfer?.expiresAt == clock.now().adding(milliseconds: 60_000))
            clock.advance(milliseconds: 59_999)
            #expect(try await ledger.expirePendingTransfers() == 0)
            clock.advance(milliseconds: 1)
            let post = try await ledger.submit(
                NewTransfer(
                    id: transferID("late"), operation: .post(pendingID: transferID("hold"), amount: nil),
                    code: "capture"))
            #expect(post == .failed(.pendingTransferExpired))
            #expect(try await ledger.balances("buyer") == .init(debitsPending: 700, creditsPosted: 1_000))
            #expect(try await ledger.expirePendingTransfers() == 1)
            #expect(try await ledger.expirePendingTransfers() == 0)
            #expect(try await ledger.balances("buyer") == .init(creditsPosted: 1_000))
            #expect(try await ledger.transfer(transferID("hold.expired"))?.kind == .expire)
            let void = try await ledger.submit(
                NewTransfer(id: transferID("v"), operation: .void(pendingID: transferID("hold")), code: "void"))
            #expect(void == .failed(.pendingTransferExpired))
            #expect(try await LedgerVerifier.verify(database).isValid)
        }
    }

    @Test("transfers and history refuse UPDATE and DELETE in the database itself", arguments: TestDatabases.kinds)
    func immutability(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            try await ledger.open(["a", "b"])
            try await ledger.open(["h"], flags: .history)
            _ = try await ledger.move("t1", from: "a", to: "h", 10)
            let statements =
                [
                    "UPDATE ledger_transfers SET amount = 1",
                    "DELETE FROM ledger_transfers",
                    "UPDATE ledger_account_history SET credits_posted = 0",
                    "DELETE FROM ledger_account_history",
                ] + (kind == .postgres ? ["TRUNCATE ledger_transfers CASCADE"] : [])
            for statement in statements {
                await #expect(throws: (any Error).self, "\(statement)") {
                    try await database.transaction { try await $0.raw(SQLQueryString(statement)).run() }
                }
            }
            #expect(try await transferCount(database) == 1)
            #expect(try await ledger.transfer(transferID("t1"))?.amount.minorUnits == 10)
        }
    }

    @Test(
        "50 concurrent overdraft attempts on room for one: exactly one succeeds", arguments: TestDatabases.kinds,
        [true, false])
    func concurrentOverdraft(kind: Database.Kind, groupCommit: Bool) async throws {
        try await withLedger(kind, configuration: .init(groupCommit: groupCommit)) { ledger, database, _ in
            try await ledger.open(["funding", "sink"])
            try await ledger.open(["wallet"], flags: .debitsMustNotExceedCredits)
            _ = try await ledger.move("fund", from: "funding", to: "wallet", 1_000)
            let results = try await withThrowingTaskGroup(of: TransferResult.self) { group in
                for attempt in 0..<50 {
                    group.addTask { try await ledger.move("w\(attempt)", from: "wallet", to: "sink", 600) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { $0.transfer != nil }.count == 1)
            #expect(results.filter { $0 == .failed(.exceedsCredits) }.count == 49)
            #expect(try await ledger.balances("wallet") == .init(debitsPosted: 600, creditsPosted: 1_000))
            #expect(try await LedgerVerifier.verify(database).isValid)
        }
    }

    @Test(
        "bank test: concurrent transfers and readers; every snapshot sums to the constant total",
        arguments: TestDatabases.kinds)
    func bank(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            let accounts = (0..<100).map { "acct\($0)" }
            try await ledger.open(["bank"], code: .externalFunding)
            try await ledger.open(accounts, flags: .debitsMustNotExceedCredits)
            for (index, account) in accounts.enumerated() {
                _ = try await ledger.move("fund\(index)", from: "bank", to: account, 10_000)
            }
            let total: Int64 = 1_000_000
            let writers = 16
            let transfersPerWriter = 40
            let acknowledged = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var random = SeededRandom(seed: UInt64(writer + 1))
                        var ok = 0
                        for step in 0..<transfersPerWriter {
                            let from = accounts[Int(random.next() % 100)]
                            var to = accounts[Int(random.next() % 100)]
                            if to == from {
                                to = accounts[(Int(random.next() % 99) + 1 + accounts.firstIndex(of: from)!) % 100]
                            }
                            let amount = Int64(random.next() % 15_000) + 1
                            if case .created = try await ledger.move("w\(writer)-\(step)", from: from, to: to, amount) {
                                ok += 1
                            }
                        }
                        return ok
                    }
                }
                for _ in 0..<4 {
                    group.addTask {
                        for _ in 0..<15 {
                            let (sum, negative) = try await database.snapshot { connection in
                                let rows = try await connection.raw(
                                    """
                                    SELECT credits_posted - debits_posted AS net, debits_pending FROM ledger_accounts
                                    WHERE code = 'seller_payable'
                                    """
                                ).all()
                                var sum: Int64 = 0
                                var negative = false
                                for row in rows {
                                    let net = try row.decode(column: "net", as: Int64.self)
                                    sum += net
                                    if net < 0 { negative = true }
                                }
                                return (sum, negative)
                            }
                            #expect(sum == total)
                            #expect(!negative)
                        }
                        return 0
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(try await transferCount(database) == Int64(100 + acknowledged))
            let report = try await LedgerVerifier.verify(database)
            #expect(report.isValid, "\(report.violations)")
            #expect(acknowledged > 0)
        }
    }

    @Test(
        "kauri ledger verify's checks catch a balance that disagrees with its transfers", arguments: TestDatabases.kinds
    )
    func verifierCatchesCorruption(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, _ in
            try await ledger.open(["a", "b"])
            _ = try await ledger.move("t1", from: "a", to: "b", 10)
            #expect(try await LedgerVerifier.verify(database).summary.hasPrefix("ledger ok: 2 accounts, 1 transfers"))
            try await database.transaction {
                try await $0.raw("UPDATE ledger_accounts SET credits_posted = 11 WHERE id = 'b'").run()
            }
            let report = try await LedgerVerifier.verify(database)
            #expect(!report.isValid)
            #expect(report.violations.contains { $0.contains("KES: posted debits 10 ≠ posted credits 11") })
            #expect(report.violations.contains { $0.contains("account b: credits_posted 11, transfers say 10") })
        }
    }

    @Test("an account with the history flag answers its balances as of a past time", arguments: TestDatabases.kinds)
    func balancesAsOf(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, _, clock in
            try await ledger.open(["a"])
            try await ledger.open(["h"], flags: .history)
            let start = clock.now()
            _ = try await ledger.move("t1", from: "a", to: "h", 100)
            clock.advance(milliseconds: 1_000)
            _ = try await ledger.move("t2", from: "a", to: "h", 50)
            clock.advance(milliseconds: 1_000)
            _ = try await ledger.move("t3", from: "h", to: "a", 30)
            #expect(
                try await ledger.balances(of: accountID("h"), asOf: start.adding(milliseconds: 1_500))
                    == .init(creditsPosted: 150))
            #expect(try await ledger.balances(of: accountID("h"), asOf: start) == .init(creditsPosted: 100))
            #expect(try await ledger.balances(of: accountID("h"), asOf: Timestamp(unixMilliseconds: 1)) == .init())
            #expect(
                try await ledger.balances(of: accountID("h"), asOf: clock.now())
                    == .init(debitsPosted: 30, creditsPosted: 150))
            #expect(try await ledger.balances(of: accountID("a"), asOf: clock.now()) == nil)
        }
    }

    @Test("accounts are idempotent by id and refuse conflicting fields", arguments: TestDatabases.kinds)
    func accountIdempotency(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, _, _ in
            let account = NewAccount.derived(
                code: .sellerPayable, owner: "usr_1", currency: .kes, flags: .debitsMustNotExceedCredits)!
            #expect(account.id.rawValue == "seller_payable:usr_1:KES")
            guard case .created(let created) = try await ledger.createAccount(account) else {
                throw TestFailure("not created")
            }
            #expect(try await ledger.createAccount(account) == .exists(created))
            var other = account
            other.flags = []
            #expect(try await ledger.createAccount(other) == .failed(.existsWithDifferent(.flags)))
            var both = NewAccount(id: accountID("x"), currency: .kes, code: .sellerPayable)
            both.flags = [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits]
            #expect(try await ledger.createAccount(both) == .failed(.flagsAreMutuallyExclusive))
            #expect(try await ledger.accounts(ownerReference: "usr_1").map(\.id) == [account.id])
        }
    }
}
