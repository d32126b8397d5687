import Foundation
import HTTPTypes
import KauriEscrow
import KauriLedger
import KauriTestSupport
import Testing

/// A dispute's refund that the gateway refuses: the money returns to escrow holding, a new refund is made by the next
/// settlement passes, and after `Escrows.refundAttemptsMax` refusals none is, leaving it to an operator.
@Suite("Escrow refund retries", .serialized)
struct EscrowRefundRetryTests {
    @Test("a refused dispute refund is made again, up to three times; the money never leaves escrow holding twice")
    func refusedRefundRetried() async throws {
        try await EscrowFlowTests.run { harness in
            let seller = try await EscrowFlowTests.signIn(EscrowFlowTests.sellerPhone, harness)
            let link = try await harness.send(
                .post, "/v1/payment-links", ["title": "Kente cloth", "price": 150_000, "currency": "GHS"],
                token: seller)
            #expect(link.status == .created, "\(link.json)")
            // Paystack (GHS) refuses refunds of a payment whose customer email starts with `refund-fail`.
            let buyerPhone = "+233551234560"
            let checkout = try await harness.send(
                .post, "/v1/payment-links/\(link.id)/checkout",
                ["phone": buyerPhone, "name": "Esi", "email": "refund-fail@example.com"], token: nil,
                idempotencyKey: UUID().uuidString)
            #expect(checkout.status == .created, "\(checkout.json)")
            #expect(checkout["gateway"] as? String == "paystack")
            let paymentID = try #require((checkout["payment"] as? [String: Any])?["id"] as? String)
            try await harness.waitFor(paymentID, status: "succeeded")
            let escrowID = checkout.id
            let buyer = try await EscrowFlowTests.signIn(buyerPhone, harness)
            let opened = try await harness.send(
                .post, "/v1/escrows/\(escrowID)/disputes", ["reason": "Never arrived"], token: buyer)
            #expect(opened.status == .created, "\(opened.json)")
            let resolved = try await harness.send(
                .post, "/v1/escrows/\(escrowID)/dispute/resolve", ["outcome": "refund"])
            #expect(resolved["status"] as? String == "refunded", "\(resolved.json)")

            let escrows = harness.dependencies.escrows
            for attempt in 1...Escrows.refundAttemptsMax {
                let refused = try await Self.waitForAttempts(attempt, escrowID, harness)
                #expect(refused["refund_id"] is NSNull, "\(refused.json)")
                // The refused refund's reservation was voided: the money is back in escrow holding.
                #expect(try await EscrowFlowTests.balance("escrow_holding:platform:GHS", harness) == 150_000)
                let made = try await escrows.createOwedRefunds()
                #expect(made == (attempt < Escrows.refundAttemptsMax ? 1 : 0), "after refusal \(attempt)")
            }
            let final = try await harness.send(.get, "/v1/escrows/\(escrowID)")
            let events = (final["timeline"] as? [[String: Any]])?.compactMap { $0["event"] as? String } ?? []
            #expect(events.filter { $0 == "refund_failed" }.count == Escrows.refundAttemptsMax, "\(events)")
            let refunds = try await harness.send(.get, "/v1/payments/\(paymentID)/refunds")["data"] as? [[String: Any]]
            #expect(refunds?.count == Escrows.refundAttemptsMax, "\(String(describing: refunds))")
            #expect(
                refunds?.allSatisfy { $0["status"] as? String == "failed" } == true, "\(String(describing: refunds))")
            let report = try await LedgerVerifier.verify(harness.database)
            #expect(report.isValid, "\(report.violations)")
        }
    }

    /// Polls the escrow (as an admin) until the gateway has refused `attempts` refunds.
    ///
    /// Paystack's refund webhooks carry no refund id: a second refund of the same payment that fails sends the very
    /// bytes of the first one's events, which the inbox drops as duplicates. The refund is then settled by
    /// reconciliation (`GET /refund/{id}`), driven here by moving the clock past its next check.
    static func waitForAttempts(
        _ attempts: Int, _ escrowID: String, _ harness: PaymentHarness
    ) async throws -> PaymentHarness.Reply {
        let deadline = ContinuousClock.now + .seconds(10)
        var last = try await harness.send(.get, "/v1/escrows/\(escrowID)")
        while last["refund_attempts"] as? Int != attempts, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            harness.clock.advance(milliseconds: 60_000)
            try await harness.dependencies.payments.reconcileDue()
            last = try await harness.send(.get, "/v1/escrows/\(escrowID)")
        }
        #expect(last["refund_attempts"] as? Int == attempts, "\(last.json)")
        return last
    }
}
