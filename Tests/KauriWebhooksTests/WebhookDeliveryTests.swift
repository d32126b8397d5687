import Foundation
import KauriCore
import KauriDatabase
import KauriWebhooks
import SQLKit
import Testing

/// Delivery end to end over loopback HTTP, on SQLite and PostgreSQL: conformance with the reference verifiers,
/// rotation, the retry schedule, 410, Retry-After, a hung endpoint, SSRF at delivery, and rolled-back emits.
@Suite("Webhook delivery")
struct WebhookDeliveryTests {
    @Test("deliveries carry exactly the Standard Webhooks headers and verify with standardwebhooks and svix")
    func conformance() async throws {
        try await WebhookRig.with { rig in
            let (_, secret) = try await rig.register("/hooks/a", events: ["payment.succeeded"])
            #expect(try WebhookSigner.keyBytes(of: secret).count == 32)
            for index in 0..<3 {
                try await rig.emit("payment.succeeded", ["payment_id": "pay_\(index)", "note": "naïve / \"quoted\""])
            }
            try await rig.emit("refund.failed", ["refund_id": "ref_1"])
            #expect(try await rig.service().deliverDue() == 3)
            let requests = rig.receiver.requests(to: "/hooks/a")
            #expect(requests.count == 3)
            #expect(Set(requests.map(\.webhookID)).count == 3)
            for request in requests {
                #expect(request.webhookID.hasPrefix("msg_"))
                #expect(request.headers["content-type"] == "application/json")
                #expect(request.webhookTimestamp == Int64(rig.clock.now().unixMilliseconds / 1_000))
                #expect(request.webhookSignature.hasPrefix("v1,") && !request.webhookSignature.contains(" "))
                let webhookHeaders = Set(request.headers.keys.filter { $0.hasPrefix("webhook-") })
                #expect(webhookHeaders == ["webhook-id", "webhook-timestamp", "webhook-signature"])
                let payload = try #require(
                    try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
                #expect(payload["type"] as? String == "payment.succeeded")
                #expect(Timestamp(rfc3339: payload["timestamp"] as? String ?? "") != nil)
                #expect((payload["data"] as? [String: String])?["payment_id"]?.hasPrefix("pay_") == true)
                let verdict = try await ReferenceVerifier.verify(request, secret: secret.value)
                #expect(verdict.accepted, "\(verdict.output)")
            }
            // The verifier can fail: a changed body and a wrong secret are refused.
            let first = requests[0]
            let tampered = ReceivedRequest(
                path: first.path, headers: first.headers, body: first.body + " ", arrivedAt: first.arrivedAt)
            let tamperedVerdict = try await ReferenceVerifier.verify(tampered, secret: secret.value)
            #expect(!tamperedVerdict.accepted)
            let wrongSecretVerdict = try await ReferenceVerifier.verify(first, secret: WebhookSigner.makeSecret().value)
            #expect(!wrongSecretVerdict.accepted)
        }
    }

