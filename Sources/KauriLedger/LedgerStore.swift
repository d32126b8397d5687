import KauriCore
import KauriDatabase
import SQLKit

/// The ledger's SQL: loads the state a batch needs, writes what the engine decided, and answers reads.
///
/// Every function takes the connection it runs on, so callers choose the transaction.
enum LedgerStore {
    static let accountColumns =
        "id, currency, code, owner_reference, flags, debits_pending, debits_posted, credits_pending, credits_posted, version, created_at"
    static let transferColumns =
        "sequence, id, debit_account_id, credit_account_id, amount, currency, code, reference, kind, pending_id, expires_at, timestamp"

    // MARK: Batches

    /// Applies linked chains in the transaction of `connection`: loads and locks what they touch, lets the
    /// engine decide, writes the outcome. Returns one result per request, chain by chain.
    static func apply(
        _ chains: [[NewTransfer]], now: Timestamp, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> [[TransferResult]] {
        var transferIDs = Set<String>()
        var pendingIDs = Set<String>()
        var accountIDs = Set<String>()
        for chain in chains {
            for request in chain {
                transferIDs.insert(request.id.rawValue)
                switch request.operation {
                case .single(let debit, let credit, _), .pending(let debit, let credit, _, _):
                    accountIDs.insert(debit.rawValue)
                    accountIDs.insert(credit.rawValue)
                case .post(let pendingID, _), .void(let pendingID), .expire(let pendingID):
                    pendingIDs.insert(pendingID.rawValue)
                }
            }
        }
        // Pending transfers are immutable, so reading them before locking is safe; their accounts join the lock set.
        let pendings = try await Self.transfers(ids: pendingIDs, on: connection)
        for pending in pendings.values {
            accountIDs.insert(pending.debitAccountID.rawValue)
            accountIDs.insert(pending.creditAccountID.rawValue)
        }
        let accounts = try await Self.accounts(ids: accountIDs, lock: kind == .postgres, on: connection)
        // Read after the locks: a concurrent batch touching these accounts has committed or not started.
        var transfers = try await Self.transfers(ids: transferIDs, on: connection)
        transfers.merge(pendings) { current, _ in current }
        let resolutions = try await Self.resolutions(pendingIDs: pendingIDs, on: connection)

        var engine = LedgerEngine(accounts: accounts, transfers: transfers, resolutions: resolutions, now: now)
        let results = chains.map { engine.apply(chain: $0) }
        try await Self.write(engine, kind: kind, on: connection)
        return results
    }

    private static func write(_ engine: LedgerEngine, kind: Database.Kind, on connection: any SQLDatabase) async throws {
        for chunk in engine.created.chunked(LedgerLimits.rowsPerStatementMax) {
            var query: SQLQueryString = """
                INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, code,
                    reference, kind, pending_id, expires_at, timestamp) VALUES
                """
            query += chunk.map { transfer -> SQLQueryString in
                let expiresAt = transfer.expiresAt.map { Int64($0.unixMilliseconds) }
                return """
                    (\(bind: transfer.id.rawValue), \(bind: transfer.debitAccountID.rawValue), \
                    \(bind: transfer.creditAccountID.rawValue), \(bind: transfer.amount.minorUnits), \
                    \(bind: transfer.amount.currency.code), \(bind: transfer.code), \(bind: transfer.reference), \
                    \(bind: transfer.kind.rawValue), \(bind: transfer.pendingID?.rawValue), \(bind: expiresAt), \
                    \(bind: Int64(transfer.timestamp.unixMilliseconds)))
                    """
            }.joined(separator: ", ")
            try await connection.raw(query).run()
        }

        let changed = engine.changedAccountIDs.sorted().compactMap { engine.accounts[$0] }
        for chunk in changed.chunked(LedgerLimits.rowsPerStatementMax) {
            let values = chunk.map { account -> SQLQueryString in
                let balances = account.balances
                return """
                    (\(bind: account.id.rawValue), \(bind: balances.debitsPending), \(bind: balances.debitsPosted), \
                    \(bind: balances.creditsPending), \(bind: balances.creditsPosted), \(bind: account.version))
                    """
            }.joined(separator: ", ")
            let query: SQLQueryString
            switch kind {
            case .postgres:
                query = """
                    UPDATE ledger_accounts AS a SET debits_pending = v.dp, debits_posted = v.dpo,
                        credits_pending = v.cp, credits_posted = v.cpo, version = v.version
                    FROM (VALUES \(values)) AS v (id, dp, dpo, cp, cpo, version) WHERE a.id = v.id
                    """
            case .sqlite:
                query = """
                    UPDATE ledger_accounts SET debits_pending = v.column2, debits_posted = v.column3,
                        credits_pending = v.column4, credits_posted = v.column5, version = v.column6
                    FROM (VALUES \(values)) AS v WHERE ledger_accounts.id = v.column1
                    """
            }
            try await connection.raw(query).run()
        }

        for chunk in engine.history.chunked(LedgerLimits.rowsPerStatementMax) {
            var query: SQLQueryString = """
                INSERT INTO ledger_account_history (account_id, version, transfer_id, timestamp, debits_pending,
                    debits_posted, credits_pending, credits_posted) VALUES
                """
            query += chunk.map { entry -> SQLQueryString in
                """
                (\(bind: entry.accountID.rawValue), \(bind: entry.version), \(bind: entry.transferID.rawValue), \
                \(bind: Int64(entry.timestamp.unixMilliseconds)), \(bind: entry.balances.debitsPending), \
                \(bind: entry.balances.debitsPosted), \(bind: entry.balances.creditsPending), \
                \(bind: entry.balances.creditsPosted))
                """
            }.joined(separator: ", ")
            try await connection.raw(query).run()
        }
    }

    // MARK: Loads

    /// Accounts by id; on PostgreSQL `lock` takes row locks in id order, so concurrent batches never deadlock.
    static func accounts(
        ids: Set<String>, lock: Bool, on connection: any SQLDatabase
    ) async throws -> [LedgerAccount.ID: LedgerAccount] {
        var accounts: [LedgerAccount.ID: LedgerAccount] = [:]
        for chunk in ids.sorted().chunked(LedgerLimits.rowsPerStatementMax) {
            let suffix = lock ? " ORDER BY id FOR UPDATE" : ""
            let rows = try await connection.raw(
                "SELECT \(unsafeRaw: Self.accountColumns) FROM ledger_accounts WHERE id IN (\(binds: Array(chunk)))\(unsafeRaw: suffix)"
            ).all()
            for row in rows {
                let account = try Self.account(from: row)
                accounts[account.id] = account
            }
        }
        return accounts
    }

    /// Transfers by id.
    static func transfers(
        ids: Set<String>, on connection: any SQLDatabase
    ) async throws -> [LedgerTransfer.ID: LedgerTransfer] {
        var transfers: [LedgerTransfer.ID: LedgerTransfer] = [:]
        for chunk in Array(ids).chunked(LedgerLimits.rowsPerStatementMax) {
            let rows = try await connection.raw(
                "SELECT \(unsafeRaw: Self.transferColumns) FROM ledger_transfers WHERE id IN (\(binds: Array(chunk)))"
            ).all()
            for row in rows {
                let transfer = try Self.transfer(from: row).transfer
                transfers[transfer.id] = transfer
            }
        }
        return transfers
    }

    /// How each of `pendingIDs` was resolved, for those that were.
    static func resolutions(
        pendingIDs: Set<String>, on connection: any SQLDatabase
    ) async throws -> [LedgerTransfer.ID: LedgerTransfer.Kind] {
        var resolutions: [LedgerTransfer.ID: LedgerTransfer.Kind] = [:]
        for chunk in Array(pendingIDs).chunked(LedgerLimits.rowsPerStatementMax) {
            let rows = try await connection.raw(
                "SELECT pending_id, kind FROM ledger_transfers WHERE pending_id IN (\(binds: Array(chunk)))"
            ).all()
            for row in rows {
                let pendingID = try Self.transferID(row.decode(column: "pending_id", as: String.self))
                let kind = try Self.kind(row.decode(column: "kind", as: String.self))
                resolutions[pendingID] = kind
            }
        }
        return resolutions
    }

    // MARK: Accounts

    /// Inserts accounts that do not exist yet; returns every requested account as stored afterwards.
    static func insertAccounts(
        _ accounts: [LedgerAccount], on connection: any SQLDatabase
    ) async throws {
        for chunk in accounts.chunked(LedgerLimits.rowsPerStatementMax) {
            var query: SQLQueryString = """
                INSERT INTO ledger_accounts (id, currency, code, owner_reference, flags, created_at) VALUES
                """
            query += chunk.map { account -> SQLQueryString in
                """
                (\(bind: account.id.rawValue), \(bind: account.currency.code), \(bind: account.code.rawValue), \
                \(bind: account.ownerReference), \(bind: account.flags.rawValue), \
                \(bind: Int64(account.createdAt.unixMilliseconds)))
                """
            }.joined(separator: ", ")
            query += " ON CONFLICT (id) DO NOTHING"
            try await connection.raw(query).run()
        }
    }

    /// The accounts of an owner, by currency then id.
    static func accounts(ownerReference: String, on connection: any SQLDatabase) async throws -> [LedgerAccount] {
        try await connection.raw(
            """
            SELECT \(unsafeRaw: Self.accountColumns) FROM ledger_accounts
            WHERE owner_reference = \(bind: ownerReference) ORDER BY currency, id
            """
        ).all().map(Self.account(from:))
    }

    // MARK: Transfer pages

    /// Transfers in commit order after `afterSequence`, optionally only those touching `accountID`.
    static func transfers(
        accountID: LedgerAccount.ID?, afterSequence: Int64, limit: Int, on connection: any SQLDatabase
    ) async throws -> [(sequence: Int64, transfer: LedgerTransfer)] {
        let rows: [any SQLRow]
        if let accountID {
            // Two index range scans (debit side, credit side) merged, rather than one OR that scans the table.
            rows = try await connection.raw(
                """
                SELECT \(unsafeRaw: Self.transferColumns) FROM (
                    SELECT \(unsafeRaw: Self.transferColumns) FROM ledger_transfers
                    WHERE debit_account_id = \(bind: accountID.rawValue) AND sequence > \(bind: afterSequence)
                    UNION ALL
                    SELECT \(unsafeRaw: Self.transferColumns) FROM ledger_transfers
                    WHERE credit_account_id = \(bind: accountID.rawValue) AND sequence > \(bind: afterSequence)
                ) AS t ORDER BY sequence LIMIT \(bind: limit)
                """
            ).all()
        } else {
            rows = try await connection.raw(
                """
                SELECT \(unsafeRaw: Self.transferColumns) FROM ledger_transfers
                WHERE sequence > \(bind: afterSequence) ORDER BY sequence LIMIT \(bind: limit)
                """
            ).all()
        }
        return try rows.map(Self.transfer(from:))
    }

    /// The balances of a history account after the last change at or before `time`; nil if none by then.
    static func balances(
        accountID: LedgerAccount.ID, asOf time: Timestamp, on connection: any SQLDatabase
    ) async throws -> LedgerAccount.Balances? {
        let row = try await connection.raw(
            """
            SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_account_history
            WHERE account_id = \(bind: accountID.rawValue) AND timestamp <= \(bind: Int64(time.unixMilliseconds))
            ORDER BY version DESC LIMIT 1
            """
        ).first()
        return try row.map(Self.balances(from:))
    }

    /// Pending transfers whose timeout passed and that nobody resolved, oldest first.
    static func expiredPendingIDs(
        now: Timestamp, limit: Int, on connection: any SQLDatabase
    ) async throws -> [LedgerTransfer.ID] {
        try await connection.raw(
            """
            SELECT t.id FROM ledger_transfers AS t
            WHERE t.kind = 'pending' AND t.expires_at IS NOT NULL AND t.expires_at <= \(bind: Int64(now.unixMilliseconds))
              AND NOT EXISTS (SELECT 1 FROM ledger_transfers AS r WHERE r.pending_id = t.id)
            ORDER BY t.expires_at LIMIT \(bind: limit)
            """
        ).all().map { try Self.transferID($0.decode(column: "id", as: String.self)) }
    }

    // MARK: Rows

    static func account(from row: any SQLRow) throws -> LedgerAccount {
        let id = try row.decode(column: "id", as: String.self)
        guard let accountID = LedgerAccount.ID(id),
            let currency = Currency(code: try row.decode(column: "currency", as: String.self)),
            let code = LedgerAccount.Code(try row.decode(column: "code", as: String.self))
        else { throw LedgerStoreError.corruptRow("ledger_accounts \(id)") }
        return LedgerAccount(
            id: accountID, currency: currency, code: code,
            ownerReference: try row.decode(column: "owner_reference", as: String?.self),
            flags: LedgerAccount.Flags(rawValue: try row.decode(column: "flags", as: Int64.self)),
            balances: try Self.balances(from: row),
            version: try row.decode(column: "version", as: Int64.self),
            createdAt: Timestamp(unixMilliseconds: UInt64(try row.decode(column: "created_at", as: Int64.self))))
    }

    static func balances(from row: any SQLRow) throws -> LedgerAccount.Balances {
        LedgerAccount.Balances(
            debitsPending: try row.decode(column: "debits_pending", as: Int64.self),
            debitsPosted: try row.decode(column: "debits_posted", as: Int64.self),
            creditsPending: try row.decode(column: "credits_pending", as: Int64.self),
            creditsPosted: try row.decode(column: "credits_posted", as: Int64.self))
    }

    static func transfer(from row: any SQLRow) throws -> (sequence: Int64, transfer: LedgerTransfer) {
        let id = try row.decode(column: "id", as: String.self)
        guard let transferID = LedgerTransfer.ID(id),
            let debit = LedgerAccount.ID(try row.decode(column: "debit_account_id", as: String.self)),
            let credit = LedgerAccount.ID(try row.decode(column: "credit_account_id", as: String.self)),
            let currency = Currency(code: try row.decode(column: "currency", as: String.self))
        else { throw LedgerStoreError.corruptRow("ledger_transfers \(id)") }
        let transfer = LedgerTransfer(
            id: transferID, debitAccountID: debit, creditAccountID: credit,
            amount: Money(minorUnits: try row.decode(column: "amount", as: Int64.self), currency: currency),
            code: try row.decode(column: "code", as: String.self),
            reference: try row.decode(column: "reference", as: String?.self),
            kind: try Self.kind(row.decode(column: "kind", as: String.self)),
            pendingID: try row.decode(column: "pending_id", as: String?.self).map(Self.transferID),
            expiresAt: try row.decode(column: "expires_at", as: Int64?.self).map {
                Timestamp(unixMilliseconds: UInt64($0))
            },
            timestamp: Timestamp(unixMilliseconds: UInt64(try row.decode(column: "timestamp", as: Int64.self))))
        return (try row.decode(column: "sequence", as: Int64.self), transfer)
    }

    static func transferID(_ text: String) throws -> LedgerTransfer.ID {
        guard let id = LedgerTransfer.ID(text) else { throw LedgerStoreError.corruptRow("transfer id \(text)") }
        return id
    }

    static func kind(_ text: String) throws -> LedgerTransfer.Kind {
        guard let kind = LedgerTransfer.Kind(rawValue: text) else { throw LedgerStoreError.corruptRow("kind \(text)") }
        return kind
    }
}

/// A stored row that the code cannot read back: a bug or a hand edit, never user input.
enum LedgerStoreError: Error, CustomStringConvertible {
    case corruptRow(String)

    var description: String {
        switch self {
        case .corruptRow(let what): "unreadable ledger row: \(what)"
        }
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: self.count, by: size).map { self[$0..<Swift.min($0 + size, self.count)] }
    }
}
