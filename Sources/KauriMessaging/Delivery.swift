/// The two ways Kauri reaches people.
public enum MessageChannel: String, Sendable, Hashable, Codable, CaseIterable {
    /// A text message to a mobile number.
    case sms
    /// An email.
    case email
}

/// A text message to send: the recipient in E.164 (`+233241234567`) and the text. The sender id comes from the
/// adapter's configuration.
public struct SmsMessage: Sendable, Hashable {
    /// The recipient, E.164 with the leading `+`.
    public var to: String
    /// The text.
    public var body: String

    /// A message to `to`.
    public init(to: String, body: String) {
        self.to = to
        self.body = body
    }
}

/// An email to send, plain text. The sender address comes from the adapter's configuration.
public struct EmailMessage: Sendable, Hashable {
    /// The recipient address.
    public var to: String
    /// The subject line.
    public var subject: String
    /// The plain-text body.
    public var text: String

    /// An email to `to`.
    public init(to: String, subject: String, text: String) {
        self.to = to
        self.subject = subject
        self.text = text
    }
}

/// What a provider said when it accepted a message.
public struct DeliveryReceipt: Sendable, Hashable {
    /// The adapter's name (`hubtel`, `twilio`, `africastalking`, `resend`, `smtp`, `dev_sink`).
    public var provider: String
    /// The provider's id for the message, when it gave one.
    public var providerMessageID: String?

    /// A receipt.
    public init(provider: String, providerMessageID: String?) {
        self.provider = provider
        self.providerMessageID = providerMessageID
    }
}

/// Why a provider did not accept a message. `detail` never contains credentials.
public struct DeliveryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Whether trying again later may succeed.
    public enum Kind: String, Sendable, Hashable {
        /// Timeouts, connection failures, 429 and 5xx: try again with backoff.
        case retryable
        /// The provider refused this message (bad number, bad credentials, 4xx): trying again will not help.
        case permanent
    }

    /// Retryable or permanent.
    public var kind: Kind
    /// What happened, for the outbox's `last_error` and logs.
    public var detail: String

    /// An error.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(self.kind.rawValue): \(self.detail)" }
}

/// Sends text messages through one provider.
public protocol SmsSender: Sendable {
    /// The adapter's name, as in `DeliveryReceipt.provider`.
    var providerName: String { get }
    /// Hands `message` to the provider; returns once the provider accepted it.
    /// - Throws: `DeliveryError` (other errors are treated as retryable).
    func send(_ message: SmsMessage) async throws -> DeliveryReceipt
}

/// Sends emails through one provider.
public protocol EmailSender: Sendable {
    /// The adapter's name, as in `DeliveryReceipt.provider`.
    var providerName: String { get }
    /// Hands `message` to the provider; returns once the provider accepted it.
    /// - Throws: `DeliveryError` (other errors are treated as retryable).
    func send(_ message: EmailMessage) async throws -> DeliveryReceipt
}
