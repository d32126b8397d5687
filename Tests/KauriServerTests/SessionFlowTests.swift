import Foundation
import HTTPTypes
import KauriCore
import KauriLedger
import Testing

/// The S1 story over HTTP against the sandbox, on SQLite and PostgreSQL: a partner offers a session, a client books
/// and pays, the session is completed and rated, the money is held 24 hours and then split by the rating — the
/// partner's share to their payable (less its share of the fee), the client's refunded through the payment.
@Suite("Session flow", .serialized)
struct SessionFlowTests {
    static let partnerPhone = "+254711000222"
    /// Ends in 0000: the sandbox approves the STK push.
    static let clientPhone = "+254700000010"
    /// KES 2,000.00: every default split is in whole shillings, as M-Pesa refunds.
    static let price: Int64 = 200_000
    /// 1.5% + KES 10.00 of KES 2,000.00 (see `EscrowFlowTests.run`).
    static let fee: Int64 = 3_000 + 1_000
    static let hour: UInt64 = 3_600_000

    /// The partner's session offer; returns its id.
    static func offer(_ partner: String, _ harness: PaymentHarness) async throws -> String {
        let offer = try await harness.send(
            .post, "/v1/payment-links",
            [
                "title": "Career coaching", "price": Self.price, "currency": "KES", "kind": "session",
                "duration_minutes": 60,
            ], token: partner)
        #expect(offer.status == .created, "\(offer.json)")
        #expect(offer["kind"] as? String == "session")
        #expect(offer["duration_minutes"] as? Int == 60)
        return offer.id
    }

    /// The client books `offerID` and the sandbox confirms the payment; returns the session's id.
    static func paidSession(_ offerID: String, client: String, _ harness: PaymentHarness) async throws -> String {
        let booked = try await harness.send(
            .post, "/v1/sessions", ["offer_id": offerID, "name": "Wanjiru"], token: client,
            idempotencyKey: UUID().uuidString)
        #expect(booked.status == .created, "\(booked.json)")
        let paymentID = try #require((booked["payment"] as? [String: Any])?["id"] as? String)
        try await harness.waitFor(paymentID, status: "succeeded")
        return booked.id
    }

