import KauriCore

/// The pure heart of the ledger: applies linked chains of transfer requests to loaded account state.
///
/// The engine does no I/O. The store loads (and on PostgreSQL locks) every account and transfer a batch can
/// touch, the engine decides every result in memory, and the store writes what the engine produced in the same
/// database transaction. A chain that fails leaves no trace: its balance changes are undone before the next.
struct LedgerEngine {
    /// Accounts the batch may touch, updated as transfers apply.
    private(set) var accounts: [LedgerAccount.ID: LedgerAccount]
    /// Committed transfers the batch refers to (by its own ids and by pending ids), plus those it creates.
    private(set) var transfers: [LedgerTransfer.ID: LedgerTransfer]
    /// How each known pending transfer was resolved, if it was.
    private(set) var resolutions: [LedgerTransfer.ID: LedgerTransfer.Kind]
    /// The commit time given to every transfer of the batch.
    let now: Timestamp

    /// Transfers created, in order.
    private(set) var created: [LedgerTransfer] = []
    /// Balance snapshots for accounts with the `history` flag, in order.
    private(set) var history: [HistoryEntry] = []
    /// Accounts whose balances changed.
    private(set) var changedAccountIDs: Set<LedgerAccount.ID> = []
    /// The state of each account before the current chain first changed it, to undo a failed chain.
    private var chainUndo: [LedgerAccount.ID: (account: LedgerAccount, wasChanged: Bool)] = [:]

    /// One row of an account's balance history.
    struct HistoryEntry: Hashable, Sendable {
        var accountID: LedgerAccount.ID
        var version: Int64
        var transferID: LedgerTransfer.ID
        var timestamp: Timestamp
        var balances: LedgerAccount.Balances
    }

    init(
        accounts: [LedgerAccount.ID: LedgerAccount],
        transfers: [LedgerTransfer.ID: LedgerTransfer],
        resolutions: [LedgerTransfer.ID: LedgerTransfer.Kind],
        now: Timestamp
    ) {
        self.accounts = accounts
        self.transfers = transfers
        self.resolutions = resolutions
        self.now = now
    }

    /// Applies one linked chain atomically: every transfer succeeds (created or exists) or none is applied.
    mutating func apply(chain: [NewTransfer]) -> [TransferResult] {
        let savedCreatedCount = self.created.count
        let savedHistoryCount = self.history.count
        self.chainUndo.removeAll(keepingCapacity: true)
        var results: [TransferResult] = []
        results.reserveCapacity(chain.count)
        for (index, request) in chain.enumerated() {
            let result = self.apply(request)
            if case .failed(let error) = result {
                // Undo the chain: the engine's state returns to what it was before the chain began.
                for transfer in self.created[savedCreatedCount...] {
                    self.transfers[transfer.id] = nil
                    if let pendingID = transfer.pendingID { self.resolutions[pendingID] = nil }
                }
                self.created.removeSubrange(savedCreatedCount...)
                self.history.removeSubrange(savedHistoryCount...)
                for (id, saved) in self.chainUndo {
                    self.accounts[id] = saved.account
                    if !saved.wasChanged { self.changedAccountIDs.remove(id) }
                }
                return chain.indices.map { position in
                    position == index ? .failed(error) : .failed(.linkedEventFailed)
                }
            }
            results.append(result)
        }
        return results
    }

    private mutating func apply(_ request: NewTransfer) -> TransferResult {
        if let error = Self.validate(request) { return .failed(error) }
        if let existing = self.transfers[request.id] {
            return self.compare(request, with: existing)
        }
        switch request.operation {
        case .single(let debit, let credit, let amount):
            return self.move(request, debit: debit, credit: credit, amount: amount, kind: .single, expiresAt: nil)
        case .pending(let debit, let credit, let amount, let timeoutSeconds):
            let expiresAt = timeoutSeconds.map { self.now.adding(milliseconds: UInt64($0) * 1_000) }
            return self.move(
                request, debit: debit, credit: credit, amount: amount, kind: .pending, expiresAt: expiresAt)
        case .post(let pendingID, let amount):
            return self.resolve(request, pendingID: pendingID, kind: .post, postAmount: amount)
        case .void(let pendingID):
            return self.resolve(request, pendingID: pendingID, kind: .void, postAmount: nil)
        case .expire(let pendingID):
            return self.resolve(request, pendingID: pendingID, kind: .expire, postAmount: nil)
        }
    }

