import Foundation
import KauriCore
import KauriDatabase
import KauriTestSupport
@testable import KauriLedger
import PropertyBased
import Testing

/// Model-based test (reliability.md §7 D.12): random sequences of account creations, single, pending, post,
/// void, expiry, linked chains and replays run against the real ledger and a deliberately simple model in this
/// file. After every step the results and every balance must agree with the model; after each sequence
/// `LedgerVerifier` must find the ledger valid (which recomputes every balance from the journal).
///
/// `KAURI_PROPERTY_SEQUENCES` sets the number of sequences per engine (default 40, 50 operations each).
@Suite("Ledger model")
struct LedgerModelTests {
    static let sequences = ProcessInfo.processInfo.environment["KAURI_PROPERTY_SEQUENCES"].flatMap(Int.init) ?? 40
    static let operationsPerSequence = 50

    @Test("random operation sequences agree with the model and keep every invariant", arguments: TestDatabases.kinds)
    func sequencesAgreeWithModel(kind: Database.Kind) async throws {
        try await withLedger(kind) { ledger, database, clock in
            await propertyCheck(count: Self.sequences, input: Gen.uint64(in: 0...UInt64.max)) { seed in
                do {
                    try await Self.run(seed: seed, ledger: ledger, clock: clock)
                } catch {
                    Issue.record("seed \(seed): \(error)")
                }
            }
            let report = try await LedgerVerifier.verify(database)
            #expect(report.isValid, "\(report.violations)")
        }
    }

    /// One sequence; throws on the first disagreement, naming the step.
    static func run(seed: UInt64, ledger: Ledger, clock: ManualClock) async throws {
        var random = SeededRandom(seed: seed)
        var model = Model()
        let prefix = "s\(seed)-"
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }

        // Accounts: two currencies, a funding account each, and flagged accounts.
        var accountIDs: [String] = []
        func createAccount(_ currency: Currency, _ flags: LedgerAccount.Flags) async throws {
            let id = prefix + "a\(accountIDs.count)"
            let request = NewAccount(id: accountID(id), currency: currency, code: .sellerPayable, flags: flags)
            guard case .created = try await ledger.createAccount(request) else { throw TestFailure("account \(id)") }
            model.accounts[id] = Model.Account(currency: currency, flags: flags)
            accountIDs.append(id)
        }
        for currency in [Currency.kes, .kes, .ngn] {
            try await createAccount(currency, [])
        }
        let flagChoices: [LedgerAccount.Flags] = [
            .debitsMustNotExceedCredits, .debitsMustNotExceedCredits, .creditsMustNotExceedDebits, .history,
            [.debitsMustNotExceedCredits, .history],
        ]
        for _ in 0..<4 {
            try await createAccount(pick([.kes, .kes, .ngn]), pick(flagChoices))
        }

        var history: [NewTransfer] = []
        var transferNumber = 0
        func newID() -> LedgerTransfer.ID {
            transferNumber += 1
            return transferID(prefix + "t\(transferNumber)")
        }
        func randomAccount() -> LedgerAccount.ID {
            chance(3) ? accountID(prefix + "ghost") : accountID(pick(accountIDs))
        }
        func randomMoney(for account: LedgerAccount.ID) -> Money {
            let currency =
                chance(5) ? pick([Currency.kes, .ngn]) : (model.accounts[account.rawValue]?.currency ?? .kes)
            var amount: Int64 = chance(4) ? Int64(random.next() % 3) - 1 : Int64(random.next() % 20_000) + 1
            if chance(20), let balances = model.accounts[account.rawValue]?.balances {
                // Hit the limit's boundary exactly, or one past it.
                amount = max(
                    1,
                    balances.creditsPosted - balances.debitsPosted - balances.debitsPending + Int64(random.next() % 2))
            }
            return Money(minorUnits: amount, currency: currency)
        }
        func singleOrPending(pending: Bool) -> NewTransfer {
            let debit = randomAccount()
            var credit = randomAccount()
            if credit == debit && !chance(10) { credit = accountID(pick(accountIDs)) }
            let amount = randomMoney(for: debit)
            let operation: NewTransfer.Operation =
                pending
                ? .pending(
                    debit: debit, credit: credit, amount: amount,
                    timeoutSeconds: chance(50) ? Int64(random.next() % 100) + 1 : nil)
                : .single(debit: debit, credit: credit, amount: amount)
            return NewTransfer(
                id: newID(), operation: operation, code: pending ? "hold" : "move", reference: chance(30) ? "ref" : nil)
        }
        func knownPending() -> LedgerTransfer.ID {
            let pendings = model.transfers.values.filter { $0.kind == .pending }.map(\.id)
            return pendings.isEmpty || chance(5)
                ? transferID(prefix + "t\(random.next() % 1_000)") : pick(pendings.sorted())
        }

