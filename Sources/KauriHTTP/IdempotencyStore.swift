import Foundation
import HTTPTypes
import KauriCore
import KauriDatabase
import SQLKit

/// The `idempotency_keys` table: claims, stored responses, take-overs and the purge, in SQL that runs on SQLite
/// and PostgreSQL alike.
///
/// A claim is atomic: `INSERT … ON CONFLICT DO NOTHING` lets exactly one of any number of concurrent requests
/// create the row, and the read that follows tells every request whether it won (the row carries its lease token)
/// or what the winner left there. Completing, releasing and taking over are conditional on the lease token, so a
/// request whose claim was taken over after its lease ran out can no longer change the row.
public struct IdempotencyStore: Sendable {
    /// A request's hold on a key while it runs.
    public struct Lease: Sendable, Hashable {
        /// The caller's scope (owner reference).
        public let scope: String
        /// The idempotency key.
        public let key: String
        /// A random token naming this holder; only it may complete or release the claim.
        public let token: String
        /// Until when other requests must wait rather than take the claim over.
        public let lockedUntil: Timestamp
        /// Whether the claim was taken over from a holder whose lease ran out (the handler may have run before).
        public let isTakeOver: Bool
    }

    /// The response kept for replay.
    public struct StoredResponse: Sendable, Hashable {
        /// The HTTP status code.
        public var status: Int
        /// The headers that are replayed (`Content-Type`, `Location`).
        public var headers: HTTPFields
        /// The body, byte for byte.
        public var body: [UInt8]

