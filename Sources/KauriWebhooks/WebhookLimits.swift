/// The named bounds of the webhook module.
public enum WebhookLimits {
    /// Most endpoints the operator may register.
    public static let endpointsMax = 50
    /// Most event types one endpoint may subscribe to.
    public static let eventTypesMax = 50
    /// The longest event type name, in bytes.
    public static let eventTypeBytesMax = 100
    /// The longest endpoint URL, in bytes.
    public static let urlBytesMax = 2_048
    /// The longest endpoint description, in bytes.
    public static let descriptionBytesMax = 500
    /// The largest payload `emit` accepts, in bytes (Standard Webhooks advises keeping payloads under 20 kB;
    /// this is the hard stop).
    public static let payloadBytesMax = 65_536
    /// How long a rotated-out secret keeps signing alongside the new one, so receivers can switch over.
    public static let previousSecretLifetimeMilliseconds: UInt64 = 24 * 3_600 * 1_000
    /// Most bytes of a receiver's response body read (and discarded) per attempt.
    public static let responseBodyBytesMax = 65_536
    /// The longest `last_error` stored, in bytes.
    public static let lastErrorBytesMax = 500
    /// Most addresses one host name may resolve to before it is refused as suspicious.
    public static let resolvedAddressesMax = 64
}