        for step in 0..<Self.operationsPerSequence {
            let roll = random.next() % 100
            var chain: [NewTransfer] = []
            switch roll {
            case 0..<35:
                chain = [singleOrPending(pending: false)]
            case 35..<50:
                chain = [singleOrPending(pending: true)]
            case 50..<63:
                let pendingID = knownPending()
                let reserved = model.transfers[pendingID]?.amount.minorUnits ?? 100
                let amount: Int64? = chance(40) ? nil : Int64(random.next() % UInt64(reserved + reserved / 5 + 1))
                chain = [
                    NewTransfer(id: newID(), operation: .post(pendingID: pendingID, amount: amount), code: "capture")
                ]
            case 63..<72:
                chain = [NewTransfer(id: newID(), operation: .void(pendingID: knownPending()), code: "release")]
            case 72..<82:
                chain = (0..<(2 + Int(random.next() % 2))).map { _ in singleOrPending(pending: chance(30)) }
            case 82..<92:
                guard !history.isEmpty else { continue }
                var replay = pick(history)
                if chance(40), case .single(let debit, let credit, let amount) = replay.operation {
                    replay.operation = .single(
                        debit: debit, credit: credit,
                        amount: Money(minorUnits: amount.minorUnits + 1, currency: amount.currency))
                }
                chain = [replay]
            case 92..<97:
                clock.advance(milliseconds: random.next() % 120_000)
                let expected = model.expire(now: clock.now())
                let expired = try await ledger.expirePendingTransfers()
                guard expired == expected else {
                    throw TestFailure("step \(step): expired \(expired), model \(expected)")
                }
            default:
                try await createAccount(pick([.kes, .ngn]), pick(flagChoices + [[]]))
            }
            if !chain.isEmpty {
                history.append(contentsOf: chain)
                let expected = model.apply(chain, now: clock.now())
                let actual = try await ledger.submit(chain)
                guard actual == expected else {
                    throw TestFailure("step \(step): \(chain)\n  ledger: \(actual)\n  model:  \(expected)")
                }
            }
            let stored = try await ledger.accounts(accountIDs.map(accountID))
            for id in accountIDs where stored[accountID(id)]?.balances != model.accounts[id]?.balances {
                throw TestFailure(
                    "step \(step): \(id) ledger \(String(describing: stored[accountID(id)]?.balances)), "
                        + "model \(String(describing: model.accounts[id]?.balances))"
                )
            }
            clock.advance(milliseconds: random.next() % 3_000)
        }
        // Expire whatever this sequence left with a timeout, so the next sequence's sweeps see only its own.
        clock.advance(milliseconds: 86_400_000)
        let expected = model.expire(now: clock.now())
        let expired = try await ledger.expirePendingTransfers()
        guard expired == expected else { throw TestFailure("final sweep expired \(expired), model \(expected)") }
    }
}

/// The reference model: the ledger's rules written as plainly as possible, with chains undone by copying.
struct Model {
    struct Account {
        var currency: Currency
        var flags: LedgerAccount.Flags
        var balances = LedgerAccount.Balances()
    }

    var accounts: [String: Account] = [:]
    var transfers: [LedgerTransfer.ID: LedgerTransfer] = [:]
    var resolved: [LedgerTransfer.ID: LedgerTransfer.Kind] = [:]

