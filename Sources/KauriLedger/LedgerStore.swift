import KauriCore
import KauriDatabase
import SQLKit

/// The ledger's SQL: loads the state a batch needs, writes what the engine decided, and answers reads.
///
/// Every function takes the connection it runs on, so callers choose the transaction.
enum LedgerStore {
    static let accountColumns =
        "id, currency, code, owner_reference, flags, debits_pending, debits_posted, credits_pending, credits_posted, "
        + "version, created_at"
    static let transferColumns =
        "sequence, id, debit_account_id, credit_account_id, amount, currency, code, reference, kind, pending_id, "
        + "expires_at, timestamp"

    // MARK: Batches

    /// Applies linked chains in the transaction of `connection`: loads and locks what they touch, lets the
    /// engine decide, writes the outcome. Returns one result per request, chain by chain.
    ///
    /// With `lookUpIDs` false the batch assumes its ids are new and skips reading them: if one exists, the INSERT
    /// fails on the unique key, the transaction rolls back, and the caller retries with `lookUpIDs` true. Only a
    /// caller that can retry the whole transaction may pass false.
    static func apply(
        _ chains: [[NewTransfer]], now: Timestamp, kind: Database.Kind, lookUpIDs: Bool = true,
        on connection: any SQLDatabase
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
        let pendings = try await Self.transfers(ids: pendingIDs, kind: kind, on: connection)
        for pending in pendings.values {
            accountIDs.insert(pending.debitAccountID.rawValue)
            accountIDs.insert(pending.creditAccountID.rawValue)
        }
        let accounts = try await Self.accounts(ids: accountIDs, lock: true, kind: kind, on: connection)
        // Read after the locks: a concurrent batch touching these accounts has committed or not started.
        var transfers = lookUpIDs ? try await Self.transfers(ids: transferIDs, kind: kind, on: connection) : [:]
        transfers.merge(pendings) { current, _ in current }
        let resolutions = try await Self.resolutions(pendingIDs: pendingIDs, kind: kind, on: connection)

        var engine = LedgerEngine(accounts: accounts, transfers: transfers, resolutions: resolutions, now: now)
        var results = chains.map { engine.apply(chain: $0) }
        if !lookUpIDs && results.contains(where: { $0.contains { $0.error != nil } }) {
            // A failure may hide a replay (an existing id must answer `exists`, not `exceeds_credits`): look the
            // ids up now, before anything is written, and decide again if any exists.
            let existing = try await Self.transfers(ids: transferIDs, kind: kind, on: connection)
            if !existing.isEmpty {
                transfers.merge(existing) { current, _ in current }
                engine = LedgerEngine(accounts: accounts, transfers: transfers, resolutions: resolutions, now: now)
                results = chains.map { engine.apply(chain: $0) }
            }
        }
        try await Self.write(engine, kind: kind, on: connection)
        return results
    }

