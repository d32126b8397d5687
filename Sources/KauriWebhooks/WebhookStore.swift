import Foundation
import KauriCore
import KauriDatabase
import SQLKit

/// The SQL of the webhook tables: endpoints (registration, rotation, enabling) and deliveries (listing, replay).
///
/// The delivery service's claims and outcomes live with the service; `WebhookEvents.emit` writes deliveries.
public struct WebhookStore: Sendable {
    /// What a manual replay did.
    public enum RetryOutcome: Sendable, Hashable {
        /// The delivery is pending again, due now.
        case scheduled(WebhookDelivery)
        /// No such delivery.
        case notFound
        /// Only failed deliveries are replayed; this one is pending or delivered.
        case notFailed(WebhookDelivery.State)
        /// Its endpoint is disabled (or deleted); enable it first.
        case endpointDisabled
    }

    /// Why a registration was refused by the store.
    public enum RegistrationError: Error, Sendable, Hashable {
        /// `WebhookLimits.endpointsMax` endpoints exist already.
        case tooManyEndpoints
    }

    let database: Database
    let ids: IDGenerator
    let clock: any WallClock

    /// A store over `database`.
    public init(database: Database, ids: IDGenerator, clock: any WallClock) {
        self.database = database
        self.ids = ids
        self.clock = clock
    }

    // MARK: Endpoints

    /// Registers an endpoint with a fresh secret, returned here and never again (rotation makes a new one).
    /// The URL must already have passed `WebhookURLGuard`, and the event types `WebhookEventType`'s checks.
    public func createEndpoint(
        url: String, eventTypes: [String], description: String?
    ) async throws -> (endpoint: WebhookEndpoint, secret: Secret<String>) {
        precondition(eventTypes.allSatisfy(WebhookEventType.isValidSubscription), "event types must be validated")
        let id = self.ids.make(WebhookEndpointIDKind.self)
        let secret = WebhookSigner.makeSecret()
        let now = self.clock.now()
        let events = String(decoding: try JSONEncoder().encode(eventTypes), as: UTF8.self)
        try await self.database.transaction { connection in
            let count =
                try await connection.raw("SELECT COUNT(*) AS n FROM webhook_endpoints").first()?
                .decode(column: "n", as: Int.self) ?? 0
            guard count < WebhookLimits.endpointsMax else { throw RegistrationError.tooManyEndpoints }
            try await connection.raw(
                """
                INSERT INTO webhook_endpoints (id, url, events, description, secret, state, created_at, updated_at)
                VALUES (\(bind: id.description), \(bind: url), \(bind: events), \(bind: description),
                    \(bind: secret.value), 'enabled', \(bind: Int64(now.unixMilliseconds)),
                    \(bind: Int64(now.unixMilliseconds)))
                """
            ).run()
        }
        let endpoint = WebhookEndpoint(
            id: id, url: url, eventTypes: eventTypes, description: description, state: .enabled,
            disabledReason: nil, previousSecretExpiresAt: nil, createdAt: now)
        return (endpoint, secret)
    }

    /// One endpoint.
    public func endpoint(_ id: WebhookEndpoint.ID) async throws -> WebhookEndpoint? {
        try await self.database.withConnection { connection in
            try await connection.raw("SELECT * FROM webhook_endpoints WHERE id = \(bind: id.description)").first()
                .map(Self.decodeEndpoint)
        }
    }

    /// Endpoints in registration order, after the endpoint id `after`.
    public func endpoints(after: String?, limit: Int) async throws -> [WebhookEndpoint] {
        try await self.database.withConnection { connection in
            try await connection.raw(
                """
                SELECT * FROM webhook_endpoints WHERE id > \(bind: after ?? "") ORDER BY id LIMIT \(bind: limit)
                """
            ).all().map(Self.decodeEndpoint)
        }
    }

    /// Deletes an endpoint and its deliveries; false if there was none.
    public func deleteEndpoint(_ id: WebhookEndpoint.ID) async throws -> Bool {
        try await self.database.transaction { connection in
            let deleted = try await connection.raw(
                "DELETE FROM webhook_endpoints WHERE id = \(bind: id.description) RETURNING id"
            ).all()
            guard !deleted.isEmpty else { return false }
            try await connection.raw("DELETE FROM webhook_deliveries WHERE endpoint_id = \(bind: id.description)")
                .run()
            return true
        }
    }

