import KauriCore
import KauriDatabase
import Logging
import SQLKit

/// The ledger service: accounts, transfers (single, pending, post, void, expire, linked chains) and reads.
///
/// Every movement of money in Kauri is a transfer committed here. Two ways in:
/// - `submit(_:)`: the ledger commits on its own, batching concurrent requests (group commit) when enabled.
/// - `apply(_:on:)`: inside a caller's transaction, so a module commits its state change and its transfers
///   together.
public final class Ledger: Sendable {
    /// How the ledger commits.
    public struct Configuration: Sendable {
        /// Batch concurrent `submit` calls into shared transactions. Off: one transaction per call.
        public var groupCommit: Bool
        /// Most transfers in one group-commit transaction.
        public var batchTransfersMax: Int
        /// How many times a batch is retried after a write conflict with another server.
        public var conflictRetriesMax: Int

        /// The defaults: group commit on, batches of up to `LedgerLimits.batchTransfersMax`.
        public init(
            groupCommit: Bool = true, batchTransfersMax: Int = LedgerLimits.batchTransfersMax,
            conflictRetriesMax: Int = 3
        ) {
            self.groupCommit = groupCommit
            self.batchTransfersMax = batchTransfersMax
            self.conflictRetriesMax = conflictRetriesMax
        }
    }

    /// The database the ledger lives in.
    public let database: Database
    private let clock: any WallClock
    private let logger: Logger
    private let configuration: Configuration
    private let committer: GroupCommitter?

    /// Creates the service. Migrations (`LedgerMigrations.all`) must have run.
    public init(database: Database, clock: any WallClock, logger: Logger, configuration: Configuration = .init()) {
        self.database = database
        self.clock = clock
        self.logger = logger
        self.configuration = configuration
        if configuration.groupCommit {
            let commit: GroupCommitter.Commit = { [database, clock, configuration] chains in
                try await Self.commit(
                    chains, database: database, clock: clock, retries: configuration.conflictRetriesMax)
            }
            self.committer = GroupCommitter(batchTransfersMax: configuration.batchTransfersMax, commit: commit)
        } else {
            self.committer = nil
        }
    }

    // MARK: Accounts

    /// Creates accounts; each is created, already exists with the same fields, or fails.
    public func createAccounts(_ accounts: [NewAccount]) async throws -> [AccountResult] {
        var results = [AccountResult?](repeating: nil, count: accounts.count)
        var valid: [(Int, NewAccount)] = []
        for (index, account) in accounts.enumerated() {
            if account.flags.isSuperset(of: [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits]) {
                results[index] = .failed(.flagsAreMutuallyExclusive)
            } else if let owner = account.ownerReference, owner.utf8.count > LedgerLimits.idLengthMax {
                results[index] = .failed(.ownerReferenceTooLong)
            } else {
                valid.append((index, account))
            }
        }
        guard !valid.isEmpty else { return results.map { $0! } }
        let now = self.clock.now()
        let requested = valid
        let stored = try await self.database.transaction { connection in
            var seen = Set<LedgerAccount.ID>()
            let fresh = requested.map(\.1).filter { seen.insert($0.id).inserted }.map {
                LedgerAccount(
                    id: $0.id, currency: $0.currency, code: $0.code, ownerReference: $0.ownerReference,
                    flags: $0.flags, createdAt: now)
            }
            let inserted = try await LedgerStore.insertAccounts(fresh, on: connection)
            let accounts = try await LedgerStore.accounts(
                ids: Set(requested.map(\.1.id.rawValue)), lock: false, kind: self.database.kind, on: connection)
            return (inserted, accounts)
        }
        var reported = Set<LedgerAccount.ID>()
        for (index, request) in valid {
            guard let account = stored.1[request.id] else {
                preconditionFailure("an inserted account must read back in its transaction")
            }
            // The first request for a newly inserted id is `created`; any repeat of it in the same call `exists`.
            let isNew = stored.0.contains(request.id.rawValue) && reported.insert(request.id).inserted
            results[index] = Self.compare(request, with: account, existedBefore: !isNew)
        }
        return results.map { $0! }
    }

    /// Creates one account (idempotent by id).
    public func createAccount(_ account: NewAccount) async throws -> AccountResult {
        try await self.createAccounts([account])[0]
    }

    private static func compare(
        _ request: NewAccount, with account: LedgerAccount, existedBefore: Bool
    ) -> AccountResult {
        if account.currency != request.currency { return .failed(.existsWithDifferent(.currency)) }
        if account.code != request.code { return .failed(.existsWithDifferent(.code)) }
        if account.ownerReference != request.ownerReference { return .failed(.existsWithDifferent(.ownerReference)) }
        if account.flags != request.flags { return .failed(.existsWithDifferent(.flags)) }
        return existedBefore ? .exists(account) : .created(account)
    }

    /// One account, or nil.
    public func account(_ id: LedgerAccount.ID) async throws -> LedgerAccount? {
        try await self.database.withConnection { connection in
            try await LedgerStore.accounts(ids: [id.rawValue], lock: false, kind: self.database.kind, on: connection)[
                id]
        }
    }

    /// Several accounts by id (missing ids are absent from the answer).
    public func accounts(_ ids: [LedgerAccount.ID]) async throws -> [LedgerAccount.ID: LedgerAccount] {
        try await self.database.withConnection { connection in
            try await LedgerStore.accounts(
                ids: Set(ids.map(\.rawValue)), lock: false, kind: self.database.kind, on: connection)
        }
    }

