import Foundation
import HTTPTypes
import KauriEscrow
import KauriLedger
import KauriTestSupport
import Testing

/// Automatic payouts after release, and the escrow, dispute and payout events the operator's webhook endpoints get.
@Suite("Escrow payouts and events", .serialized)
struct EscrowPayoutEventsTests {
    @Test("released money is paid out at once; without a destination it stays; events reach the operator's endpoint")
    func automaticPayoutsAndEvents() async throws {
        try await EscrowFlowTests.run(configure: { $0.automaticPayouts = true }, Self.story)
    }

    @Test("changing where payouts go needs a sign-in within 15 minutes; a refreshed token is not enough")
    func destinationStepUp() async throws {
        for kind in TestDatabases.kinds {
            try await PaymentHarness.with(kind) { harness in
                let phone = EscrowFlowTests.sellerPhone
                func signIn() async throws -> (access: String, refresh: String) {
                    _ = try await harness.send(.post, "/v1/auth/otp", ["phone": phone], token: nil)
                    let body = try #require(
                        try await EscrowFlowTests.messages(to: phone, harness).first?["body"] as? String)
                    let code = try #require(body.firstMatch(of: /\d{6}/).map { String($0.output) })
                    let reply = try await harness.send(
                        .post, "/v1/auth/otp/verify", ["phone": phone, "code": code], token: nil)
                    return (
                        try #require(reply["access_token"] as? String, "\(reply.json)"),
                        try #require(reply["refresh_token"] as? String)
                    )
                }
                func setDestination(_ token: String, _ number: String) async throws -> PaymentHarness.Reply {
                    try await harness.send(
                        .put, "/v1/payout-destinations/KES",
                        ["gateway": "mpesa", "type": "mobile_money", "phone": number, "name": "Wanjiru"], token: token)
                }
                let first = try await signIn()
                #expect(try await setDestination(first.access, "0711000111").status == .ok)

                // 16 minutes on, the session lives on through a refresh, but it signed in too long ago.
                harness.clock.advance(milliseconds: 16 * 60_000)
                let refreshed = try await harness.send(
                    .post, "/v1/auth/refresh", ["refresh_token": first.refresh], token: nil)
                let stale = try #require(refreshed["access_token"] as? String, "\(refreshed.json)")
                let refused = try await setDestination(stale, "0711000999")
                #expect(refused.code == "auth.reauthentication_required", "\(refused.json)")
                let unchanged = try await harness.send(.get, "/v1/payout-destinations/KES", token: stale)
                #expect((unchanged["phone"] as? String)?.hasSuffix("111") == true, "\(unchanged.json)")
                // Reading it, and paying out to it, need no step-up; signing in again allows the change.
                let again = try await signIn()
                #expect(try await setDestination(again.access, "0711000999").status == .ok)
            }
        }
    }

    @Sendable static func story(_ harness: PaymentHarness) async throws {
        let endpoint = try await harness.send(
            .post, "/v1/webhook-endpoints", ["url": "http://127.0.0.1:9/kauri-events", "events": ["*"]])
        #expect(endpoint.status == .created, "\(endpoint.json)")
        let seller = try await EscrowFlowTests.signIn(EscrowFlowTests.sellerPhone, harness)
        let buyer = try await EscrowFlowTests.signIn(EscrowFlowTests.buyerPhone, harness)
        let sellerID = try #require(try await EscrowFlowTests.ownerReference(seller, harness))

        // Without a destination, the released money stays in the payable and the timeline says why.
        let kept = try await EscrowFlowTests.paidEscrow(seller: seller, harness)
        _ = try await harness.send(.post, "/v1/escrows/\(kept)/ship", token: seller)
        _ = try await harness.send(.post, "/v1/escrows/\(kept)/deliver", token: seller)
        let keptDone = try await harness.send(.post, "/v1/escrows/\(kept)/confirm", token: buyer)
        #expect(keptDone["status"] as? String == "completed", "\(keptDone.json)")
        #expect(keptDone["payout_id"] is NSNull)
        let net = EscrowFlowTests.price - EscrowFlowTests.fee
        let payable = "seller_payable:\(sellerID):KES"
        #expect(try await EscrowFlowTests.balance(payable, harness) == net)
        let keptView = try await harness.send(.get, "/v1/escrows/\(kept)", token: seller)
        let keptEvents = (keptView["timeline"] as? [[String: Any]])?.map { $0["event"] as? String }
        #expect(keptEvents?.last == "payout_skipped", "\(keptView.json)")

        // With one, the release pays out at once: KES 1,467.50 released, whole shillings (1,467) paid by M-Pesa.
        let destination = try await harness.send(
            .put, "/v1/payout-destinations/KES",
            ["gateway": "mpesa", "type": "mobile_money", "phone": "0711000111", "name": "Wanjiru"], token: seller)
        #expect(destination.status == .ok, "\(destination.json)")
        let paidOut = try await EscrowFlowTests.paidEscrow(seller: seller, harness)
        _ = try await harness.send(.post, "/v1/escrows/\(paidOut)/ship", token: seller)
        _ = try await harness.send(.post, "/v1/escrows/\(paidOut)/deliver", token: seller)
        let done = try await harness.send(.post, "/v1/escrows/\(paidOut)/confirm", token: buyer)
        let payoutID = try #require(done["payout_id"] as? String, "\(done.json)")
        let payout = try await EscrowFlowTests.waitForPayout(payoutID, status: "succeeded", token: seller, harness)
        #expect(payout["amount"] as? Int64 == net / 100 * 100)
        #expect(try await EscrowFlowTests.balance(payable, harness) == net + net % 100)
        // Another pass finds nothing owed: the payout is made once.
        #expect(try await harness.dependencies.escrows.createOwedPayouts() == 0)
        #expect(try await harness.count("SELECT COUNT(*) AS n FROM payouts") == 1)

        // A dispute resolved by release pays out too.
        let disputed = try await EscrowFlowTests.paidEscrow(seller: seller, harness)
        _ = try await harness.send(.post, "/v1/escrows/\(disputed)/disputes", ["reason": "Late"], token: buyer)
        let resolved = try await harness.send(
            .post, "/v1/escrows/\(disputed)/dispute/resolve", ["outcome": "release"])
        #expect(resolved["status"] as? String == "completed", "\(resolved.json)")
        let secondPayout = try #require(resolved["payout_id"] as? String, "\(resolved.json)")
        try await EscrowFlowTests.waitForPayout(secondPayout, status: "succeeded", token: seller, harness)

        let report = try await LedgerVerifier.verify(harness.database)
        #expect(report.isValid, "\(report.violations)")

        // Every change reached the endpoint's queue, in the transaction that made it.
        let types = try await harness.database.withConnection { connection in
            try await connection.raw("SELECT event_type FROM webhook_deliveries").all().map {
                try $0.decode(column: "event_type", as: String.self)
            }
        }
        for expected in [
            "payment.succeeded", "escrow.paid", "escrow.shipped", "escrow.delivered", "escrow.completed",
            "escrow.disputed", "dispute.opened", "dispute.resolved", "payout.created", "payout.succeeded",
        ] {
            #expect(types.contains(expected), "\(expected) in \(Set(types).sorted())")
        }
        #expect(types.filter { $0 == "payout.created" }.count == 2)
        let payload = try await harness.database.withConnection { connection in
            try await connection.raw(
                "SELECT payload FROM webhook_deliveries WHERE event_type = 'dispute.resolved'"
            ).first()?.decode(column: "payload", as: String.self)
        }
        let event = try JSONSerialization.jsonObject(with: Data(try #require(payload).utf8)) as? [String: Any]
        let data = event?["data"] as? [String: Any]
        #expect(data?["id"] as? String == disputed)
        #expect(
            (data?["dispute"] as? [String: Any])?["outcome"] as? String == "release", "\(String(describing: event))")
    }
}
