import Foundation
import KauriCore
import KauriDatabase
import SQLKit
import Synchronization

/// Identifiers of outbox messages: `msg_…`.
public enum MessageIDKind: IDKind {
    public static let prefix = "msg"
}

/// Encrypts message bodies while they wait in the outbox (one-time codes and links must not sit in the
/// database in plain text).
public protocol MessageSealer: Sendable {
    /// The sealed form of `plaintext`.
    func seal(_ plaintext: String) throws -> String
    /// The plaintext of a sealed body.
    func open(_ sealed: String) throws -> String
}

/// A message waiting in, or delivered from, the outbox.
public struct OutboxMessage: Sendable, Hashable {
    /// Where a message is in its life.
    public enum Status: String, Sendable, Hashable, Codable {
        /// Waiting for its (next) delivery attempt.
        case pending
        /// A provider accepted it.
        case sent
        /// Given up: a permanent refusal, or too many attempts.
        case failed
    }

    /// The id.
    public var id: PrefixedID<MessageIDKind>
    /// SMS or email.
    public var channel: MessageChannel
    /// E.164 phone number or email address.
    public var recipient: String
    /// The email subject (nil for SMS).
    public var subject: String?
    /// The text (plain, after opening).
    public var body: String
    /// The status.
    public var status: Status
    /// Delivery attempts so far.
    public var attempts: Int
    /// The last error, when an attempt failed.
    public var lastError: String?
    /// The provider that accepted it, and its message id.
    public var provider: String?
    /// The provider's id for the message.
    public var providerMessageID: String?
    /// When it was enqueued.
    public var createdAt: Timestamp
    /// When a provider accepted it.
    public var sentAt: Timestamp?
}

/// The transactional outbox: messages are written in the same database transaction as the state they announce
/// (an OTP challenge, a reset token), and delivered afterwards by `OutboxDeliveryService`.
///
/// A message is therefore sent if and only if its transaction committed. Delivery is at least once: a message
/// whose provider accepted it is marked `sent` and never sent again; a crash between the provider's answer and
/// that mark can repeat it once after the claim lease runs out.
public struct Outbox: Sendable {
    /// How long a claimed message is reserved for one delivery attempt before another worker may take it.
    public static let claimLeaseMilliseconds: UInt64 = 60_000
    /// Attempts before a message is marked failed.
    public static let attemptsMax = 8

    let sealer: (any MessageSealer)?
    let ids: IDGenerator
    let clock: any WallClock
    let wake: WakeSignal

    /// An outbox sealing bodies with `sealer` (nil stores them in plain text).
    public init(sealer: (any MessageSealer)?, ids: IDGenerator, clock: any WallClock) {
        self.sealer = sealer
        self.ids = ids
        self.clock = clock
        self.wake = WakeSignal()
    }

    /// Writes an SMS to the outbox inside the caller's transaction.
    @discardableResult
    public func enqueue(_ message: SmsMessage, on connection: any SQLDatabase) async throws -> PrefixedID<MessageIDKind>
    {
        try await self.insert(channel: .sms, recipient: message.to, subject: nil, body: message.body, on: connection)
    }

    /// Writes SMS messages to the outbox inside the caller's transaction, in one statement.
    public func enqueue(_ messages: [SmsMessage], on connection: any SQLDatabase) async throws {
        guard !messages.isEmpty else { return }
        let now = Int64(self.clock.now().unixMilliseconds)
        var query = SQLQueryString(
            """
            INSERT INTO outbox_messages (id, channel, recipient, subject, body, status, attempts, next_attempt_at,
                created_at) VALUES\u{20}
            """)
        for (index, message) in messages.enumerated() {
            let id = self.ids.make(MessageIDKind.self)
            let stored = try self.sealer?.seal(message.body) ?? message.body
            if index > 0 { query.appendLiteral(", ") }
            query +=
                ("""
                (\(bind: id.description), \(bind: MessageChannel.sms.rawValue), \(bind: message.to), NULL,
                \(bind: stored), 'pending', 0, \(bind: now), \(bind: now))
                """ as SQLQueryString)
        }
        try await connection.raw(query).run()
    }

    /// Writes an email to the outbox inside the caller's transaction.
    @discardableResult
    public func enqueue(
        _ message: EmailMessage, on connection: any SQLDatabase
    ) async throws
        -> PrefixedID<MessageIDKind>
    {
        try await self.insert(
            channel: .email, recipient: message.to, subject: message.subject, body: message.text, on: connection)
    }

    /// Tells the delivery service that messages were committed; call after the enqueuing transaction commits.
    public func notifyCommitted() {
        self.wake.signal()
    }

    private func insert(
        channel: MessageChannel, recipient: String, subject: String?, body: String, on connection: any SQLDatabase
    ) async throws -> PrefixedID<MessageIDKind> {
        let id = self.ids.make(MessageIDKind.self)
        let now = Int64(self.clock.now().unixMilliseconds)
        let stored = try self.sealer?.seal(body) ?? body
        try await connection.raw(
            """
            INSERT INTO outbox_messages (id, channel, recipient, subject, body, status, attempts, next_attempt_at,
                created_at)
            VALUES (\(bind: id.description), \(bind: channel.rawValue), \(bind: recipient), \(bind: subject),
                \(bind: stored), 'pending', 0, \(bind: now), \(bind: now))
            """
        ).run()
        return id
    }

    /// One message, opened.
    public func message(_ id: PrefixedID<MessageIDKind>, database: Database) async throws -> OutboxMessage? {
        try await database.withConnection { connection in
            try await connection.raw("SELECT * FROM outbox_messages WHERE id = \(bind: id.description)")
                .first().map { try self.decode($0) }
        }
    }

    func decode(_ row: any SQLRow) throws -> OutboxMessage {
        let status = OutboxMessage.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed
        let stored = try row.decode(column: "body", as: String.self)
        let body = stored.isEmpty ? "" : try self.sealer?.open(stored) ?? stored
        let text = try row.decode(column: "id", as: String.self)
        guard let id = PrefixedID<MessageIDKind>(text) else { throw OutboxError.unreadableID(text) }
        return OutboxMessage(
            id: id,
            channel: MessageChannel(rawValue: try row.decode(column: "channel", as: String.self)) ?? .sms,
            recipient: try row.decode(column: "recipient", as: String.self),
            subject: try row.decode(column: "subject", as: String?.self),
            body: body,
            status: status,
            attempts: try row.decode(column: "attempts", as: Int.self),
            lastError: try row.decode(column: "last_error", as: String?.self),
            provider: try row.decode(column: "provider", as: String?.self),
            providerMessageID: try row.decode(column: "provider_message_id", as: String?.self),
            createdAt: Timestamp(unixMilliseconds: UInt64(try row.decode(column: "created_at", as: Int64.self))),
            sentAt: try row.decode(column: "sent_at", as: Int64?.self).map { Timestamp(unixMilliseconds: UInt64($0)) })
    }
}

/// A stored row that does not decode (a bug or manual edits).
enum OutboxError: Error {
    case unreadableID(String)
}
