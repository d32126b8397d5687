import KauriCore
import Synchronization

/// A message a simulator accepted, as the provider saw it.
public struct SandboxMessage: Sendable, Hashable {
    /// The simulated provider.
    public var provider: SandboxProvider
    /// The recipient exactly as sent: digits for Hubtel, E.164 for Twilio and Africa's Talking, an address for
    /// Resend.
    public var to: String
    /// The sender id, number, messaging service SID or address; `nil` when the request named none.
    public var from: String?
    /// The text, or the email's plain-text body.
    public var body: String
    /// The email's subject; `nil` for SMS.
    public var subject: String?
    /// The id the simulator answered with.
    public var providerMessageID: String
    /// The `Idempotency-Key` header, when the request carried one.
    public var idempotencyKey: String?
    /// When the simulator accepted it.
    public var receivedAt: Timestamp
}

/// Every message the simulators accepted, oldest first, up to a capacity after which the oldest are dropped.
public final class SandboxMessageLog: Sendable {
    /// The default most messages kept.
    public static let capacityDefault = 10_000

    private let clock: any WallClock
    private let capacity: Int
    private let messages: Mutex<[SandboxMessage]>

    /// An empty log.
    public init(clock: any WallClock = SystemClock(), capacity: Int = SandboxMessageLog.capacityDefault) {
        precondition(capacity > 0, "the log must hold at least one message")
        self.clock = clock
        self.capacity = capacity
        self.messages = Mutex([])
    }

    /// Every message kept, oldest first.
    public var all: [SandboxMessage] { self.messages.withLock { $0 } }

    /// The messages one provider accepted, oldest first.
    public func messages(for provider: SandboxProvider) -> [SandboxMessage] {
        self.all.filter { $0.provider == provider }
    }

    /// Forgets every message.
    public func removeAll() {
        self.messages.withLock { $0.removeAll() }
    }

    /// Records an accepted message, stamped with the current time.
    func record(
        _ provider: SandboxProvider, to: String, from: String?, body: String, subject: String? = nil,
        providerMessageID: String, idempotencyKey: String? = nil
    ) {
        let message = SandboxMessage(
            provider: provider, to: to, from: from, body: body, subject: subject,
            providerMessageID: providerMessageID, idempotencyKey: idempotencyKey, receivedAt: self.clock.now())
        self.messages.withLock { messages in
            messages.append(message)
            if messages.count > self.capacity {
                messages.removeFirst(messages.count - self.capacity)
            }
        }
    }
}