    /// Replaces the endpoint's secret with a new one, returned here only. The old secret keeps signing
    /// alongside for `WebhookLimits.previousSecretLifetimeMilliseconds`, so receivers can switch without
    /// refusing a delivery. Nil if there is no such endpoint.
    public func rotateSecret(
        _ id: WebhookEndpoint.ID
    ) async throws -> (endpoint: WebhookEndpoint, secret: Secret<String>)? {
        let secret = WebhookSigner.makeSecret()
        let now = self.clock.now()
        let expiresAt = now.adding(milliseconds: WebhookLimits.previousSecretLifetimeMilliseconds)
        return try await self.database.transaction { connection in
            try await connection.raw(
                """
                UPDATE webhook_endpoints SET previous_secret = secret, secret = \(bind: secret.value),
                    previous_secret_expires_at = \(bind: Int64(expiresAt.unixMilliseconds)),
                    updated_at = \(bind: Int64(now.unixMilliseconds))
                WHERE id = \(bind: id.description)
                RETURNING *
                """
            ).first().map { (try Self.decodeEndpoint($0), secret) }
        }
    }

    /// Enables an endpoint (after a 410 disabled it). Deliveries failed meanwhile stay failed; replay them one
    /// by one. Nil if there is no such endpoint.
    public func enableEndpoint(_ id: WebhookEndpoint.ID) async throws -> WebhookEndpoint? {
        let now = Int64(self.clock.now().unixMilliseconds)
        return try await self.database.transaction { connection in
            try await connection.raw(
                """
                UPDATE webhook_endpoints SET state = 'enabled', disabled_reason = NULL, updated_at = \(bind: now)
                WHERE id = \(bind: id.description)
                RETURNING *
                """
            ).first().map(Self.decodeEndpoint)
        }
    }

    /// Disables an endpoint and fails its pending deliveries, in one transaction.
    func disableEndpoint(_ id: String, reason: String, on connection: any SQLDatabase, now: Int64) async throws {
        try await connection.raw(
            """
            UPDATE webhook_endpoints SET state = 'disabled', disabled_reason = \(bind: reason), updated_at = \(bind: now)
            WHERE id = \(bind: id)
            """
        ).run()
        try await connection.raw(
            """
            UPDATE webhook_deliveries SET state = 'failed', leased_until = 0, updated_at = \(bind: now),
                last_error = \(bind: "endpoint disabled: " + reason)
            WHERE endpoint_id = \(bind: id) AND state = 'pending'
            """
        ).run()
    }

    // MARK: Deliveries

    /// One delivery.
    public func delivery(_ id: WebhookDelivery.ID) async throws -> WebhookDelivery? {
        try await self.database.withConnection { connection in
            try await connection.raw("SELECT * FROM webhook_deliveries WHERE id = \(bind: id.description)").first()
                .map(Self.decodeDelivery)
        }
    }

    /// An endpoint's deliveries, oldest first, after the delivery id `after`.
    public func deliveries(
        endpointID: WebhookEndpoint.ID, after: String?, limit: Int
    ) async throws -> [WebhookDelivery] {
        try await self.database.withConnection { connection in
            try await connection.raw(
                """
                SELECT * FROM webhook_deliveries
                WHERE endpoint_id = \(bind: endpointID.description) AND id > \(bind: after ?? "")
                ORDER BY id LIMIT \(bind: limit)
                """
            ).all().map(Self.decodeDelivery)
        }
    }

    /// Every delivery of one message, one per endpoint it went to.
    public func deliveries(messageID: PrefixedID<WebhookMessageIDKind>) async throws -> [WebhookDelivery] {
        try await self.database.withConnection { connection in
            try await connection.raw(
                "SELECT * FROM webhook_deliveries WHERE message_id = \(bind: messageID.description) ORDER BY id"
            ).all().map(Self.decodeDelivery)
        }
    }

