import AsyncHTTPClient
import Foundation
import KauriCore
import KauriDatabase
import KauriMessaging
import KauriSandbox
import KauriTestSupport
import Logging
import SQLKit
import Testing

/// The transactional outbox against the sandbox's Hubtel SMS simulator over HTTP: retries after provider
/// failures, permanent failures, restarts, and rolled-back transactions — on SQLite and PostgreSQL.
@Suite("Outbox")
struct OutboxTests {
    /// Seals bodies by base64 (the product uses AES-GCM; here only "not plain text" matters).
    struct Base64Sealer: MessageSealer {
        func seal(_ plaintext: String) throws -> String { "b64:" + Data(plaintext.utf8).base64EncodedString() }
        func open(_ sealed: String) throws -> String {
            String(decoding: Data(base64Encoded: String(sealed.dropFirst(4))) ?? Data(), as: UTF8.self)
        }
    }

    /// The pieces of one test: a migrated database, the sandbox, an adapter pointing at it, and a manual clock.
    struct Rig {
        let database: Database
        let sandbox: SandboxServer
        let sms: HubtelSmsSender
        let clock: ManualClock
        let ids: IDGenerator

        func outbox() -> Outbox { Outbox(sealer: Base64Sealer(), ids: self.ids, clock: self.clock) }

        func service(_ outbox: Outbox) -> OutboxDeliveryService {
            OutboxDeliveryService(
                outbox: outbox, database: self.database, sms: self.sms, email: UnusedEmail(), clock: self.clock,
                logger: TestDatabases.logger,
                configuration: .init(backoffBaseMilliseconds: 2_000))
        }

        func enqueue(_ outbox: Outbox, to: String, body: String) async throws -> PrefixedID<MessageIDKind> {
            try await self.database.transaction { connection in
                try await outbox.enqueue(SmsMessage(to: to, body: body), on: connection)
            }
        }