    mutating func apply(_ chain: [NewTransfer], now: Timestamp) -> [TransferResult] {
        var copy = self
        var results: [TransferResult] = []
        for (index, request) in chain.enumerated() {
            let result = copy.apply(request, now: now)
            if case .failed(let error) = result {
                return chain.indices.map { $0 == index ? .failed(error) : .failed(.linkedEventFailed) }
            }
            results.append(result)
        }
        self = copy
        return results
    }

    /// Expires every open pending transfer whose time has come; returns how many.
    mutating func expire(now: Timestamp) -> Int {
        let due = self.transfers.values.filter {
            $0.kind == .pending && self.resolved[$0.id] == nil && ($0.expiresAt.map { $0 <= now } ?? false)
        }
        for pending in due {
            let id = transferID(Ledger.expiryID(of: pending.id))
            _ = self.apply(
                [NewTransfer(id: id, operation: .expire(pendingID: pending.id), code: "pending_expired")], now: now)
        }
        return due.count
    }

    private mutating func apply(_ request: NewTransfer, now: Timestamp) -> TransferResult {
        switch request.operation {
        case .single(let debit, let credit, let amount), .pending(let debit, let credit, let amount, _):
            if amount.minorUnits <= 0 { return .failed(.amountMustBePositive) }
            if debit == credit { return .failed(.accountsMustBeDifferent) }
        case .post(_, let amount):
            if let amount, amount <= 0 { return .failed(.amountMustBePositive) }
        case .void, .expire: break
        }
        if let existing = self.transfers[request.id] {
            return Self.replay(request, existing, pendingAmount: request.pendingAmount(in: self.transfers))
        }
        switch request.operation {
        case .single(let debit, let credit, let amount):
            return self.move(request, debit, credit, amount, pending: false, expiresAt: nil, now: now)
        case .pending(let debit, let credit, let amount, let timeout):
            let expiresAt = timeout.map { now.adding(milliseconds: UInt64($0) * 1_000) }
            return self.move(request, debit, credit, amount, pending: true, expiresAt: expiresAt, now: now)
        case .post(let pendingID, let amount):
            return self.resolve(request, pendingID, .post, amount, now: now)
        case .void(let pendingID):
            return self.resolve(request, pendingID, .void, nil, now: now)
        case .expire(let pendingID):
            return self.resolve(request, pendingID, .expire, nil, now: now)
        }
    }

    private static func replay(
        _ request: NewTransfer, _ existing: LedgerTransfer, pendingAmount: Int64?
    ) -> TransferResult {
        switch request.operation {
        case .single(let debit, let credit, let amount), .pending(let debit, let credit, let amount, _):
            let isPending = if case .pending = request.operation { true } else { false }
            if existing.kind != (isPending ? .pending : .single) { return .failed(.existsWithDifferent(.kind)) }
            if existing.debitAccountID != debit { return .failed(.existsWithDifferent(.debitAccountID)) }
            if existing.creditAccountID != credit { return .failed(.existsWithDifferent(.creditAccountID)) }
            if existing.amount.minorUnits != amount.minorUnits { return .failed(.existsWithDifferent(.amount)) }
            if existing.amount.currency != amount.currency { return .failed(.existsWithDifferent(.currency)) }
            if case .pending(_, _, _, let timeout) = request.operation {
                let stored = existing.expiresAt.map {
                    Int64(($0.unixMilliseconds - existing.timestamp.unixMilliseconds) / 1_000)
                }
                if stored != timeout { return .failed(.existsWithDifferent(.timeout)) }
            }
        case .post(let pendingID, let amount):
            if existing.kind != .post { return .failed(.existsWithDifferent(.kind)) }
            if existing.pendingID != pendingID { return .failed(.existsWithDifferent(.pendingID)) }
            if (amount ?? pendingAmount) != existing.amount.minorUnits { return .failed(.existsWithDifferent(.amount)) }
        case .void(let pendingID), .expire(let pendingID):
            let kind: LedgerTransfer.Kind = if case .void = request.operation { .void } else { .expire }
            if existing.kind != kind { return .failed(.existsWithDifferent(.kind)) }
            if existing.pendingID != pendingID { return .failed(.existsWithDifferent(.pendingID)) }
        }
        if existing.code != request.code { return .failed(.existsWithDifferent(.code)) }
        if existing.reference != request.storedReference { return .failed(.existsWithDifferent(.reference)) }
        return .exists(existing)
    }