    private static func write(_ engine: LedgerEngine, kind: Database.Kind, on connection: any SQLDatabase) async throws
    {
        // One statement per table, whatever the batch size: PostgreSQL gets one array per column (`unnest`),
        // SQLite one JSON document (`jsonb_each`, so each row stays binary JSON and `->>` reads it without
        // re-parsing), instead of thousands of individually encoded binds.
        if !engine.created.isEmpty {
            let transfers = engine.created
            let query: SQLQueryString
            switch kind {
            case .postgres:
                query = """
                    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, code,
                        reference, kind, pending_id, expires_at, timestamp)
                    SELECT id, debit, credit, amount, currency, code, NULLIF(reference, ''), kind,
                        NULLIF(pending_id, ''), NULLIF(expires_at, -1), timestamp
                    FROM unnest(\(bind: transfers.map(\.id.rawValue)),
                        \(bind: transfers.map(\.debitAccountID.rawValue)),
                        \(bind: transfers.map(\.creditAccountID.rawValue)), \(bind: transfers.map(\.amount.minorUnits)),
                        \(bind: transfers.map(\.amount.currency.code)), \(bind: transfers.map(\.code)),
                        \(bind: transfers.map { $0.reference ?? "" }), \(bind: transfers.map(\.kind.rawValue)),
                        \(bind: transfers.map { $0.pendingID?.rawValue ?? "" }),
                        \(bind: transfers.map { $0.expiresAt.map { Int64($0.unixMilliseconds) } ?? -1 }),
                        \(bind: transfers.map { Int64($0.timestamp.unixMilliseconds) }))
                        AS t (id, debit, credit, amount, currency, code, reference, kind, pending_id, expires_at,
                            timestamp)
                    """
            case .sqlite:
                var rows = JSONRows(capacity: transfers.count * 160)
                for transfer in transfers {
                    rows.beginRow()
                    rows.add(transfer.id.rawValue)
                    rows.add(transfer.debitAccountID.rawValue)
                    rows.add(transfer.creditAccountID.rawValue)
                    rows.add(transfer.amount.minorUnits)
                    rows.add(transfer.amount.currency.code)
                    rows.add(transfer.code)
                    rows.add(transfer.reference)
                    rows.add(transfer.kind.rawValue)
                    rows.add(transfer.pendingID?.rawValue)
                    rows.add(transfer.expiresAt.map { Int64($0.unixMilliseconds) })
                    rows.add(Int64(transfer.timestamp.unixMilliseconds))
                    rows.endRow()
                }
                query = """
                    INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, currency, code,
                        reference, kind, pending_id, expires_at, timestamp)
                    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,
                        value ->> 7, value ->> 8, value ->> 9, value ->> 10
                    FROM jsonb_each(\(bind: rows.finish())) ORDER BY key
                    """
            }
            try await connection.raw(query).run()
        }

        let changed = engine.changedAccountIDs.sorted().compactMap { engine.accounts[$0] }
        if !changed.isEmpty {
            let query: SQLQueryString
            switch kind {
            case .postgres:
                query = """
                    UPDATE ledger_accounts AS a SET debits_pending = v.dp, debits_posted = v.dpo,
                        credits_pending = v.cp, credits_posted = v.cpo, version = v.version
                    FROM unnest(\(bind: changed.map(\.id.rawValue)), \(bind: changed.map(\.balances.debitsPending)),
                        \(bind: changed.map(\.balances.debitsPosted)), \(bind: changed.map(\.balances.creditsPending)),
                        \(bind: changed.map(\.balances.creditsPosted)), \(bind: changed.map(\.version)))
                        AS v (id, dp, dpo, cp, cpo, version)
                    WHERE a.id = v.id
                    """
            case .sqlite:
                var rows = JSONRows(capacity: changed.count * 64)
                for account in changed {
                    rows.beginRow()
                    rows.add(account.id.rawValue)
                    rows.add(account.balances.debitsPending)
                    rows.add(account.balances.debitsPosted)
                    rows.add(account.balances.creditsPending)
                    rows.add(account.balances.creditsPosted)
                    rows.add(account.version)
                    rows.endRow()
                }
                query = """
                    UPDATE ledger_accounts SET debits_pending = v.value ->> 1, debits_posted = v.value ->> 2,
                        credits_pending = v.value ->> 3, credits_posted = v.value ->> 4, version = v.value ->> 5
                    FROM jsonb_each(\(bind: rows.finish())) AS v WHERE ledger_accounts.id = v.value ->> 0
                    """
            }
            try await connection.raw(query).run()
        }

        if !engine.history.isEmpty {
            let history = engine.history
            let query: SQLQueryString
            switch kind {
            case .postgres:
                query = """
                    INSERT INTO ledger_account_history (account_id, version, transfer_id, timestamp, debits_pending,
                        debits_posted, credits_pending, credits_posted)
                    SELECT * FROM unnest(\(bind: history.map(\.accountID.rawValue)), \(bind: history.map(\.version)),
                        \(bind: history.map(\.transferID.rawValue)),
                        \(bind: history.map { Int64($0.timestamp.unixMilliseconds) }),
                        \(bind: history.map(\.balances.debitsPending)), \(bind: history.map(\.balances.debitsPosted)),
                        \(bind: history.map(\.balances.creditsPending)), \(bind: history.map(\.balances.creditsPosted)))
                    """
            case .sqlite:
                var rows = JSONRows(capacity: history.count * 96)
                for entry in history {
                    rows.beginRow()
                    rows.add(entry.accountID.rawValue)
                    rows.add(entry.version)
                    rows.add(entry.transferID.rawValue)
                    rows.add(Int64(entry.timestamp.unixMilliseconds))
                    rows.add(entry.balances.debitsPending)
                    rows.add(entry.balances.debitsPosted)
                    rows.add(entry.balances.creditsPending)
                    rows.add(entry.balances.creditsPosted)
                    rows.endRow()
                }
                query = """
                    INSERT INTO ledger_account_history (account_id, version, transfer_id, timestamp, debits_pending,
                        debits_posted, credits_pending, credits_posted)
                    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,
                        value ->> 7
                    FROM jsonb_each(\(bind: rows.finish())) ORDER BY key
                    """
            }
            try await connection.raw(query).run()
        }
    }

