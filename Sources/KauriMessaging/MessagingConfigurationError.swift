/// A messaging adapter's configuration that cannot work, found when the adapter is configured rather than when
/// the first message fails.
public struct MessagingConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The configuration field at fault, e.g. `senderID`.
    public var field: String
    /// What is wrong with it. Never contains the value of a secret.
    public var reason: String

    /// An error about `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "invalid \(self.field): \(self.reason)" }
}