        func row(_ id: PrefixedID<MessageIDKind>) async throws -> (status: String, attempts: Int, body: String) {
            try await self.database.withConnection { connection in
                let row = try #require(
                    try await connection.raw("SELECT * FROM outbox_messages WHERE id = \(bind: id.description)").first())
                return (
                    try row.decode(column: "status", as: String.self), try row.decode(column: "attempts", as: Int.self),
                    try row.decode(column: "body", as: String.self)
                )
            }
        }
    }

    struct UnusedEmail: EmailSender {
        var providerName: String { "unused" }
        func send(_ message: EmailMessage) async throws -> DeliveryReceipt {
            throw DeliveryError(.permanent, "no email in this test")
        }
    }

    static func withRig(_ body: @escaping @Sendable (Rig) async throws -> Void) async throws {
        let sandbox = try await SandboxServer.start()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            for kind in TestDatabases.kinds {
                try await TestDatabases.with(kind) { databases in
                    try await MigrationRunner(
                        database: databases[0], migrations: MessagingMigrations.all, logger: TestDatabases.logger
                    ).migrate()
                    let clock = ManualClock(Timestamp(unixMilliseconds: 1_795_000_000_000))
                    let sms = try HubtelSmsSender(
                        configuration: .init(
                            clientID: sandbox.credentials.hubtelClientID,
                            clientSecret: Secret(sandbox.credentials.hubtelClientSecret), senderID: "Kauri",
                            baseURL: sandbox.baseURL),
                        httpClient: http)
                    sandbox.log.removeAll()
                    sandbox.faults.reset()
                    try await body(
                        Rig(database: databases[0], sandbox: sandbox, sms: sms, clock: clock, ids: IDGenerator(clock: clock)))
                }
            }
        } catch {
            try? await http.shutdown()
            await sandbox.shutdown()
            throw error
        }
        try await http.shutdown()
        await sandbox.shutdown()
    }

    @Test("the provider answers 500, then 200: retried after the backoff, sent exactly once, body cleared")
    func retryAfterProviderFailure() async throws {
        try await Self.withRig { rig in
            let outbox = rig.outbox()
            let id = try await rig.enqueue(outbox, to: "+233241234567", body: "Your code is 123456")
            #expect(try await rig.row(id).body.contains("123456") == false, "sealed while waiting")
            rig.sandbox.faults.failNext(provider: .hubtel, count: 1, status: 500)
            let service = rig.service(outbox)
            #expect(try await service.deliverDue() == 1)
            var row = try await rig.row(id)
            #expect(row.status == "pending")
            #expect(row.attempts == 1)
            #expect(rig.sandbox.log.all.isEmpty)
            // Not due before the backoff.
            #expect(try await service.deliverDue() == 0)
            rig.clock.advance(milliseconds: 2_000)
            #expect(try await service.deliverDue() == 1)
            row = try await rig.row(id)
            #expect(row.status == "sent")
            #expect(row.body == "")
            let sent = rig.sandbox.log.all
            #expect(sent.count == 1)
            #expect(sent.first?.body == "Your code is 123456")
            let message = try #require(try await outbox.message(id, database: rig.database))
            #expect(message.provider == "hubtel")
            #expect(message.providerMessageID == sent.first?.providerMessageID)
            #expect(try await service.deliverDue() == 0)
        }
    }

    @Test("a permanent refusal (400) marks the message failed without retrying")
    func permanentFailure() async throws {
        try await Self.withRig { rig in
            let outbox = rig.outbox()
            let id = try await rig.enqueue(outbox, to: "+233241234567", body: "hello")
            rig.sandbox.faults.failNext(provider: .hubtel, count: 1, status: 400)
            #expect(try await rig.service(outbox).deliverDue() == 1)
            #expect(try await rig.row(id).status == "failed")
            rig.clock.advance(milliseconds: 3_600_000)
            #expect(try await rig.service(outbox).deliverDue() == 0)
            #expect(rig.sandbox.log.all.isEmpty)
        }
    }

    @Test("across a restart no message is lost and none the provider acknowledged is sent again")
    func restart() async throws {
        try await Self.withRig { rig in
            let first = rig.outbox()
            let acknowledged = try await rig.enqueue(first, to: "+233241234567", body: "one")
            #expect(try await rig.service(first).deliverDue() == 1)
            let waiting = try await rig.enqueue(first, to: "+233241234568", body: "two")
            // A worker claimed this one and died before the provider answered (the claim is only a lease).
            let inFlight = try await rig.enqueue(first, to: "+233241234569", body: "three")
            let lease = Int64(rig.clock.now().unixMilliseconds + Outbox.claimLeaseMilliseconds)
            try await rig.database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE outbox_messages SET attempts = 1, next_attempt_at = \(bind: lease)
                    WHERE id = \(bind: inFlight.description)
                    """
                ).run()
            }
            // "Restart": a new outbox and service over the same database.
            let second = rig.outbox()
            let service = rig.service(second)
            #expect(try await service.deliverDue() == 1, "only the waiting message is due")
            rig.clock.advance(milliseconds: Outbox.claimLeaseMilliseconds)
            #expect(try await service.deliverDue() == 1, "the dead worker's message after its lease")
            #expect(try await service.deliverDue() == 0)
            for id in [acknowledged, waiting, inFlight] {
                #expect(try await rig.row(id).status == "sent")
            }
            let bodies = rig.sandbox.log.all.map(\.body).sorted()
            #expect(bodies == ["one", "three", "two"])
        }
    }

    @Test("a message enqueued in a rolled-back transaction is never sent")
    func rolledBack() async throws {
        try await Self.withRig { (rig: Rig) async throws in
            let outbox = rig.outbox()
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await rig.database.transaction { connection in
                    try await outbox.enqueue(SmsMessage(to: "+233241234567", body: "never"), on: connection)
                    throw Abort()
                }
            }
            #expect(try await rig.service(outbox).deliverDue() == 0)
            #expect(rig.sandbox.log.all.isEmpty)
        }
    }
}
