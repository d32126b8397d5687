/// Event type names: dotted lower-case words (`payment.succeeded`, `refund.failed`), or `*` for all of them
/// in a subscription.
public enum WebhookEventType {
    /// The subscription that matches every event type.
    public static let wildcard = "*"

    /// Whether `name` is a valid event type: two or more dot-separated words of `a–z 0–9 _`, each starting with
    /// a letter, at most `WebhookLimits.eventTypeBytesMax` bytes.
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= WebhookLimits.eventTypeBytesMax else { return false }
        let words = name.split(separator: ".", omittingEmptySubsequences: false)
        guard words.count >= 2 else { return false }
        return words.allSatisfy { word in
            guard let first = word.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
                return false
            }
            return word.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
            }
        }
    }

    /// Whether a subscription `name` may be stored: a valid event type or the wildcard.
    public static func isValidSubscription(_ name: String) -> Bool {
        name == Self.wildcard || Self.isValid(name)
    }

    /// Whether an endpoint subscribed to `subscriptions` receives events of type `type`.
    public static func matches(_ subscriptions: [String], _ type: String) -> Bool {
        subscriptions.contains { $0 == Self.wildcard || $0 == type }
    }
}