    /// Every account of an owner, by currency then id.
    public func accounts(ownerReference: String) async throws -> [LedgerAccount] {
        try await self.database.withConnection { connection in
            try await LedgerStore.accounts(ownerReference: ownerReference, on: connection)
        }
    }

    // MARK: Transfers

    /// Commits one linked chain: every transfer is created (or already exists) or none is.
    ///
    /// With group commit the chain shares a transaction with concurrent submissions; its result is its own.
    public func submit(_ chain: [NewTransfer]) async throws -> [TransferResult] {
        precondition(
            (1...LedgerLimits.chainTransfersMax).contains(chain.count),
            "a chain holds 1...\(LedgerLimits.chainTransfersMax) transfers")
        if let committer = self.committer {
            return try await committer.submit(chain)
        }
        return try await Self.commit(
            [chain], database: self.database, clock: self.clock, retries: self.configuration.conflictRetriesMax)[0]
    }

    /// Commits one transfer.
    public func submit(_ transfer: NewTransfer) async throws -> TransferResult {
        try await self.submit([transfer])[0]
    }

    /// Applies chains inside the caller's transaction (`connection` must be inside `Database.transaction`).
    ///
    /// The caller commits or rolls back; its own rows and the transfers land together or not at all.
    public func apply(_ chains: [[NewTransfer]], on connection: any SQLDatabase) async throws -> [[TransferResult]] {
        try await LedgerStore.apply(chains, now: self.clock.now(), kind: self.database.kind, on: connection)
    }

    private static func commit(
        _ chains: [[NewTransfer]], database: Database, clock: any WallClock, retries: Int
    ) async throws -> [[TransferResult]] {
        // The first attempt assumes the ids are new (the common case) and skips looking them up; a reused id
        // fails the INSERT on the unique key, and the retry looks every id up and answers `exists` or
        // `exists_with_different_<field>`. A retry also covers another server inserting the same id first, or
        // PostgreSQL choosing this transaction as a deadlock victim.
        var attempt = 0
        while true {
            do {
                let lookUpIDs = attempt > 0
                return try await database.transaction { connection in
                    try await LedgerStore.apply(
                        chains, now: clock.now(), kind: database.kind, lookUpIDs: lookUpIDs, on: connection)
                }
            } catch  where DatabaseError.isRetryableConflict(error) && attempt < retries {
                attempt += 1
            }
        }
    }

    /// One transfer, or nil.
    public func transfer(_ id: LedgerTransfer.ID) async throws -> LedgerTransfer? {
        try await self.database.withConnection { connection in
            try await LedgerStore.transfers(ids: [id.rawValue], kind: self.database.kind, on: connection)[id]
        }
    }

    /// Transfers in commit order after position `afterSequence`, all of them or those touching `accountID`.
    /// Returns each with its position, the cursor for the next page.
    public func transfers(
        accountID: LedgerAccount.ID? = nil, afterSequence: Int64 = 0, limit: Int
    ) async throws -> [(sequence: Int64, transfer: LedgerTransfer)] {
        try await self.database.withConnection { connection in
            try await LedgerStore.transfers(
                accountID: accountID, afterSequence: afterSequence, limit: limit, on: connection)
        }
    }

    /// The balances of an account with the `history` flag as they were at `time` (zero before its first transfer).
    public func balances(of accountID: LedgerAccount.ID, asOf time: Timestamp) async throws -> LedgerAccount.Balances? {
        guard let account = try await self.account(accountID) else { return nil }
        return try await self.balances(of: account, asOf: time)
    }

    /// The balances of an already loaded account as they were at `time`; nil unless it has the `history` flag.
    public func balances(of account: LedgerAccount, asOf time: Timestamp) async throws -> LedgerAccount.Balances? {
        guard account.flags.contains(.history) else { return nil }
        return try await self.database.withConnection { connection in
            try await LedgerStore.balances(accountID: account.id, asOf: time, on: connection)
                ?? LedgerAccount.Balances()
        }
    }

    // MARK: Expiry

    /// Voids up to `limit` pending transfers whose timeout has passed; returns how many it expired.
    ///
    /// Each expiry is a transfer with the deterministic id `<pending id>.expired`, so two servers sweeping at
    /// once commit it once (the other gets `exists` or `pending_transfer_expired`).
    public func expirePendingTransfers(limit: Int = LedgerLimits.expirySweepMax) async throws -> Int {
        let now = self.clock.now()
        let expired = try await self.database.withConnection { connection in
            try await LedgerStore.expiredPendingIDs(now: now, limit: limit, on: connection)
        }
        guard !expired.isEmpty else { return 0 }
        let chains = expired.compactMap { pendingID -> [NewTransfer]? in
            guard let id = LedgerTransfer.ID(Self.expiryID(of: pendingID)) else { return nil }
            return [NewTransfer(id: id, operation: .expire(pendingID: pendingID), code: "pending_expired")]
        }
        let results = try await Self.commit(
            chains, database: self.database, clock: self.clock, retries: self.configuration.conflictRetriesMax)
        let count = results.filter { if case .created = $0[0] { true } else { false } }.count
        if count > 0 {
            self.logger.info("expired pending transfers", metadata: ["ledger.expired": "\(count)"])
        }
        return count
    }

    /// The id of the transfer that expires `pendingID`; ids at the length limit get a hashed suffix instead.
    static func expiryID(of pendingID: LedgerTransfer.ID) -> String {
        let id = pendingID.rawValue + ".expired"
        if id.utf8.count <= LedgerLimits.idLengthMax { return id }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in pendingID.rawValue.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return String(pendingID.rawValue.prefix(LedgerLimits.idLengthMax - 25)) + ".expired." + String(hash, radix: 16)
    }
}
