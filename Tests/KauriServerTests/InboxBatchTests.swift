import Crypto
import Foundation
import KauriLedger
import SQLKit
import Testing

/// The inbox applies a claimed batch of signed payment webhooks in one transaction (with one ledger call for their
/// captures), and each event still gets its own outcome.
@Suite("Inbox batches", .serialized)
struct InboxBatchTests {
    @Test("a batch of signed webhooks: each payment captured once, a wrong amount flagged, a duplicate harmless")
    func batch() async throws {
        try await PaymentHarness.forEachEngine { harness in
            // Payments whose sandbox charge never completes by itself (phones ending 0004).
            var references: [String] = []
            for _ in 0..<5 {
                let created = try await harness.send(
                    .post, "/v1/payments",
                    [
                        "amount": 5_000, "currency": "GHS", "gateway": "paystack",
                        "method": ["type": "mobile_money", "phone": "+233551230004", "provider": "mtn"],
                        "customer": ["email": "buyer@example.com"],
                    ], idempotencyKey: UUID().uuidString)
                #expect(created.status == .created, "\(created.json)")
                references.append(created.id.replacingOccurrences(of: "_", with: "-"))
            }
            // Five charge.success events (the last with the wrong amount) and a second, distinct one for the first
            // payment; stored in one transaction, so one claim takes them all.
            let key = SymmetricKey(data: Array(harness.sandbox.credentials.paystackSecretKey.utf8))
            var events: [(id: Int, reference: String, amount: Int)] = references.enumerated().map {
                (9_000_000 + $0.offset, $0.element, $0.offset == 4 ? 4_000 : 5_000)
            }
            events.append((9_100_000, references[0], 5_000))
            let now = Int64(harness.clock.now().unixMilliseconds)
            let stored = events
            try await harness.database.transaction { connection in
                for event in stored {
                    let body =
                        #"{"event":"charge.success","data":{"id":\#(event.id),"status":"success","reference":"\#(event.reference)","amount":\#(event.amount),"currency":"GHS","channel":"mobile_money","paid_at":"2026-11-30T10:00:00.000Z"}}"#
                    let signature = HMAC<SHA512>.authenticationCode(for: Array(body.utf8), using: key)
                        .map { String(format: "%02x", $0) }.joined()
                    let headers = #"{"x-paystack-signature":"\#(signature)"}"#
                    try await connection.raw(
                        """
                        INSERT INTO payment_webhook_events (id, gateway, digest, target_id, headers, body, state,
                            attempts, next_attempt_at, received_at)
                        VALUES (\(bind: "evt_batch_\(event.id)"), 'paystack', \(bind: "digest-\(event.id)"), NULL,
                            \(bind: headers), \(bind: body), 'pending', 0, \(bind: now), \(bind: now))
                        """
                    ).run()
                }
            }
            // The worker may claim them first; either way one claim takes the six.
            _ = try await harness.payments.applyDueEvents()
            let deadline = ContinuousClock.now + .seconds(10)
            while try await harness.count("SELECT COUNT(*) AS n FROM payment_webhook_events WHERE state = 'pending'")
                > 0, ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            let states = try await harness.database.withConnection { connection in
                try await connection.raw("SELECT id, state FROM payment_webhook_events ORDER BY id").all().map {
                    "\(try $0.decode(column: "id", as: String.self))=\(try $0.decode(column: "state", as: String.self))"
                }
            }
            #expect(
                states == [
                    "evt_batch_9000000=applied", "evt_batch_9000001=applied", "evt_batch_9000002=applied",
                    "evt_batch_9000003=applied", "evt_batch_9000004=flagged", "evt_batch_9100000=applied",
                ], "\(states)")
            for (index, reference) in references.enumerated() {
                let id = reference.replacingOccurrences(of: "-", with: "_")
                let payment = try await harness.send(.get, "/v1/payments/\(id)")
                if index < 4 {
                    #expect(payment["status"] as? String == "succeeded", "\(payment.json)")
                } else {
                    #expect(payment["status"] as? String != "succeeded", "\(payment.json)")
                    #expect((payment["review"] as? [String: Any])?["reason"] as? String == "amount_mismatch")
                }
            }
            #expect(
                try await harness.count("SELECT COUNT(*) AS n FROM ledger_transfers WHERE code = 'payment_captured'")
                    == 4)
            let report = try await LedgerVerifier.verify(harness.database)
            #expect(report.isValid, "\(report.violations)")
        }
    }
}