    @Test("during rotation both signatures are sent and either secret verifies; after 24 h only the new one")
    func rotation() async throws {
        try await WebhookRig.with { rig in
            let (endpoint, oldSecret) = try await rig.register("/hooks/r")
            let rotated = try #require(try await rig.events.store.rotateSecret(endpoint.id))
            #expect(rotated.secret != oldSecret)
            #expect(
                rotated.endpoint.previousSecretExpiresAt == rig.clock.now().adding(milliseconds: 86_400_000))
            try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
            try await rig.service().deliverDue()
            let request = try #require(rig.receiver.requests(to: "/hooks/r").first)
            #expect(request.webhookSignature.split(separator: " ").count == 2)
            for secret in [oldSecret, rotated.secret] {
                let verdict = try await ReferenceVerifier.verify(request, secret: secret.value)
                #expect(verdict.accepted, "\(verdict.output)")
            }
            rig.clock.advance(milliseconds: 86_400_001)
            try await rig.emit("payment.succeeded", ["payment_id": "pay_2"])
            try await rig.service().deliverDue()
            let later = try #require(rig.receiver.requests(to: "/hooks/r").last)
            #expect(later.webhookSignature.split(separator: " ").count == 1)
            let payload = Array(later.body.utf8)
            #expect(
                try WebhookSigner(secret: rotated.secret).verify(
                    header: later.webhookSignature, messageID: later.webhookID, timestamp: later.webhookTimestamp,
                    payload: payload))
            #expect(
                try !WebhookSigner(secret: oldSecret).verify(
                    header: later.webhookSignature, messageID: later.webhookID, timestamp: later.webhookTimestamp,
                    payload: payload))
        }
    }

    @Test(
        "a receiver failing N times then answering 200 gets one success, the same id, fresh timestamps, attempts on the schedule ±10%",
        arguments: 1...9)
    func retries(failures: Int) async throws {
        try await WebhookRig.with { rig in
            let (_, secret) = try await rig.register("/hooks/flaky")
            rig.receiver.script("/hooks/flaky", Array(repeating: ScriptedReply(status: 500), count: failures))
            let service = rig.service()
            let messageID = try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
            #expect(try await service.deliverDue() == 1)
            let schedule = WebhookRetrySchedule.standard.delaysMilliseconds
            for attempt in 1...failures {
                let delivery = try await rig.delivery(messageID)
                #expect(delivery.state == .pending && delivery.attempts == attempt && delivery.lastStatus == 500)
                let delay = delivery.nextAttemptAt.unixMilliseconds - rig.clock.now().unixMilliseconds
                let expected = Double(schedule[attempt])
                #expect(Double(delay) >= expected * 0.9 && Double(delay) <= expected * 1.1, "attempt \(attempt)")
                // Not due before its time.
                rig.clock.advance(milliseconds: delay - 1)
                #expect(try await service.deliverDue() == 0)
                rig.clock.advance(milliseconds: 1)
                #expect(try await service.deliverDue() == 1)
            }
            let delivery = try await rig.delivery(messageID)
            #expect(delivery.state == .delivered && delivery.attempts == failures + 1 && delivery.lastStatus == 200)
            #expect(try await service.deliverDue() == 0)
            let requests = rig.receiver.requests(to: "/hooks/flaky")
            #expect(requests.count == failures + 1)
            #expect(Set(requests.map(\.webhookID)) == [messageID?.description ?? ""])
            let timestamps = requests.map(\.webhookTimestamp)
            #expect(zip(timestamps, timestamps.dropFirst()).allSatisfy { $0 < $1 })
            let signer = try WebhookSigner(secret: secret)
            for request in requests {
                #expect(
                    signer.verify(
                        header: request.webhookSignature, messageID: request.webhookID,
                        timestamp: request.webhookTimestamp, payload: Array(request.body.utf8)))
            }
        }
    }

    @Test("after the last scheduled attempt the delivery fails for good; a manual replay sends it again")
    func exhaustion() async throws {
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/down")
            let attempts = WebhookRetrySchedule.standard.attemptsMax
            rig.receiver.script("/hooks/down", Array(repeating: ScriptedReply(status: 500), count: attempts))
            let service = rig.service()
            let messageID = try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
            for _ in 0..<attempts {
                let delivery = try await rig.delivery(messageID)
                rig.clock.advance(
                    milliseconds: delivery.nextAttemptAt.unixMilliseconds
                        - min(
                            delivery.nextAttemptAt.unixMilliseconds, rig.clock.now().unixMilliseconds))
                #expect(try await service.deliverDue() == 1)
            }
            var delivery = try await rig.delivery(messageID)
            #expect(delivery.state == .failed && delivery.attempts == attempts && delivery.lastError == "HTTP 500")
            rig.clock.advance(milliseconds: 100 * 86_400_000)
            #expect(try await service.deliverDue() == 0)
            #expect(rig.receiver.requests(to: "/hooks/down").count == attempts)

            guard case .scheduled = try await rig.events.store.retryDelivery(delivery.id) else {
                Issue.record("the failed delivery was not replayed")
                return
            }
            #expect(try await service.deliverDue() == 1)
            delivery = try await rig.delivery(messageID)
            #expect(delivery.state == .delivered)
            let requests = rig.receiver.requests(to: "/hooks/down")
            #expect(requests.count == attempts + 1 && Set(requests.map(\.webhookID)).count == 1)
        }
    }

    @Test("410 Gone disables the endpoint, fails its pending deliveries, and nothing more is sent")
    func goneDisables() async throws {
        try await WebhookRig.with { rig in
            let (endpoint, _) = try await rig.register("/hooks/gone")
            rig.receiver.script("/hooks/gone", [ScriptedReply(status: 410)])
            let service = rig.service(.init(concurrencyPerEndpointMax: 1, allowPrivateAddresses: true))
            let first = try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
            let second = try await rig.emit("payment.succeeded", ["payment_id": "pay_2"])
            #expect(try await service.deliverDue() == 1)
            let disabled = try #require(try await rig.events.store.endpoint(endpoint.id))
            #expect(disabled.state == .disabled && disabled.disabledReason?.contains("410") == true)
            #expect(try await rig.delivery(first).state == .failed)
            #expect(try await rig.delivery(first).lastStatus == 410)
            #expect(try await rig.delivery(second).state == .failed)
            #expect(try await rig.emit("payment.succeeded", ["payment_id": "pay_3"]) == nil)
            rig.clock.advance(milliseconds: 86_400_000)
            #expect(try await service.deliverDue() == 0)
            #expect(rig.receiver.requests(to: "/hooks/gone").count == 1)

            _ = try await rig.events.store.enableEndpoint(endpoint.id)
            let third = try await rig.emit("payment.succeeded", ["payment_id": "pay_4"])
            #expect(try await service.deliverDue() == 1)
            #expect(try await rig.delivery(third).state == .delivered)
        }
    }

    @Test("429 and 503 with Retry-After: 120 put the next attempt at least 120 s later", arguments: [429, 503])
    func retryAfter(status: Int) async throws {
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/busy")
            rig.receiver.script("/hooks/busy", [ScriptedReply(status: status, headers: ["Retry-After": "120"])])
            let service = rig.service()
            let messageID = try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
            let start = rig.clock.now().unixMilliseconds
            #expect(try await service.deliverDue() == 1)
            let delivery = try await rig.delivery(messageID)
            #expect(delivery.state == .pending && delivery.lastStatus == status)
            #expect(delivery.nextAttemptAt.unixMilliseconds >= start + 120_000)
            rig.clock.advance(milliseconds: 119_000)  // far past the schedule's 5 s
            #expect(try await service.deliverDue() == 0)
            rig.clock.advance(milliseconds: 1_000)
            #expect(try await service.deliverDue() == 1)
            #expect(try await rig.delivery(messageID).state == .delivered)
        }
    }

    @Test("3xx is a failure and the redirect is not followed")
    func redirectNotFollowed() async throws {
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/moved")
            rig.receiver.script(
                "/hooks/moved", [ScriptedReply(status: 302, headers: ["Location": rig.receiver.url("/hooks/target")])])
            let messageID = try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
            try await rig.service().deliverDue()
            let delivery = try await rig.delivery(messageID)
            #expect(delivery.state == .pending && delivery.lastStatus == 302)
            #expect(rig.receiver.requests(to: "/hooks/target").isEmpty)
        }
    }

    /// The < 1 s lag of reliability §7C.9 is a latency figure for a quiet machine; on a loaded CI box a plain
    /// delivery can take over a second. What this test proves is the structure: no healthy delivery waits for the
    /// hung endpoint's 10 s timeout.
    @Test("a hung endpoint does not delay a healthy one (no healthy delivery waits for the hung one's timeout)")
    func hungEndpoint() async throws {
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/hung")
            _ = try await rig.register("/hooks/healthy")
            let eventsCount = 8
            rig.receiver.script(
                "/hooks/hung",
                Array(repeating: ScriptedReply(status: 200, hangMilliseconds: 12_000), count: eventsCount)
            )
            let service = rig.service(
                .init(
                    requestTimeoutMilliseconds: 10_000, concurrencyMax: 6, concurrencyPerEndpointMax: 2,
                    leaseMilliseconds: 30_000, pollMilliseconds: 100, allowPrivateAddresses: true))
            let running = Task { try await service.run() }
            var lags: [Duration] = []
            for index in 0..<eventsCount {
                let emitted = ContinuousClock.now
                try await rig.emit("payment.succeeded", ["payment_id": "pay_\(index)"])
                let deadline = emitted + .seconds(10)
                while rig.receiver.requests(to: "/hooks/healthy").count <= index && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                let arrivals = rig.receiver.requests(to: "/hooks/healthy")
                lags.append(arrivals.count > index ? arrivals[index].arrivedAt - emitted : .seconds(10))
                try await Task.sleep(for: .milliseconds(150))
            }
            running.cancel()
            _ = await running.result
            // Waiting behind the hung endpoint would cost its 10 s timeout.
            #expect(lags.allSatisfy { $0 < .seconds(4) }, "healthy delivery lags: \(lags)")
            #expect(rig.receiver.requests(to: "/hooks/healthy").count == eventsCount)
        }
    }

    @Test("one pass sends at most the per-endpoint cap to one endpoint, and the rest to others")
    func perEndpointCap() async throws {
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/busy", events: ["payment.succeeded"])
            _ = try await rig.register("/hooks/other", events: ["refund.failed"])
            for index in 0..<5 { try await rig.emit("payment.succeeded", ["payment_id": "pay_\(index)"]) }
            try await rig.emit("refund.failed", ["refund_id": "ref_1"])
            let service = rig.service(.init(concurrencyPerEndpointMax: 2, allowPrivateAddresses: true))
            #expect(try await service.deliverDue() == 3)
            #expect(rig.receiver.requests(to: "/hooks/busy").count == 2)
            #expect(rig.receiver.requests(to: "/hooks/other").count == 1)
            #expect(try await service.deliverDue() == 2)
            #expect(try await service.deliverDue() == 1)
            #expect(try await service.deliverDue() == 0)
        }
    }

    @Test("the request times out and the attempt is retried later")
    func requestTimeout() async throws {
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/slow")
            rig.receiver.script("/hooks/slow", [ScriptedReply(status: 200, hangMilliseconds: 10_000)])
            let service = rig.service(
                .init(requestTimeoutMilliseconds: 300, leaseMilliseconds: 5_000, allowPrivateAddresses: true))
            let messageID = try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
            let started = ContinuousClock.now
            try await service.deliverDue()
            // Well before the receiver would answer (10 s), even on a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(5))
            let delivery = try await rig.delivery(messageID)
            #expect(delivery.state == .pending && delivery.lastError?.contains("no answer within 300 ms") == true)
        }
    }

    @Test("a DNS answer that changes to an internal address after registration is refused at delivery")
    func rebindingRefused() async throws {
        try await WebhookRig.with { rig in
            let resolver = StubResolver(["hooks.example.com": ["93.184.216.34"]])
            let guardian = WebhookURLGuard(resolver: resolver)
            let url = "http://hooks.example.com:\(rig.receiver.port)/hooks/rebind"
            _ = try await guardian.check(url)
            _ = try await rig.events.store.createEndpoint(url: url, eventTypes: ["*"], description: nil)
            for internalAddress in ["127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254", "10.0.0.5"] {
                resolver.set("hooks.example.com", [internalAddress])
                let messageID = try await rig.emit("payment.succeeded", ["payment_id": "pay_1"])
                try await rig.service(.init(resolver: resolver)).deliverDue()
                let delivery = try await rig.delivery(messageID)
                #expect(delivery.state == .pending && delivery.attempts == 1)
                #expect(delivery.lastError?.contains("webhook.url_not_allowed") == true, "\(internalAddress)")
            }
            #expect(rig.receiver.requests.isEmpty)
        }
    }

    @Test("a rolled-back transaction emits nothing; a committed one is delivered")
    func rolledBackEmitsNothing() async throws {
        struct Abort: Error {}
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/tx")
            await #expect(throws: Abort.self) {
                try await rig.database.transaction { connection in
                    let id = try await rig.events.emit(
                        type: "payment.succeeded", data: ["payment_id": "pay_1"], on: connection)
                    #expect(id != nil)
                    throw Abort()
                }
            }
            rig.events.notifyCommitted()
            let count = try await rig.database.withConnection { connection in
                try await connection.raw("SELECT COUNT(*) AS n FROM webhook_deliveries").first()?
                    .decode(column: "n", as: Int.self)
            }
            #expect(count == 0)
            #expect(try await rig.service().deliverDue() == 0)
            #expect(rig.receiver.requests.isEmpty)
            try await rig.emit("payment.succeeded", ["payment_id": "pay_2"])
            #expect(try await rig.service().deliverDue() == 1)
            #expect(rig.receiver.requests.count == 1)
        }
    }

    @Test("only enabled endpoints subscribed to the type (or *) get a delivery, all with one message id")
    func subscriptions() async throws {
        try await WebhookRig.with { rig in
            _ = try await rig.register("/hooks/all", events: ["*"])
            _ = try await rig.register("/hooks/payments", events: ["payment.succeeded"])
            _ = try await rig.register("/hooks/refunds", events: ["refund.failed"])
            let messageID = try #require(try await rig.emit("payment.succeeded", ["payment_id": "pay_1"]))
            let deliveries = try await rig.events.store.deliveries(messageID: messageID)
            #expect(deliveries.count == 2)
            try await rig.service().deliverDue()
            #expect(Set(rig.receiver.requests.map(\.path)) == ["/hooks/all", "/hooks/payments"])
            #expect(Set(rig.receiver.requests.map(\.webhookID)) == [messageID.description])
        }
    }
}