    /// Replays a failed delivery: pending again, due now, with a fresh attempt schedule and the same
    /// `webhook-id`.
    public func retryDelivery(_ id: WebhookDelivery.ID) async throws -> RetryOutcome {
        let now = Int64(self.clock.now().unixMilliseconds)
        return try await self.database.transaction { connection in
            guard
                let delivery = try await connection.raw(
                    "SELECT * FROM webhook_deliveries WHERE id = \(bind: id.description)"
                ).first().map(Self.decodeDelivery)
            else { return .notFound }
            guard delivery.state == .failed else { return .notFailed(delivery.state) }
            let state = try await connection.raw(
                "SELECT state FROM webhook_endpoints WHERE id = \(bind: delivery.endpointID.description)"
            ).first()?.decode(column: "state", as: String.self)
            guard state == WebhookEndpoint.State.enabled.rawValue else { return .endpointDisabled }
            let updated = try await connection.raw(
                """
                UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = \(bind: now),
                    leased_until = 0, updated_at = \(bind: now)
                WHERE id = \(bind: id.description)
                RETURNING *
                """
            ).first().map(Self.decodeDelivery)
            guard let updated else { return .notFound }
            return .scheduled(updated)
        }
    }

    // MARK: Rows

    static func decodeEndpoint(_ row: any SQLRow) throws -> WebhookEndpoint {
        let text = try row.decode(column: "id", as: String.self)
        guard let id = WebhookEndpoint.ID(text) else { throw WebhookRowError.unreadable("endpoint id \(text)") }
        let events = try row.decode(column: "events", as: String.self)
        let state = try row.decode(column: "state", as: String.self)
        guard let eventTypes = try? JSONDecoder().decode([String].self, from: Data(events.utf8)),
            let state = WebhookEndpoint.State(rawValue: state)
        else { throw WebhookRowError.unreadable("endpoint \(text)") }
        return WebhookEndpoint(
            id: id,
            url: try row.decode(column: "url", as: String.self),
            eventTypes: eventTypes,
            description: try row.decode(column: "description", as: String?.self),
            state: state,
            disabledReason: try row.decode(column: "disabled_reason", as: String?.self),
            previousSecretExpiresAt: try Self.timestamp(row, "previous_secret_expires_at"),
            createdAt: try Self.timestamp(row, "created_at") ?? Timestamp(unixMilliseconds: 0))
    }

    static func decodeDelivery(_ row: any SQLRow) throws -> WebhookDelivery {
        let text = try row.decode(column: "id", as: String.self)
        guard let id = WebhookDelivery.ID(text),
            let endpointID = WebhookEndpoint.ID(try row.decode(column: "endpoint_id", as: String.self)),
            let messageID = PrefixedID<WebhookMessageIDKind>(try row.decode(column: "message_id", as: String.self)),
            let state = WebhookDelivery.State(rawValue: try row.decode(column: "state", as: String.self))
        else { throw WebhookRowError.unreadable("delivery \(text)") }
        return WebhookDelivery(
            id: id,
            endpointID: endpointID,
            messageID: messageID,
            eventType: try row.decode(column: "event_type", as: String.self),
            payload: try row.decode(column: "payload", as: String.self),
            state: state,
            attempts: try row.decode(column: "attempts", as: Int.self),
            nextAttemptAt: try Self.timestamp(row, "next_attempt_at") ?? Timestamp(unixMilliseconds: 0),
            lastAttemptAt: try Self.timestamp(row, "last_attempt_at"),
            lastStatus: try row.decode(column: "last_status", as: Int?.self),
            lastError: try row.decode(column: "last_error", as: String?.self),
            createdAt: try Self.timestamp(row, "created_at") ?? Timestamp(unixMilliseconds: 0),
            updatedAt: try Self.timestamp(row, "updated_at") ?? Timestamp(unixMilliseconds: 0))
    }

    static func timestamp(_ row: any SQLRow, _ column: String) throws -> Timestamp? {
        try row.decode(column: column, as: Int64?.self).map { Timestamp(unixMilliseconds: UInt64(max(0, $0))) }
    }
}

/// A stored row that does not decode (a bug or a manual edit).
enum WebhookRowError: Error {
    case unreadable(String)
}
