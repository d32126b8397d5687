import KauriCore

/// A receiver the operator registered: where to POST, which events, and whether it is taking deliveries.
///
/// The signing secrets are not part of this value: they are returned once, when made, and otherwise stay in the
/// database and the delivery service.
public struct WebhookEndpoint: Sendable, Hashable {
    /// The id type.
    public typealias ID = PrefixedID<WebhookEndpointIDKind>

    /// Whether an endpoint takes deliveries.
    public enum State: String, Sendable, Hashable, Codable {
        /// Deliveries are written and sent.
        case enabled
        /// No new deliveries are written and pending ones were failed (after a 410 Gone).
        case disabled
    }

    /// The id.
    public var id: ID
    /// The http(s) URL deliveries are POSTed to.
    public var url: String
    /// The subscribed event types (`*` for all).
    public var eventTypes: [String]
    /// The operator's note.
    public var description: String?
    /// Enabled or disabled.
    public var state: State
    /// Why it was disabled, when it is.
    public var disabledReason: String?
    /// Until when the rotated-out secret still signs alongside the current one (nil: no rotation under way).
    public var previousSecretExpiresAt: Timestamp?
    /// When it was registered.
    public var createdAt: Timestamp
}

/// One message to one endpoint, and how its delivery went.
public struct WebhookDelivery: Sendable, Hashable {
    /// The id type.
    public typealias ID = PrefixedID<WebhookDeliveryIDKind>

    /// Where a delivery is in its life.
    public enum State: String, Sendable, Hashable, Codable {
        /// Waiting for its (next) attempt.
        case pending
        /// The endpoint answered 2xx.
        case delivered
        /// Given up: the schedule ran out, or the endpoint answered 410 Gone.
        case failed
    }

    /// The id.
    public var id: ID
    /// The receiving endpoint.
    public var endpointID: WebhookEndpoint.ID
    /// The `webhook-id`: the same on every attempt and every endpoint of one emitted event.
    public var messageID: PrefixedID<WebhookMessageIDKind>
    /// The event type.
    public var eventType: String
    /// The exact JSON bytes sent (and signed).
    public var payload: String
    /// The state.
    public var state: State
    /// Attempts started so far.
    public var attempts: Int
    /// When the next attempt is due (meaningful while pending).
    public var nextAttemptAt: Timestamp
    /// When the last attempt started.
    public var lastAttemptAt: Timestamp?
    /// The HTTP status of the last answer, if there was one.
    public var lastStatus: Int?
    /// Why the last attempt failed.
    public var lastError: String?
    /// When the event was emitted.
    public var createdAt: Timestamp
    /// When the row last changed.
    public var updatedAt: Timestamp
}