    /// Checks what can be checked without state.
    static func validate(_ request: NewTransfer) -> TransferError? {
        let code = request.code.utf8
        guard (1...40).contains(code.count),
            code.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F })
        else { return .codeInvalid }
        if let reference = request.reference, reference.utf8.count > LedgerLimits.referenceLengthMax {
            return .referenceTooLong
        }
        switch request.operation {
        case .single(let debit, let credit, let amount):
            if amount.minorUnits <= 0 { return .amountMustBePositive }
            if debit == credit { return .accountsMustBeDifferent }
        case .pending(let debit, let credit, let amount, let timeoutSeconds):
            if amount.minorUnits <= 0 { return .amountMustBePositive }
            if debit == credit { return .accountsMustBeDifferent }
            if let timeoutSeconds, !(1...LedgerLimits.pendingTimeoutSecondsMax).contains(timeoutSeconds) {
                return .timeoutInvalid
            }
        case .post(_, let amount):
            if let amount, amount <= 0 { return .amountMustBePositive }
        case .void, .expire:
            break
        }
        return nil
    }

    /// An id seen before: the same request answers `exists`, a different one names the first differing field.
    private func compare(_ request: NewTransfer, with existing: LedgerTransfer) -> TransferResult {
        func differ(_ field: TransferError.Field) -> TransferResult { .failed(.existsWithDifferent(field)) }
        switch request.operation {
        case .single(let debit, let credit, let amount), .pending(let debit, let credit, let amount, _):
            let kind: LedgerTransfer.Kind
            if case .single = request.operation { kind = .single } else { kind = .pending }
            if existing.kind != kind { return differ(.kind) }
            if existing.debitAccountID != debit { return differ(.debitAccountID) }
            if existing.creditAccountID != credit { return differ(.creditAccountID) }
            if existing.amount.minorUnits != amount.minorUnits { return differ(.amount) }
            if existing.amount.currency != amount.currency { return differ(.currency) }
            if case .pending(_, _, _, let timeoutSeconds) = request.operation {
                let existingTimeout = existing.expiresAt.map {
                    Int64(($0.unixMilliseconds - existing.timestamp.unixMilliseconds) / 1_000)
                }
                if existingTimeout != timeoutSeconds { return differ(.timeout) }
            }
        case .post(let pendingID, let amount):
            if existing.kind != .post { return differ(.kind) }
            if existing.pendingID != pendingID { return differ(.pendingID) }
            // "All of it" matches the amount the first request posted only if that was the whole pending amount.
            let requested = amount ?? self.transfers[pendingID]?.amount.minorUnits
            if requested != existing.amount.minorUnits { return differ(.amount) }
        case .void(let pendingID):
            if existing.kind != .void { return differ(.kind) }
            if existing.pendingID != pendingID { return differ(.pendingID) }
        case .expire(let pendingID):
            if existing.kind != .expire { return differ(.kind) }
            if existing.pendingID != pendingID { return differ(.pendingID) }
        }
        if existing.code != request.code { return differ(.code) }
        if existing.reference != request.storedReference { return differ(.reference) }
        return .exists(existing)
    }

    private mutating func move(
        _ request: NewTransfer, debit: LedgerAccount.ID, credit: LedgerAccount.ID, amount: Money,
        kind: LedgerTransfer.Kind, expiresAt: Timestamp?
    ) -> TransferResult {
        guard var debitAccount = self.accounts[debit] else { return .failed(.debitAccountNotFound) }
        guard var creditAccount = self.accounts[credit] else { return .failed(.creditAccountNotFound) }
        guard debitAccount.currency == amount.currency, creditAccount.currency == amount.currency else {
            return .failed(.currencyMismatch)
        }
        let value = amount.minorUnits
        let isPending = kind == .pending
        // Limits first (they name the business reason), then overflow.
        if debitAccount.flags.contains(.debitsMustNotExceedCredits) {
            let (debits, overflow) = Self.sum(
                debitAccount.balances.debitsPending, debitAccount.balances.debitsPosted, value)
            if overflow || debits > debitAccount.balances.creditsPosted { return .failed(.exceedsCredits) }
        }
        if creditAccount.flags.contains(.creditsMustNotExceedDebits) {
            let (credits, overflow) = Self.sum(
                creditAccount.balances.creditsPending, creditAccount.balances.creditsPosted, value)
            if overflow || credits > creditAccount.balances.debitsPosted { return .failed(.exceedsDebits) }
        }
        guard
            Self.add(value, to: isPending ? \.debitsPending : \.debitsPosted, of: &debitAccount),
            Self.add(value, to: isPending ? \.creditsPending : \.creditsPosted, of: &creditAccount),
            Self.totalsFit(debitAccount.balances), Self.totalsFit(creditAccount.balances)
        else { return .failed(.overflow) }

        let transfer = LedgerTransfer(
            id: request.id, debitAccountID: debit, creditAccountID: credit, amount: amount, code: request.code,
            reference: request.storedReference, kind: kind, pendingID: nil, expiresAt: expiresAt, timestamp: self.now)
        self.commit(transfer, debitAccount: debitAccount, creditAccount: creditAccount)
        return .created(transfer)
    }

    private mutating func resolve(
        _ request: NewTransfer, pendingID: LedgerTransfer.ID, kind: LedgerTransfer.Kind, postAmount: Int64?
    ) -> TransferResult {
        guard let pending = self.transfers[pendingID] else { return .failed(.pendingTransferNotFound) }
        guard pending.kind == .pending else { return .failed(.pendingTransferNotPending) }
        switch self.resolutions[pendingID] {
        case .post: return .failed(.pendingTransferAlreadyPosted)
        case .void: return .failed(.pendingTransferAlreadyVoided)
        case .expire: return .failed(.pendingTransferExpired)
        case .single, .pending, nil: break
        }
        let hasExpired = pending.expiresAt.map { self.now >= $0 } ?? false
        if kind == .expire {
            guard hasExpired else { return .failed(.pendingTransferNotExpired) }
        } else if hasExpired {
            return .failed(.pendingTransferExpired)
        }
        let reserved = pending.amount.minorUnits
        let posted = kind == .post ? (postAmount ?? reserved) : 0
        if posted > reserved { return .failed(.exceedsPendingTransferAmount) }
        guard var debitAccount = self.accounts[pending.debitAccountID] else { return .failed(.debitAccountNotFound) }
        guard var creditAccount = self.accounts[pending.creditAccountID] else { return .failed(.creditAccountNotFound) }
        // The reservation counted in pending balances; a pending balance below the reservation is a corrupt state.
        precondition(
            debitAccount.balances.debitsPending >= reserved && creditAccount.balances.creditsPending >= reserved,
            "pending balances must cover every open pending transfer")
        debitAccount.balances.debitsPending -= reserved
        creditAccount.balances.creditsPending -= reserved
        guard
            Self.add(posted, to: \.debitsPosted, of: &debitAccount),
            Self.add(posted, to: \.creditsPosted, of: &creditAccount),
            Self.totalsFit(debitAccount.balances), Self.totalsFit(creditAccount.balances)
        else { return .failed(.overflow) }

        let amount = Money(minorUnits: kind == .post ? posted : reserved, currency: pending.amount.currency)
        let transfer = LedgerTransfer(
            id: request.id, debitAccountID: pending.debitAccountID, creditAccountID: pending.creditAccountID,
            amount: amount, code: request.code, reference: request.storedReference, kind: kind, pendingID: pendingID,
            expiresAt: nil, timestamp: self.now)
        self.resolutions[pendingID] = kind
        self.commit(transfer, debitAccount: debitAccount, creditAccount: creditAccount)
        return .created(transfer)
    }

    private mutating func commit(
        _ transfer: LedgerTransfer, debitAccount: LedgerAccount, creditAccount: LedgerAccount
    ) {
        var debitAccount = debitAccount
        var creditAccount = creditAccount
        debitAccount.version += 1
        creditAccount.version += 1
        for id in [debitAccount.id, creditAccount.id] where self.chainUndo[id] == nil {
            if let before = self.accounts[id] {
                self.chainUndo[id] = (before, self.changedAccountIDs.contains(id))
            }
        }
        self.accounts[debitAccount.id] = debitAccount
        self.accounts[creditAccount.id] = creditAccount
        self.changedAccountIDs.insert(debitAccount.id)
        self.changedAccountIDs.insert(creditAccount.id)
        self.transfers[transfer.id] = transfer
        self.created.append(transfer)
        for account in [debitAccount, creditAccount] where account.flags.contains(.history) {
            self.history.append(
                HistoryEntry(
                    accountID: account.id, version: account.version, transferID: transfer.id,
                    timestamp: transfer.timestamp, balances: account.balances))
        }
    }

    private static func sum(_ values: Int64...) -> (Int64, Bool) {
        var total: Int64 = 0
        for value in values {
            let (next, overflow) = total.addingReportingOverflow(value)
            if overflow { return (0, true) }
            total = next
        }
        return (total, false)
    }

    private static func add(
        _ value: Int64, to keyPath: WritableKeyPath<LedgerAccount.Balances, Int64>, of account: inout LedgerAccount
    ) -> Bool {
        let (next, overflow) = account.balances[keyPath: keyPath].addingReportingOverflow(value)
        if overflow { return false }
        account.balances[keyPath: keyPath] = next
        return true
    }

    /// Pending plus posted on each side must also fit, so limits can always be computed.
    private static func totalsFit(_ balances: LedgerAccount.Balances) -> Bool {
        !Self.sum(balances.debitsPending, balances.debitsPosted).1
            && !Self.sum(balances.creditsPending, balances.creditsPosted).1
    }
}
