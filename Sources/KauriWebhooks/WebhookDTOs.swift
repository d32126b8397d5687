import Hummingbird
import KauriCore
import KauriHTTP

/// `POST /v1/webhook-endpoints`.
struct CreateEndpointRequest: Decodable, Sendable {
    let url: String
    let events: [String]
    let description: String?

    /// The checks that need no network: event types, their count, the description. The URL goes through
    /// `WebhookURLGuard` afterwards.
    func validate() throws(APIError) {
        guard !self.events.isEmpty else {
            throw APIError(
                .webhookEventTypeInvalid, detail: "subscribe to at least one event type, or to *",
                fieldErrors: [.init(field: "events", code: "missing", message: "at least one event type")])
        }
        guard self.events.count <= WebhookLimits.eventTypesMax else {
            throw APIError(
                .webhookTooManyEventTypes, detail: "at most \(WebhookLimits.eventTypesMax) event types",
                fieldErrors: [.init(field: "events", code: "too_many", message: "too many event types")])
        }
        if let index = self.events.firstIndex(where: { !WebhookEventType.isValidSubscription($0) }) {
            throw APIError(
                .webhookEventTypeInvalid,
                detail: "event types are dotted lower-case names such as payment.succeeded, or *",
                fieldErrors: [
                    .init(field: "events[\(index)]", code: "invalid", message: "not a dotted lower-case name or *")
                ])
        }
        if let description = self.description, description.utf8.count > WebhookLimits.descriptionBytesMax {
            throw APIError(
                .webhookDescriptionTooLong, detail: "at most \(WebhookLimits.descriptionBytesMax) bytes",
                fieldErrors: [.init(field: "description", code: "too_long", message: "too long")])
        }
    }

    /// The event types with duplicates removed, in the order given.
    var uniqueEvents: [String] {
        var seen: Set<String> = []
        return self.events.filter { seen.insert($0).inserted }
    }
}

/// An endpoint as the API shows it; `secret` only in the answers that make one.
struct EndpointResponse: ResponseEncodable, Sendable {
    let endpoint: WebhookEndpoint
    let secret: Secret<String>?

    init(_ endpoint: WebhookEndpoint, secret: Secret<String>? = nil) {
        self.endpoint = endpoint
        self.secret = secret
    }

    enum CodingKeys: String, CodingKey {
        case id, url, events, description, state, secret
        case disabledReason = "disabled_reason"
        case previousSecretExpiresAt = "previous_secret_expires_at"
        case createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.endpoint.id.description, forKey: .id)
        try container.encode(self.endpoint.url, forKey: .url)
        try container.encode(self.endpoint.eventTypes, forKey: .events)
        try container.encode(self.endpoint.description, forKey: .description)
        try container.encode(self.endpoint.state.rawValue, forKey: .state)
        try container.encode(self.endpoint.disabledReason, forKey: .disabledReason)
        try container.encode(self.endpoint.previousSecretExpiresAt?.rfc3339, forKey: .previousSecretExpiresAt)
        try container.encode(self.endpoint.createdAt.rfc3339, forKey: .createdAt)
        if let secret = self.secret { try container.encode(secret.value, forKey: .secret) }
    }

    static let schema: JSONValue = [
        "type": "object",
        "required": [
            "id", "url", "events", "description", "state", "disabled_reason", "previous_secret_expires_at",
            "created_at",
        ],
        "properties": [
            "id": ["type": "string"], "url": ["type": "string", "format": "uri"],
            "events": ["type": "array", "items": ["type": "string"]],
            "description": ["type": ["string", "null"]],
            "state": ["type": "string", "enum": ["enabled", "disabled"]],
            "disabled_reason": ["type": ["string", "null"]],
            "previous_secret_expires_at": ["type": ["string", "null"], "format": "date-time"],
            "created_at": ["type": "string", "format": "date-time"],
            "secret": [
                "type": "string",
                "description": "`whsec_…`; present only when the secret is made (creation and rotation).",
            ],
        ],
    ]

    static let createSchema: JSONValue = [
        "type": "object", "required": ["url", "events"],
        "properties": [
            "url": ["type": "string", "format": "uri", "maxLength": .integer(WebhookLimits.urlBytesMax)],
            "events": [
                "type": "array", "minItems": 1, "maxItems": .integer(WebhookLimits.eventTypesMax),
                "items": ["type": "string", "description": "A dotted lower-case event type, or `*` for all."],
            ],
            "description": ["type": "string", "maxLength": .integer(WebhookLimits.descriptionBytesMax)],
        ],
    ]
}

/// A delivery as the API shows it (without the payload).
struct DeliveryResponse: ResponseEncodable, Sendable {
    let delivery: WebhookDelivery

    enum CodingKeys: String, CodingKey {
        case id, state, attempts
        case endpointID = "endpoint_id"
        case messageID = "message_id"
        case eventType = "event_type"
        case nextAttemptAt = "next_attempt_at"
        case lastAttemptAt = "last_attempt_at"
        case lastStatus = "last_status"
        case lastError = "last_error"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.delivery.id.description, forKey: .id)
        try container.encode(self.delivery.endpointID.description, forKey: .endpointID)
        try container.encode(self.delivery.messageID.description, forKey: .messageID)
        try container.encode(self.delivery.eventType, forKey: .eventType)
        try container.encode(self.delivery.state.rawValue, forKey: .state)
        try container.encode(self.delivery.attempts, forKey: .attempts)
        try container.encode(
            self.delivery.state == .pending ? self.delivery.nextAttemptAt.rfc3339 : nil, forKey: .nextAttemptAt)
        try container.encode(self.delivery.lastAttemptAt?.rfc3339, forKey: .lastAttemptAt)
        try container.encode(self.delivery.lastStatus, forKey: .lastStatus)
        try container.encode(self.delivery.lastError, forKey: .lastError)
        try container.encode(self.delivery.createdAt.rfc3339, forKey: .createdAt)
        try container.encode(self.delivery.updatedAt.rfc3339, forKey: .updatedAt)
    }

    static let schema: JSONValue = [
        "type": "object",
        "required": [
            "id", "endpoint_id", "message_id", "event_type", "state", "attempts", "next_attempt_at",
            "last_attempt_at", "last_status", "last_error", "created_at", "updated_at",
        ],
        "properties": [
            "id": ["type": "string"], "endpoint_id": ["type": "string"],
            "message_id": ["type": "string", "description": "The `webhook-id` header of every attempt."],
            "event_type": ["type": "string"],
            "state": ["type": "string", "enum": ["pending", "delivered", "failed"]],
            "attempts": ["type": "integer"],
            "next_attempt_at": ["type": ["string", "null"], "format": "date-time"],
            "last_attempt_at": ["type": ["string", "null"], "format": "date-time"],
            "last_status": ["type": ["integer", "null"]], "last_error": ["type": ["string", "null"]],
            "created_at": ["type": "string", "format": "date-time"],
            "updated_at": ["type": "string", "format": "date-time"],
        ],
    ]
}
