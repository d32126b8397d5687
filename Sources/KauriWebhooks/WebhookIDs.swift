import KauriCore

/// Identifiers of webhook endpoints: `whe_…`.
public enum WebhookEndpointIDKind: IDKind {
    public static let prefix = "whe"
}

/// Identifiers of webhook deliveries (one event to one endpoint): `whd_…`.
public enum WebhookDeliveryIDKind: IDKind {
    public static let prefix = "whd"
}

/// Identifiers of webhook messages (one emitted event): `msg_…`, sent as `webhook-id` on every attempt to every
/// endpoint, so receivers can deduplicate on it.
public enum WebhookMessageIDKind: IDKind {
    public static let prefix = "msg"
}