        /// Describes a response to store.
        public init(status: Int, headers: HTTPFields, body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// Where a key's first request stands.
    public enum State: Sendable, Hashable {
        /// A request holds the claim until `lockedUntil`.
        case inProgress(lockedUntil: Timestamp, leaseToken: String)
        /// The first request finished; retries get this response.
        case completed(StoredResponse)
    }

    /// One row of `idempotency_keys`.
    public struct Record: Sendable, Hashable {
        /// The caller's scope (owner reference).
        public let scope: String
        /// The idempotency key.
        public let key: String
        /// The fingerprint of the first request (`IdempotencyFingerprint.hex`).
        public let fingerprint: String
        /// The first request's method.
        public let method: String
        /// The first request's path.
        public let path: String
        /// In progress or completed.
        public let state: State
        /// When the key was first claimed.
        public let createdAt: Timestamp
    }

    /// The outcome of `claim`.
    public enum ClaimResult: Sendable, Hashable {
        /// This request created the row and holds it; run the handler.
        case claimed(Lease)
        /// The key was claimed before; decide from the record.
        case existing(Record)
        /// The row kept disappearing between the insert and the read (other requests released or purged it
        /// `claimAttemptsMax` times in a row); retry shortly.
        case contended
    }

    /// How often `claim` tries again when the row it conflicted with is deleted before it can read it.
    public static let claimAttemptsMax = 3

    /// The database holding the table.
    public let database: Database

    /// Creates a store over `database`, whose migrations must include `IdempotencyMigrations.all`.
    public init(database: Database) {
        self.database = database
    }

    /// Claims `key` for `scope`, or returns the row an earlier request left.
    ///
    /// A row at least `retention` old is deleted first, so an expired key is new again even before the purge
    /// reaches it.
    public func claim(
        scope: String, key: String, fingerprint: String, method: String, path: String,
        now: Timestamp, leaseDuration: Duration, retention: Duration
    ) async throws -> ClaimResult {
        let token = UUID().uuidString
        let lockedUntil = now.adding(milliseconds: UInt64(Self.milliseconds(leaseDuration)))
        let cutoff = Int64(now.unixMilliseconds) - Self.milliseconds(retention)
        return try await self.database.transaction { connection in
            try await connection.raw(
                """
                DELETE FROM idempotency_keys
                WHERE scope = \(bind: scope) AND key = \(bind: key) AND created_at <= \(bind: cutoff)
                """
            ).run()
            // On PostgreSQL the row this insert conflicted with can be deleted (released by a failed request,
            // purged) before the read below, which then finds nothing: the key is free again, so insert anew.
            for _ in 0..<Self.claimAttemptsMax {
                try await connection.raw(
                    """
                    INSERT INTO idempotency_keys (scope, key, fingerprint, method, path, state, lease_token,
                        locked_until, created_at)
                    VALUES (\(bind: scope), \(bind: key), \(bind: fingerprint), \(bind: method), \(bind: path),
                        'in_progress', \(bind: token), \(bind: Int64(lockedUntil.unixMilliseconds)),
                        \(bind: Int64(now.unixMilliseconds)))
                    ON CONFLICT (scope, key) DO NOTHING
                    """
                ).run()
                guard let record = try await Self.record(scope: scope, key: key, on: connection) else { continue }
                if case .inProgress(let until, let leaseToken) = record.state, leaseToken == token {
                    return .claimed(Lease(scope: scope, key: key, token: token, lockedUntil: until, isTakeOver: false))
                }
                return .existing(record)
            }
            return .contended
        }
    }

    /// Takes over an in-progress claim whose lease ran out by `now`; nil when it is no longer that claim (another
    /// retry took it over first, or it completed or was released meanwhile) or its lease has not run out.
    public func takeOver(_ record: Record, now: Timestamp, leaseDuration: Duration) async throws -> Lease? {
        guard case .inProgress(_, let previousToken) = record.state else { return nil }
        let token = UUID().uuidString
        let lockedUntil = now.adding(milliseconds: UInt64(Self.milliseconds(leaseDuration)))
        let rows = try await self.database.transaction { connection in
            try await connection.raw(
                """
                UPDATE idempotency_keys
                SET lease_token = \(bind: token), locked_until = \(bind: Int64(lockedUntil.unixMilliseconds))
                WHERE scope = \(bind: record.scope) AND key = \(bind: record.key) AND state = 'in_progress'
                    AND lease_token = \(bind: previousToken)
                    AND locked_until <= \(bind: Int64(now.unixMilliseconds))
                RETURNING key
                """
            ).all()
        }
        guard !rows.isEmpty else { return nil }
        return Lease(scope: record.scope, key: record.key, token: token, lockedUntil: lockedUntil, isTakeOver: true)
    }

    /// Stores the response of the request holding `lease`; false when the lease was lost (taken over), in which
    /// case nothing is written.
    @discardableResult
    public func complete(_ lease: Lease, response: StoredResponse, now: Timestamp) async throws -> Bool {
        let headers = try Self.encode(response.headers)
        let rows = try await self.database.transaction { connection in
            try await connection.raw(
                """
                UPDATE idempotency_keys
                SET state = 'completed', lease_token = NULL, locked_until = NULL,
                    response_status = \(bind: response.status), response_headers = \(bind: headers),
                    response_body = \(bind: Data(response.body)), completed_at = \(bind: Int64(now.unixMilliseconds))
                WHERE scope = \(bind: lease.scope) AND key = \(bind: lease.key) AND state = 'in_progress'
                    AND lease_token = \(bind: lease.token)
                RETURNING key
                """
            ).all()
        }
        return !rows.isEmpty
    }

    /// Deletes the claim held by `lease`, so that a retry runs the handler afresh; false when the lease was lost.
    @discardableResult
    public func release(_ lease: Lease) async throws -> Bool {
        let rows = try await self.database.transaction { connection in
            try await connection.raw(
                """
                DELETE FROM idempotency_keys
                WHERE scope = \(bind: lease.scope) AND key = \(bind: lease.key) AND state = 'in_progress'
                    AND lease_token = \(bind: lease.token)
                RETURNING key
                """
            ).all()
        }
        return !rows.isEmpty
    }

    /// Deletes at most `limit` rows at least `retention` old, oldest first, in one transaction; returns how many.
    public func purge(now: Timestamp, retention: Duration, limit: Int) async throws -> Int {
        precondition(limit > 0, "a purge batch deletes at least one row")
        let cutoff = Int64(now.unixMilliseconds) - Self.milliseconds(retention)
        let rows = try await self.database.transaction { connection in
            try await connection.raw(
                """
                DELETE FROM idempotency_keys
                WHERE (scope, key) IN (
                    SELECT scope, key FROM idempotency_keys
                    WHERE created_at <= \(bind: cutoff)
                    ORDER BY created_at
                    LIMIT \(bind: limit)
                )
                RETURNING key
                """
            ).all()
        }
        return rows.count
    }

    /// The row for (`scope`, `key`), if any.
    public func record(scope: String, key: String) async throws -> Record? {
        try await self.database.withConnection { connection in
            try await Self.record(scope: scope, key: key, on: connection)
        }
    }

    /// Reads the row for (`scope`, `key`) on `connection` (inside the caller's transaction, if any).
    private static func record(scope: String, key: String, on connection: any SQLDatabase) async throws -> Record? {
        guard
            let row = try await connection.raw(
                """
                SELECT scope, key, fingerprint, method, path, state, lease_token, locked_until, response_status,
                    response_headers, response_body, created_at
                FROM idempotency_keys WHERE scope = \(bind: scope) AND key = \(bind: key)
                """
            ).first()
        else { return nil }
        let state: State
        switch try row.decode(column: "state", as: String.self) {
        case "in_progress":
            state = .inProgress(
                lockedUntil: Timestamp(
                    unixMilliseconds: UInt64(try row.decode(column: "locked_until", as: Int64.self))),
                leaseToken: try row.decode(column: "lease_token", as: String.self))
        case "completed":
            // SQLite may hand an empty blob back as NULL.
            let body = try row.decode(column: "response_body", as: Data?.self) ?? Data()
            state = .completed(
                StoredResponse(
                    status: try row.decode(column: "response_status", as: Int.self),
                    headers: try Self.decode(try row.decode(column: "response_headers", as: String?.self)),
                    body: Array(body)))
        case let other:
            preconditionFailure("idempotency_keys.state has a value its CHECK constraint forbids: \(other)")
        }
        return Record(
            scope: try row.decode(column: "scope", as: String.self),
            key: try row.decode(column: "key", as: String.self),
            fingerprint: try row.decode(column: "fingerprint", as: String.self),
            method: try row.decode(column: "method", as: String.self),
            path: try row.decode(column: "path", as: String.self),
            state: state,
            createdAt: Timestamp(unixMilliseconds: UInt64(try row.decode(column: "created_at", as: Int64.self))))
    }

    /// The headers as a JSON array of `[name, value]` pairs, keeping order and repeated fields.
    private static func encode(_ headers: HTTPFields) throws -> String {
        let pairs = headers.map { [$0.name.rawName, $0.value] }
        return String(decoding: try JSONEncoder().encode(pairs), as: UTF8.self)
    }

    /// The headers stored by `encode`; names that are no longer valid field names are dropped.
    private static func decode(_ text: String?) throws -> HTTPFields {
        guard let text else { return [:] }
        let pairs = try JSONDecoder().decode([[String]].self, from: Data(text.utf8))
        var headers = HTTPFields()
        for pair in pairs where pair.count == 2 {
            if let name = HTTPField.Name(pair[0]) { headers.append(HTTPField(name: name, value: pair[1])) }
        }
        return headers
    }

    /// A non-negative duration in whole milliseconds.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let components = duration.components
        precondition(components.seconds >= 0, "idempotency durations are not negative")
        return components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000
    }
}
