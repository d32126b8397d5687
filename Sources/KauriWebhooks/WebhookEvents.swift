import Foundation
import KauriCore
import KauriDatabase
import SQLKit

/// The API other modules announce events through: `emit` writes one delivery per subscribed endpoint inside the
/// caller's transaction, and `notifyCommitted` wakes `WebhookDeliveryService` after the commit.
///
/// So a rolled-back transaction sends nothing, and a committed one is delivered at least once: the rows are
/// part of the commit, and the delivery service retries them until the endpoint answers 2xx or the schedule
/// runs out.
public struct WebhookEvents: Sendable {
    /// Why `emit` refused an event.
    public enum EmitError: Error, Sendable, Hashable {
        /// The JSON payload is larger than `WebhookLimits.payloadBytesMax`.
        case payloadTooLarge(bytes: Int)
    }

    /// The endpoints and deliveries.
    public let store: WebhookStore
    let ids: IDGenerator
    let clock: any WallClock
    let wake: WakeSignal

    /// Events written to `database`, with ids from `ids` and times from `clock`.
    public init(database: Database, ids: IDGenerator, clock: any WallClock) {
        self.store = WebhookStore(database: database, ids: ids, clock: clock)
        self.ids = ids
        self.clock = clock
        self.wake = WakeSignal()
    }

    /// Writes the event `{"type", "timestamp", "data"}` for every enabled endpoint subscribed to `type` (or to
    /// `*`), on `connection`, which must be inside the caller's transaction. Returns the message id (the
    /// `webhook-id`), or nil when no endpoint is subscribed.
    ///
    /// `type` is a dotted lower-case name (`payment.succeeded`); anything else is a programming error. Give `data`
    /// snake_case coding keys like the rest of the API.
    @discardableResult
    public func emit(
        type: String, data: some Encodable & Sendable, on connection: any SQLDatabase
    ) async throws -> PrefixedID<WebhookMessageIDKind>? {
        try await self.emit(type: type, each: [data], on: connection).first
    }

    /// Writes one event of `type` per element of `data` (each its own message, with its own `webhook-id`), like
    /// `emit(type:data:on:)` but with one look at the endpoints and one INSERT for them all. Returns the message
    /// ids, or none when no endpoint is subscribed.
    @discardableResult
    public func emit<Data: Encodable & Sendable>(
        type: String, each data: [Data], on connection: any SQLDatabase
    ) async throws -> [PrefixedID<WebhookMessageIDKind>] {
        precondition(WebhookEventType.isValid(type), "event type '\(type)' is not a dotted lower-case name")
        guard !data.isEmpty else { return [] }
        // Who listens first: with no endpoint for the type, nothing is encoded or written.
        let endpoints = try await connection.raw(
            "SELECT * FROM webhook_endpoints WHERE state = 'enabled' ORDER BY id"
        ).all().map(WebhookStore.decodeEndpoint).filter { WebhookEventType.matches($0.eventTypes, type) }
        guard !endpoints.isEmpty else { return [] }
        let now = self.clock.now()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let millis = Int64(now.unixMilliseconds)
        var messageIDs: [PrefixedID<WebhookMessageIDKind>] = []
        var rows: [SQLQueryString] = []
        for item in data {
            let payload = try encoder.encode(Envelope(type: type, timestamp: now.rfc3339, data: item))
            guard payload.count <= WebhookLimits.payloadBytesMax else {
                throw EmitError.payloadTooLarge(bytes: payload.count)
            }
            let messageID = self.ids.make(WebhookMessageIDKind.self)
            messageIDs.append(messageID)
            let body = String(decoding: payload, as: UTF8.self)
            for endpoint in endpoints {
                let id = self.ids.make(WebhookDeliveryIDKind.self)
                rows.append(
                    """
                    (\(bind: id.description), \(bind: endpoint.id.description), \(bind: messageID.description),
                        \(bind: type), \(bind: body), 'pending', 0, \(bind: millis), 0, \(bind: millis), \(bind: millis))
                    """)
            }
        }
        // At most `deliveryRowsPerStatement` rows (11 bound values each) per INSERT: SQLite takes 32 766 values.
        for first in stride(from: 0, to: rows.count, by: Self.deliveryRowsPerStatement) {
            let chunk = rows[first..<min(first + Self.deliveryRowsPerStatement, rows.count)]
            try await connection.raw(
                """
                INSERT INTO webhook_deliveries (id, endpoint_id, message_id, event_type, payload, state, attempts,
                    next_attempt_at, leased_until, created_at, updated_at)
                VALUES \(chunk.joined(separator: ", "))
                """
            ).run()
        }
        return messageIDs
    }

    /// The most delivery rows one INSERT writes.
    static let deliveryRowsPerStatement = 1_000

    /// Tells the delivery service that events were committed; call after the emitting transaction commits.
    public func notifyCommitted() {
        self.wake.signal()
    }

    /// The wire form of every event.
    private struct Envelope<Payload: Encodable>: Encodable {
        let type: String
        let timestamp: String
        let data: Payload
    }
}