    @Test("a client books and pays, rates 3 on completion; after the 24 h hold, 90% to the partner, 10% refunded")
    func ratedSplit() async throws {
        try await EscrowFlowTests.run { harness in
            let partner = try await EscrowFlowTests.signIn(Self.partnerPhone, harness)
            let client = try await EscrowFlowTests.signIn(Self.clientPhone, harness)
            let partnerID = try #require(try await EscrowFlowTests.ownerReference(partner, harness))
            let offerID = try await Self.offer(partner, harness)

            let key = UUID().uuidString
            let booked = try await harness.send(
                .post, "/v1/sessions", ["offer_id": offerID, "name": "Wanjiru"], token: client, idempotencyKey: key)
            #expect(booked.status == .created, "\(booked.json)")
            #expect(booked["kind"] as? String == "session")
            #expect((booked["buyer"] as? [String: Any])?["phone"] as? String == Self.clientPhone, "the client's own")
            let replay = try await harness.send(
                .post, "/v1/sessions", ["offer_id": offerID, "name": "Wanjiru"], token: client, idempotencyKey: key)
            #expect(replay.id == booked.id, "the same booking again opens nothing new")
            let paymentID = try #require((booked["payment"] as? [String: Any])?["id"] as? String)
            try await harness.waitFor(paymentID, status: "succeeded")
            let sessionID = booked.id
            #expect(try await EscrowFlowTests.balance("escrow_holding:platform:KES", harness) == Self.price)

            // Goods events do not apply to a session; the partner does not rate.
            #expect(
                try await harness.send(.post, "/v1/escrows/\(sessionID)/ship", token: partner).code
                    == "escrow.invalid_transition")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(sessionID)/complete", ["rating": 5], token: partner)
                    .code == "escrow.rating_client_only")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(sessionID)/complete", ["rating": 6], token: client)
                    .status == .unprocessableContent)
            #expect(
                try await harness.send(.post, "/v1/sessions/\(sessionID)/complete", token: client).status
                    == .unprocessableContent, "the client completes with a rating")
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM escrows WHERE rating IS NOT NULL") == 0)

            let completed = try await harness.send(
                .post, "/v1/sessions/\(sessionID)/complete", ["rating": 3, "comment": "Ran late"], token: client)
            #expect(completed.status == .ok, "\(completed.json)")
            #expect(completed["status"] as? String == "delivered")
            #expect(completed["rating"] as? Int == 3)
            let due = try #require((completed["release_due_at"] as? String).flatMap(Timestamp.init(rfc3339:)))
            #expect(due == harness.clock.now().adding(milliseconds: 24 * Self.hour))
            #expect(
                try await harness.send(.post, "/v1/sessions/\(sessionID)/complete", ["rating": 5], token: client)
                    .code == "escrow.already_rated")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(sessionID)/complete", token: partner).code
                    == "escrow.invalid_transition")

            let escrows = harness.dependencies.escrows
            harness.clock.advance(milliseconds: 24 * Self.hour - 1)
            #expect(try await escrows.releaseDue() == 0, "held for 24 hours")
            harness.clock.advance(milliseconds: 1)
            #expect(try await escrows.releaseDue() == 1)
            #expect(try await escrows.releaseDue() == 0)
            #expect(try await escrows.createOwedRefunds() == 1)

            // 10% of KES 2,000.00 back to the client; the partner's 180 000 less ⌊4 000 × 180 000 / 200 000⌋.
            let partnerShare: Int64 = 180_000
            let feeShare: Int64 = 3_600
            let later = try await EscrowFlowTests.signIn(Self.partnerPhone, harness)
            let settled = try await harness.send(.get, "/v1/sessions/\(sessionID)", token: later)
            #expect(settled["status"] as? String == "completed", "\(settled.json)")
            #expect(settled["refund_amount"] as? Int64 == 20_000)
            let refundID = try #require(settled["refund_id"] as? String)
            try await EscrowFlowTests.waitForRefund(refundID, of: paymentID, harness)
            #expect(try await EscrowFlowTests.balance("escrow_holding:platform:KES", harness) == 0)
            #expect(
                try await EscrowFlowTests.balance("seller_payable:\(partnerID):KES", harness)
                    == partnerShare - feeShare)
            #expect(try await EscrowFlowTests.balance("platform_revenue:platform:KES", harness) == feeShare)
            let timeline = try #require(settled["timeline"] as? [[String: Any]])
            #expect(
                timeline.map { $0["event"] as? String } == [
                    "checkout", "payment_succeeded", "complete", "rating_split",
                ])
            let report = try await LedgerVerifier.verify(harness.database)
            #expect(report.isValid, "\(report.violations)")
            let clientSMS = try await EscrowFlowTests.messages(to: Self.clientPhone, harness)
            #expect(clientSMS.contains { ($0["body"] as? String)?.contains("refunded") == true })
        }
    }

    @Test("the partner completes; a rating of 1 in the hold splits 50/50; unrated sessions go wholly to the partner")
    func partnerCompletes() async throws {
        try await EscrowFlowTests.run { harness in
            let partner = try await EscrowFlowTests.signIn(Self.partnerPhone, harness)
            let client = try await EscrowFlowTests.signIn(Self.clientPhone, harness)
            let partnerID = try #require(try await EscrowFlowTests.ownerReference(partner, harness))
            let offerID = try await Self.offer(partner, harness)
            let rated = try await Self.paidSession(offerID, client: client, harness)
            let unrated = try await Self.paidSession(offerID, client: client, harness)
            for id in [rated, unrated] {
                let completed = try await harness.send(.post, "/v1/sessions/\(id)/complete", token: partner)
                #expect(completed["status"] as? String == "delivered", "\(completed.json)")
                #expect(completed["rating"] is NSNull)
            }
            let rating = try await harness.send(.post, "/v1/sessions/\(rated)/complete", ["rating": 1], token: client)
            #expect(rating["status"] as? String == "delivered", "\(rating.json)")
            #expect(rating["rating"] as? Int == 1)

            harness.clock.advance(milliseconds: 24 * Self.hour)
            #expect(try await harness.dependencies.escrows.releaseDue() == 2)
            #expect(try await harness.dependencies.escrows.createOwedRefunds() == 1)
            // Rated 1: 100 000 each way, the partner's less half the fee; unrated: all less the whole fee.
            #expect(
                try await EscrowFlowTests.balance("seller_payable:\(partnerID):KES", harness)
                    == (100_000 - 2_000) + (Self.price - Self.fee))
            let later = try await EscrowFlowTests.signIn(Self.clientPhone, harness)
            let split = try await harness.send(.get, "/v1/sessions/\(rated)", token: later)
            #expect(split["refund_amount"] as? Int64 == 100_000, "\(split.json)")
            let whole = try await harness.send(.get, "/v1/sessions/\(unrated)", token: later)
            #expect(whole["refund_amount"] as? Int64 == 0)
            #expect(whole["status"] as? String == "completed")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(unrated)/complete", ["rating": 2], token: later).code
                    == "escrow.invalid_transition", "too late to rate")
            let paymentID = try #require(split["payment_id"] as? String)
            try await EscrowFlowTests.waitForRefund(try #require(split["refund_id"] as? String), of: paymentID, harness)
            #expect(try await EscrowFlowTests.balance("escrow_holding:platform:KES", harness) == 0)
            let report = try await LedgerVerifier.verify(harness.database)
            #expect(report.isValid, "\(report.violations)")
        }
    }

    @Test("sessions refuse goods offers, strangers and unpaid completion; goods refuse session events")
    func badInput() async throws {
        try await EscrowFlowTests.run { harness in
            let partner = try await EscrowFlowTests.signIn(Self.partnerPhone, harness)
            let client = try await EscrowFlowTests.signIn(Self.clientPhone, harness)
            let stranger = try await EscrowFlowTests.signIn("+254722000444", harness)
            let goods = try await harness.send(
                .post, "/v1/payment-links", ["title": "Mat", "price": Self.price, "currency": "KES"], token: partner)
            #expect(goods["kind"] as? String == "goods")
            #expect(
                try await harness.send(
                    .post, "/v1/payment-links",
                    ["title": "Mat", "price": Self.price, "currency": "KES", "duration_minutes": 30], token: partner
                ).status == .unprocessableContent, "a duration is for sessions")
            #expect(
                try await harness.send(
                    .post, "/v1/payment-links",
                    ["title": "Mat", "price": Self.price, "currency": "KES", "kind": "rental"], token: partner
                ).status == .unprocessableContent)
            let notASession = try await harness.send(
                .post, "/v1/sessions", ["offer_id": goods.id], token: client, idempotencyKey: UUID().uuidString)
            #expect(notASession.code == "escrow.link_not_found", "\(notASession.json)")
            #expect(
                try await harness.send(.post, "/v1/sessions", ["offer_id": goods.id], token: client).code
                    == "idempotency.key_missing")
            #expect(
                try await harness.send(
                    .post, "/v1/sessions", ["offer_id": goods.id], token: nil, idempotencyKey: UUID().uuidString
                ).status == .unauthorized)

            let offerID = try await Self.offer(partner, harness)
            // Ends in 0004: the payment never completes.
            let unpaid = try await harness.send(
                .post, "/v1/sessions", ["offer_id": offerID, "phone": "+254700000004"], token: client,
                idempotencyKey: UUID().uuidString)
            #expect(unpaid.status == .created, "\(unpaid.json)")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(unpaid.id)/complete", token: partner).code
                    == "escrow.not_funded")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(unpaid.id)/complete", ["rating": 4], token: client)
                    .code == "escrow.invalid_transition")
            #expect(
                try await harness.send(.get, "/v1/sessions/\(unpaid.id)", token: stranger).code
                    == "escrow.not_found")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(unpaid.id)/complete", token: stranger).code
                    == "escrow.not_found")
            // The client booked by account with another phone: still the client.
            #expect(
                try await harness.send(.get, "/v1/sessions/\(unpaid.id)", token: client)["role"] as? String == "buyer")

            // A goods escrow is no session.
            let checkout = try await harness.send(
                .post, "/v1/payment-links/\(goods.id)/checkout", ["phone": Self.clientPhone, "name": "Wanjiru"],
                token: nil, idempotencyKey: UUID().uuidString)
            #expect(
                try await harness.send(.get, "/v1/sessions/\(checkout.id)", token: partner).code == "escrow.not_found")
            #expect(
                try await harness.send(.post, "/v1/sessions/\(checkout.id)/complete", token: partner).code
                    == "escrow.not_found")
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM escrows WHERE status = 'delivered'") == 0)
        }
    }
}