    private mutating func move(
        _ request: NewTransfer, _ debit: LedgerAccount.ID, _ credit: LedgerAccount.ID, _ amount: Money,
        pending: Bool, expiresAt: Timestamp?, now: Timestamp
    ) -> TransferResult {
        guard var from = self.accounts[debit.rawValue] else { return .failed(.debitAccountNotFound) }
        guard var to = self.accounts[credit.rawValue] else { return .failed(.creditAccountNotFound) }
        if from.currency != amount.currency || to.currency != amount.currency { return .failed(.currencyMismatch) }
        let value = amount.minorUnits
        if from.flags.contains(.debitsMustNotExceedCredits),
            from.balances.debitsPending + from.balances.debitsPosted + value > from.balances.creditsPosted
        {
            return .failed(.exceedsCredits)
        }
        if to.flags.contains(.creditsMustNotExceedDebits),
            to.balances.creditsPending + to.balances.creditsPosted + value > to.balances.debitsPosted
        {
            return .failed(.exceedsDebits)
        }
        if pending {
            from.balances.debitsPending += value
            to.balances.creditsPending += value
        } else {
            from.balances.debitsPosted += value
            to.balances.creditsPosted += value
        }
        self.accounts[debit.rawValue] = from
        self.accounts[credit.rawValue] = to
        let transfer = LedgerTransfer(
            id: request.id, debitAccountID: debit, creditAccountID: credit, amount: amount, code: request.code,
            reference: request.storedReference, kind: pending ? .pending : .single, pendingID: nil,
            expiresAt: expiresAt,
            timestamp: now)
        self.transfers[request.id] = transfer
        return .created(transfer)
    }

    private mutating func resolve(
        _ request: NewTransfer, _ pendingID: LedgerTransfer.ID, _ kind: LedgerTransfer.Kind, _ amount: Int64?,
        now: Timestamp
    ) -> TransferResult {
        guard let pending = self.transfers[pendingID] else { return .failed(.pendingTransferNotFound) }
        guard pending.kind == .pending else { return .failed(.pendingTransferNotPending) }
        switch self.resolved[pendingID] {
        case .post: return .failed(.pendingTransferAlreadyPosted)
        case .void: return .failed(.pendingTransferAlreadyVoided)
        case .expire: return .failed(.pendingTransferExpired)
        default: break
        }
        let expired = pending.expiresAt.map { now >= $0 } ?? false
        if kind == .expire && !expired { return .failed(.pendingTransferNotExpired) }
        if kind != .expire && expired { return .failed(.pendingTransferExpired) }
        let reserved = pending.amount.minorUnits
        let posted = kind == .post ? (amount ?? reserved) : 0
        if posted > reserved { return .failed(.exceedsPendingTransferAmount) }
        self.accounts[pending.debitAccountID.rawValue]!.balances.debitsPending -= reserved
        self.accounts[pending.debitAccountID.rawValue]!.balances.debitsPosted += posted
        self.accounts[pending.creditAccountID.rawValue]!.balances.creditsPending -= reserved
        self.accounts[pending.creditAccountID.rawValue]!.balances.creditsPosted += posted
        self.resolved[pendingID] = kind
        let transfer = LedgerTransfer(
            id: request.id, debitAccountID: pending.debitAccountID, creditAccountID: pending.creditAccountID,
            amount: Money(minorUnits: kind == .post ? posted : reserved, currency: pending.amount.currency),
            code: request.code, reference: request.storedReference, kind: kind, pendingID: pendingID, expiresAt: nil,
            timestamp: now)
        self.transfers[request.id] = transfer
        return .created(transfer)
    }
}

extension NewTransfer {
    /// For a post request: the amount of the pending transfer it names, if known.
    func pendingAmount(in transfers: [LedgerTransfer.ID: LedgerTransfer]) -> Int64? {
        if case .post(let pendingID, _) = self.operation { return transfers[pendingID]?.amount.minorUnits }
        return nil
    }
}