    /// `column IN (the given strings)`, as one parameter: a text array on PostgreSQL, a JSON array on SQLite.
    static func membership(_ column: String, _ values: Set<String>, kind: Database.Kind) -> SQLQueryString {
        switch kind {
        case .postgres: "\(unsafeRaw: column) = ANY(\(bind: Array(values)))"
        case .sqlite: "\(unsafeRaw: column) IN (SELECT value FROM json_each(\(bind: JSONRows.strings(values))))"
        }
    }

    // MARK: Loads

    /// Accounts by id; on PostgreSQL `lock` takes row locks in id order, so concurrent batches never deadlock.
    static func accounts(
        ids: Set<String>, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> [LedgerAccount.ID: LedgerAccount] {
        guard !ids.isEmpty else { return [:] }
        let suffix = lock && kind == .postgres ? " ORDER BY id FOR UPDATE" : ""
        let rows = try await connection.raw(
            """
            SELECT \(unsafeRaw: Self.accountColumns) FROM ledger_accounts
            WHERE \(Self.membership("id", ids, kind: kind))\(unsafeRaw: suffix)
            """
        ).all()
        var accounts: [LedgerAccount.ID: LedgerAccount] = [:]
        accounts.reserveCapacity(rows.count)
        for row in rows {
            let account = try Self.account(from: row)
            accounts[account.id] = account
        }
        return accounts
    }

    /// Transfers by id.
    static func transfers(
        ids: Set<String>, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> [LedgerTransfer.ID: LedgerTransfer] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await connection.raw(
            """
            SELECT \(unsafeRaw: Self.transferColumns) FROM ledger_transfers
            WHERE \(Self.membership("id", ids, kind: kind))
            """
        ).all()
        var transfers: [LedgerTransfer.ID: LedgerTransfer] = [:]
        for row in rows {
            let transfer = try Self.transfer(from: row).transfer
            transfers[transfer.id] = transfer
        }
        return transfers
    }

    /// How each of `pendingIDs` was resolved, for those that were.
    static func resolutions(
        pendingIDs: Set<String>, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> [LedgerTransfer.ID: LedgerTransfer.Kind] {
        guard !pendingIDs.isEmpty else { return [:] }
        let rows = try await connection.raw(
            """
            SELECT pending_id, kind FROM ledger_transfers
            WHERE \(Self.membership("pending_id", pendingIDs, kind: kind))
            """
        ).all()
        var resolutions: [LedgerTransfer.ID: LedgerTransfer.Kind] = [:]
        for row in rows {
            let pendingID = try Self.transferID(row.decode(column: "pending_id", as: String.self))
            resolutions[pendingID] = try Self.kind(row.decode(column: "kind", as: String.self))
        }
        return resolutions
    }

    // MARK: Accounts

    /// Inserts the accounts whose ids are free; returns the ids it inserted (an id already taken is skipped,
    /// even by a concurrent transaction that committed first).
    static func insertAccounts(
        _ accounts: [LedgerAccount], on connection: any SQLDatabase
    ) async throws -> Set<String> {
        var inserted = Set<String>()
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
            query += " ON CONFLICT (id) DO NOTHING RETURNING id"
            for row in try await connection.raw(query).all() {
                inserted.insert(try row.decode(column: "id", as: String.self))
            }
        }
        return inserted
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
            WHERE t.kind = 'pending' AND t.expires_at IS NOT NULL
              AND t.expires_at <= \(bind: Int64(now.unixMilliseconds))
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
