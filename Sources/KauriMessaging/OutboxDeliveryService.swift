import KauriCore
import KauriDatabase
import Logging
import SQLKit
import ServiceLifecycle

/// Delivers outbox messages: claims due messages in small batches, hands each to its channel's sender, and
/// records the outcome — `sent` with the provider's id, a retry with exponential backoff, or `failed`.
///
/// Safe with several instances on one PostgreSQL: claims use `FOR UPDATE SKIP LOCKED` and a lease, so two
/// workers never hold the same message at once.
public struct OutboxDeliveryService: Service {
    /// How delivery paces itself.
    public struct Configuration: Sendable {
        /// How often to look for due messages when nothing woke the service.
        public var pollMilliseconds: Int
        /// Most messages claimed (and sent concurrently) at once.
        public var batchSize: Int
        /// The first retry delay; each further attempt doubles it, up to `backoffMaxMilliseconds`.
        public var backoffBaseMilliseconds: UInt64
        /// The longest retry delay.
        public var backoffMaxMilliseconds: UInt64

        /// The defaults: poll every second, 20 at a time, retry after 2 s, 4 s, 8 s … up to 10 minutes.
        public init(
            pollMilliseconds: Int = 1_000, batchSize: Int = 20, backoffBaseMilliseconds: UInt64 = 2_000,
            backoffMaxMilliseconds: UInt64 = 600_000
        ) {
            self.pollMilliseconds = pollMilliseconds
            self.batchSize = batchSize
            self.backoffBaseMilliseconds = backoffBaseMilliseconds
            self.backoffMaxMilliseconds = backoffMaxMilliseconds
        }
    }

    let outbox: Outbox
    let database: Database
    let sms: any SmsSender
    let email: any EmailSender
    let clock: any WallClock
    let logger: Logger
    let configuration: Configuration

    /// A service delivering `outbox`'s messages through `sms` and `email`.
    public init(
        outbox: Outbox, database: Database, sms: any SmsSender, email: any EmailSender, clock: any WallClock,
        logger: Logger, configuration: Configuration = .init()
    ) {
        self.outbox = outbox
        self.database = database
        self.sms = sms
        self.email = email
        self.clock = clock
        self.logger = logger
        self.configuration = configuration
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var delivered = 0
            do {
                delivered = try await self.deliverDue()
            } catch {
                self.logger.warning("outbox pass failed", metadata: ["error": "\(error)"])
            }
            if delivered < self.configuration.batchSize {
                await self.outbox.wake.wait(milliseconds: self.configuration.pollMilliseconds)
            }
        }
    }

    /// One pass: claims up to `batchSize` due messages and tries each once. Returns how many it tried.
    @discardableResult
    public func deliverDue() async throws -> Int {
        let now = self.clock.now().unixMilliseconds
        let leaseUntil = Int64(now + Outbox.claimLeaseMilliseconds)
        let skipLocked = self.database.kind == .postgres ? "FOR UPDATE SKIP LOCKED" : ""
        let limit = self.configuration.batchSize
        let claimed = try await self.database.transaction { connection in
            try await connection.raw(
                """
                UPDATE outbox_messages SET next_attempt_at = \(bind: leaseUntil), attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM outbox_messages
                    WHERE status = 'pending' AND next_attempt_at <= \(bind: Int64(now))
                    ORDER BY next_attempt_at LIMIT \(bind: limit) \(unsafeRaw: skipLocked)
                )
                RETURNING *
                """
            ).all()
        }
        let messages = claimed.compactMap { row -> OutboxMessage? in
            do {
                return try self.outbox.decode(row)
            } catch {
                self.logger.error("outbox message unreadable", metadata: ["error": "\(error)"])
                return nil
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for message in messages {
                group.addTask { await self.deliver(message) }
            }
        }
        return claimed.count
    }

    private func deliver(_ message: OutboxMessage) async {
        let outcome: Result<DeliveryReceipt, DeliveryError>
        do {
            switch message.channel {
            case .sms:
                outcome = .success(try await self.sms.send(SmsMessage(to: message.recipient, body: message.body)))
            case .email:
                outcome = .success(
                    try await self.email.send(
                        EmailMessage(to: message.recipient, subject: message.subject ?? "", text: message.body)))
            }
        } catch let error as DeliveryError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(DeliveryError(.retryable, "\(type(of: error))"))
        }
        do {
            try await self.record(outcome, for: message)
        } catch {
            // The lease runs out and the message is tried again: at least once, never lost.
            self.logger.error(
                "outbox outcome not recorded", metadata: ["message_id": "\(message.id)", "error": "\(error)"])
        }
    }

    private func record(_ outcome: Result<DeliveryReceipt, DeliveryError>, for message: OutboxMessage) async throws {
        let now = Int64(self.clock.now().unixMilliseconds)
        let id = message.id.description
        var metadata: Logger.Metadata = [
            "message_id": "\(message.id)", "channel": "\(message.channel.rawValue)", "attempt": "\(message.attempts)",
        ]
        switch outcome {
        case .success(let receipt):
            try await self.database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE outbox_messages SET status = 'sent', sent_at = \(bind: now), body = '', last_error = NULL,
                        provider = \(bind: receipt.provider), provider_message_id = \(bind: receipt.providerMessageID)
                    WHERE id = \(bind: id)
                    """
                ).run()
            }
            metadata["provider"] = "\(receipt.provider)"
            self.logger.info("message sent", metadata: metadata)
        case .failure(let error) where error.kind == .retryable && message.attempts < Outbox.attemptsMax:
            let delay = min(
                self.configuration.backoffBaseMilliseconds << UInt64(max(0, message.attempts - 1)),
                self.configuration.backoffMaxMilliseconds)
            try await self.database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE outbox_messages SET next_attempt_at = \(bind: now + Int64(delay)),
                        last_error = \(bind: error.detail)
                    WHERE id = \(bind: id)
                    """
                ).run()
            }
            metadata["retry_in_ms"] = "\(delay)"
            metadata["error"] = "\(error)"
            self.logger.warning("message delivery failed; will retry", metadata: metadata)
        case .failure(let error):
            try await self.database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE outbox_messages SET status = 'failed', body = '', last_error = \(bind: error.detail)
                    WHERE id = \(bind: id)
                    """
                ).run()
            }
            metadata["error"] = "\(error)"
            self.logger.error("message delivery failed for good", metadata: metadata)
        }
    }
}
