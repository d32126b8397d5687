import Foundation
import HTTPTypes
import KauriCore
import KauriDatabase
import KauriEscrow
import KauriLedger
import KauriMessaging
import KauriTestSupport
import Testing

/// The S4 story over HTTP against the sandbox, on SQLite and PostgreSQL: a seller signed in by phone creates a
/// link, a buyer pays it by M-Pesa STK push, the money is held, the seller ships and delivers, the buyer confirms,
/// and the money is released to the seller less the platform fee.
@Suite("Escrow flow", .serialized)
struct EscrowFlowTests {
    static let sellerPhone = "+254711000111"
    /// Ends in 0000: the sandbox approves the STK push.
    static let buyerPhone = "+254700000000"
    static let price: Int64 = 150_000
    /// 1.5% + KES 10.00 of KES 1,500.00.
    static let fee: Int64 = 2_250 + 1_000

    /// Runs `body` on each engine with the tests' fee (1.5% + KES 10.00) and whatever else `configure` sets.
    static func run(
        configure: @escaping @Sendable (inout Escrows.Configuration) -> Void = { _ in },
        _ body: @escaping @Sendable (PaymentHarness) async throws -> Void
    ) async throws {
        for kind in TestDatabases.kinds {
            do {
                try await PaymentHarness.with(
                    kind,
                    escrow: { configuration in
                        configuration.fees = EscrowFees(basisPoints: 150, fixed: [.kes: 1_000])
                        configure(&configuration)
                    }, body)
            } catch {
                // PostgreSQL's errors describe themselves only when asked.
                Issue.record("\(kind): \(String(reflecting: error))")
                throw error
            }
        }
    }

    @Test("seller links, buyer pays by STK push, seller ships and delivers, buyer confirms: released less the fee")
    func fullFlow() async throws {
        try await Self.run { harness in
            let seller = try await Self.signIn(Self.sellerPhone, harness)
            let link = try await harness.send(
                .post, "/v1/payment-links",
                [
                    "title": "Kitenge dress", "description": "Size M", "price": Self.price, "currency": "KES",
                    "quantity": 2,
                ],
                token: seller)
            #expect(link.status == .created, "\(link.json)")
            #expect((link["url"] as? String)?.hasSuffix("/pay/\(link.id)") == true)
            let shown = try await harness.send(.get, "/v1/payment-links/\(link.id)", token: nil)
            #expect(shown["payable"] as? Bool == true)
            #expect(shown["quantity_sold"] == nil, "buyers do not see sales")

            let missingKey = try await harness.send(
                .post, "/v1/payment-links/\(link.id)/checkout", ["phone": Self.buyerPhone, "name": "Amina"], token: nil)
            #expect(missingKey.code == "idempotency.key_missing")

            let key = UUID().uuidString
            let checkout = try await harness.send(
                .post, "/v1/payment-links/\(link.id)/checkout", ["phone": "0700000000", "name": "Amina"], token: nil,
                idempotencyKey: key)
            #expect(checkout.status == .created, "\(checkout.json)")
            #expect(checkout["status"] as? String == "pending")
            #expect(checkout["gateway"] as? String == "mpesa")
            let payment = try #require(checkout["payment"] as? [String: Any])
            let paymentID = try #require(payment["id"] as? String)
            #expect((payment["next_action"] as? [String: Any])?["type"] as? String == "confirm_on_phone")
            // The same checkout again opens nothing new.
            let again = try await harness.send(
                .post, "/v1/payment-links/\(link.id)/checkout", ["phone": "0700000000", "name": "Amina"], token: nil,
                idempotencyKey: key)
            #expect(again.id == checkout.id)
            let otherBuyer = try await harness.send(
                .post, "/v1/payment-links/\(link.id)/checkout", ["phone": "0700000099", "name": "Juma"], token: nil,
                idempotencyKey: key)
            #expect(otherBuyer.code == "idempotency.key_reused", "\(otherBuyer.json)")
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM escrows") == 1)

            try await harness.waitFor(paymentID, status: "succeeded")
            let escrowID = checkout.id
            let paid = try await harness.send(.get, "/v1/escrows/\(escrowID)", token: seller)
            #expect(paid["status"] as? String == "paid", "\(paid.json)")
            #expect((paid["buyer"] as? [String: Any])?["phone"] as? String != Self.buyerPhone, "masked for the seller")
            #expect(try await Self.balance("escrow_holding:platform:KES", harness) == Self.price)
            let held = try await Self.summary(seller, harness)
            #expect(held?["held"] as? Int64 == Self.price - Self.fee, "\(String(describing: held))")
            #expect(held?["available"] as? Int64 == 0)
            // The seller owns the payment but cannot refund it around the escrow.
            let refund = try await harness.send(
                .post, "/v1/payments/\(paymentID)/refunds", [:], token: seller, idempotencyKey: UUID().uuidString)
            #expect(refund.code == "payment.refund_managed", "\(refund.json)")

            // Who may do what.
            let anonymous = try await harness.send(.post, "/v1/escrows/\(escrowID)/confirm", token: nil)
            #expect(anonymous.status == .unauthorized)
            let buyer = try await Self.signIn(Self.buyerPhone, harness)
            let stranger = try await Self.signIn("+254722000333", harness)
            #expect(try await harness.send(.get, "/v1/escrows/\(escrowID)", token: stranger).code == "escrow.not_found")
            #expect(
                try await harness.send(.post, "/v1/escrows/\(escrowID)/confirm", token: seller).code
                    == "escrow.buyer_only")
            #expect(
                try await harness.send(.post, "/v1/escrows/\(escrowID)/ship", token: buyer).code
                    == "escrow.seller_only")
            #expect(
                try await harness.send(.post, "/v1/escrows/\(escrowID)/confirm", token: buyer).code
                    == "escrow.invalid_transition")
            let buyerView = try await harness.send(.get, "/v1/escrows/\(escrowID)", token: buyer)
            #expect(buyerView["role"] as? String == "buyer")
            #expect((buyerView["seller"] as? [String: Any])?["phone"] as? String != Self.sellerPhone)

            let shipped = try await harness.send(
                .post, "/v1/escrows/\(escrowID)/ship", ["carrier": "G4S", "tracking_number": "KE123"], token: seller)
            #expect(shipped["status"] as? String == "shipped", "\(shipped.json)")
            #expect((shipped["shipping"] as? [String: Any])?["carrier"] as? String == "G4S")
            let delivered = try await harness.send(.post, "/v1/escrows/\(escrowID)/deliver", token: seller)
            #expect(delivered["status"] as? String == "delivered")
            #expect(delivered["release_due_at"] is String)
            let confirmed = try await harness.send(.post, "/v1/escrows/\(escrowID)/confirm", token: buyer)
            #expect(confirmed["status"] as? String == "completed", "\(confirmed.json)")
            #expect(
                try await harness.send(.post, "/v1/escrows/\(escrowID)/confirm", token: buyer).code
                    == "escrow.invalid_transition")

            #expect(try await Self.balance("escrow_holding:platform:KES", harness) == 0)
            #expect(try await Self.balance("platform_revenue:platform:KES", harness) == Self.fee)
            let sellerID = try #require(try await Self.ownerReference(seller, harness))
            #expect(try await Self.balance("seller_payable:\(sellerID):KES", harness) == Self.price - Self.fee)
            #expect(try await harness.transfers(startingWith: escrowID) == 2)
            let report = try await LedgerVerifier.verify(harness.database)
            #expect(report.isValid, "\(report.violations)")

            let final = try await harness.send(.get, "/v1/escrows/\(escrowID)", token: buyer)
            let timeline = try #require(final["timeline"] as? [[String: Any]])
            #expect(
                timeline.map { $0["status"] as? String } == ["pending", "paid", "shipped", "delivered", "completed"])
            #expect(timeline.map { $0["actor"] as? String } == ["buyer", "gateway", "seller", "seller", "buyer"])
            let sellerSMS = try await Self.messages(to: Self.sellerPhone, harness)
            #expect(sellerSMS.contains { ($0["body"] as? String)?.contains("paid") == true })
            #expect(sellerSMS.contains { ($0["body"] as? String)?.contains("released") == true })
            let listed = try await harness.send(.get, "/v1/escrows", token: buyer)
            #expect((listed["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [escrowID])
        }
    }

    @Test("a delivered escrow is released when the inspection window ends (injected clock), once")
    func autoRelease() async throws {
        try await Self.run { harness in
            let seller = try await Self.signIn(Self.sellerPhone, harness)
            let escrowID = try await Self.paidEscrow(seller: seller, harness)
            _ = try await harness.send(.post, "/v1/escrows/\(escrowID)/ship", token: seller)
            _ = try await harness.send(.post, "/v1/escrows/\(escrowID)/deliver", token: seller)
            let escrows = harness.dependencies.escrows
            harness.clock.advance(milliseconds: 72 * 3_600_000 - 1)
            #expect(try await escrows.releaseDue() == 0)
            harness.clock.advance(milliseconds: 1)
            #expect(try await escrows.releaseDue() == 1)
            #expect(try await escrows.releaseDue() == 0)
            // Access tokens last 10 minutes: sign in again, three days later.
            let later = try await Self.signIn(Self.sellerPhone, harness)
            let released = try await harness.send(.get, "/v1/escrows/\(escrowID)", token: later)
            #expect(released["status"] as? String == "completed")
            #expect((released["timeline"] as? [[String: Any]])?.last?["actor"] as? String == "system")
            #expect(try await Self.balance("escrow_holding:platform:KES", harness) == 0)
            #expect(try await harness.transfers(startingWith: escrowID) == 2)
        }
    }

    @Test("closed, expired and sold-out links, shipping unpaid, a declined payment: specific codes, nothing moves")
    func badInput() async throws {
        try await Self.run { harness in
            let seller = try await Self.signIn(Self.sellerPhone, harness)
            func link(_ extra: [String: Any] = [:]) async throws -> String {
                var body: [String: Any] = ["title": "Sandals", "price": Self.price, "currency": "KES"]
                body.merge(extra) { $1 }
                let reply = try await harness.send(.post, "/v1/payment-links", body, token: seller)
                #expect(reply.status == .created, "\(reply.json)")
                return reply.id
            }
            func checkout(_ linkID: String, phone: String = Self.buyerPhone) async throws -> PaymentHarness.Reply {
                try await harness.send(
                    .post, "/v1/payment-links/\(linkID)/checkout", ["phone": phone, "name": "Baraka"], token: nil,
                    idempotencyKey: UUID().uuidString)
            }
            let tooCheap = try await harness.send(
                .post, "/v1/payment-links", ["title": "Pin", "price": 1_000, "currency": "KES"], token: seller)
            #expect(tooCheap.code == "escrow.price_below_fee")
            let noGateway = try await harness.send(
                .post, "/v1/payment-links", ["title": "Pin", "price": 100_000, "currency": "XOF"], token: seller)
            #expect(noGateway.code == "escrow.no_gateway")

            let closed = try await link()
            #expect(
                try await harness.send(.post, "/v1/payment-links/\(closed)/close", token: seller)["status"]
                    as? String == "closed")
            #expect(try await checkout(closed).code == "escrow.link_closed")

            let single = try await link(["quantity": 1])
            let pending = try await checkout(single, phone: "+254700000004")  // never completes
            #expect(pending.status == .created, "\(pending.json)")
            #expect(try await checkout(single).code == "escrow.link_sold_out")
            // Shipping before the money arrived.
            #expect(
                try await harness.send(.post, "/v1/escrows/\(pending.id)/ship", token: seller).code
                    == "escrow.not_funded")

            // A declined payment cancels the escrow and puts the unit back on sale.
            let declinedLink = try await link(["quantity": 1])
            let declined = try await checkout(declinedLink, phone: "+254700000001")
            let paymentID = try #require((declined["payment"] as? [String: Any])?["id"] as? String)
            try await harness.waitFor(paymentID, status: "failed")
            let cancelled = try await harness.send(.get, "/v1/escrows/\(declined.id)", token: seller)
            #expect(cancelled["status"] as? String == "cancelled")
            let relisted = try await harness.send(.get, "/v1/payment-links/\(declinedLink)", token: seller)
            #expect(relisted["quantity_available"] as? Int == 1)
            #expect(relisted["payable"] as? Bool == true)
            #expect(try await harness.transfers(startingWith: declined.id) == 0)
            #expect(try await Self.balance("escrow_holding:platform:KES", harness) == 0)

            // Last: moving the clock outlives the seller's access token.
            let expiring = try await link(["expires_at": harness.clock.now().adding(milliseconds: 3_600_000).rfc3339])
            harness.clock.advance(milliseconds: 3_600_000)
            #expect(try await checkout(expiring).code == "escrow.link_expired")
        }
    }

    @Test("a dispute freezes the money; an admin's release, refund and split each balance in the ledger")
    func disputes() async throws {
        try await Self.run { harness in
            let seller = try await Self.signIn(Self.sellerPhone, harness)
            let buyer = try await Self.signIn(Self.buyerPhone, harness)
            let sellerID = try #require(try await Self.ownerReference(seller, harness))
            var released: Int64 = 0
            var revenue: Int64 = 0
            for outcome in ["release", "refund", "split"] {
                let escrowID = try await Self.paidEscrow(seller: seller, harness)
                _ = try await harness.send(.post, "/v1/escrows/\(escrowID)/ship", token: seller)
                _ = try await harness.send(.post, "/v1/escrows/\(escrowID)/deliver", token: seller)
                let opened = try await harness.send(
                    .post, "/v1/escrows/\(escrowID)/disputes",
                    ["reason": "The dress is torn", "evidence_links": ["https://img.example/torn.jpg"]], token: buyer)
                #expect(opened.status == .created, "\(opened.json)")
                #expect(opened["status"] as? String == "disputed")
                #expect(opened["release_due_at"] is NSNull, "the inspection window stops")
                #expect((opened["dispute"] as? [String: Any])?["opened_by"] as? String == "buyer")
                let again = try await harness.send(
                    .post, "/v1/escrows/\(escrowID)/disputes", ["reason": "again"], token: seller)
                #expect(again.code == "escrow.invalid_transition")
                let bySeller = try await harness.send(
                    .post, "/v1/escrows/\(escrowID)/dispute/resolve", ["outcome": "release"], token: seller)
                #expect(bySeller.status == .forbidden)
                var body: [String: Any] = ["outcome": outcome, "note": "photos checked"]
                if outcome == "split" {
                    let tooMuch = try await harness.send(
                        .post, "/v1/escrows/\(escrowID)/dispute/resolve",
                        ["outcome": "split", "seller_amount": Self.price])
                    #expect(tooMuch.status == .unprocessableContent || tooMuch.status == .badRequest, "\(tooMuch.json)")
                    body["seller_amount"] = 100_000
                }
                let resolved = try await harness.send(.post, "/v1/escrows/\(escrowID)/dispute/resolve", body)
                #expect(resolved.status == .ok, "\(resolved.json)")
                let dispute = try #require(resolved["dispute"] as? [String: Any])
                #expect(dispute["outcome"] as? String == outcome)
                switch outcome {
                case "release":
                    #expect(resolved["status"] as? String == "completed")
                    released += Self.price - Self.fee
                    revenue += Self.fee
                case "refund":
                    #expect(resolved["status"] as? String == "refunded")
                    #expect(resolved["refund_amount"] as? Int64 == Self.price)
                default:
                    #expect(resolved["status"] as? String == "completed")
                    #expect(resolved["refund_amount"] as? Int64 == 50_000)
                    // The fee's share of the seller's part: ⌊3 250 × 100 000 / 150 000⌋.
                    released += 100_000 - 2_166
                    revenue += 2_166
                }
                if outcome != "release" {
                    let refundID = try #require(resolved["refund_id"] as? String, "\(resolved.json)")
                    let paymentID = try #require(
                        try await harness.send(.get, "/v1/escrows/\(escrowID)", token: seller)["payment_id"] as? String)
                    try await Self.waitForRefund(refundID, of: paymentID, harness)
                }
                #expect(try await Self.balance("escrow_holding:platform:KES", harness) == 0, "\(outcome)")
                #expect(try await Self.balance("seller_payable:\(sellerID):KES", harness) == released, "\(outcome)")
                #expect(try await Self.balance("platform_revenue:platform:KES", harness) == revenue, "\(outcome)")
                let late = try await harness.send(
                    .post, "/v1/escrows/\(escrowID)/disputes", ["reason": "late"], token: buyer)
                #expect(late.code == "escrow.invalid_transition", "no dispute after the end")
            }
            // A disputed escrow is not released when its window would have ended.
            let frozen = try await Self.paidEscrow(seller: seller, harness)
            _ = try await harness.send(.post, "/v1/escrows/\(frozen)/ship", token: seller)
            _ = try await harness.send(.post, "/v1/escrows/\(frozen)/deliver", token: seller)
            _ = try await harness.send(
                .post, "/v1/escrows/\(frozen)/disputes", ["reason": "Not received"], token: buyer)
            harness.clock.advance(milliseconds: 73 * 3_600_000)
            #expect(try await harness.dependencies.escrows.releaseDue() == 0)
            #expect(try await Self.balance("escrow_holding:platform:KES", harness) == Self.price)
            let report = try await LedgerVerifier.verify(harness.database)
            #expect(report.isValid, "\(report.violations)")
        }
    }

    @Test("released money pays out: payable → in transit → M-Pesa B2C; a failed payout returns it; no overdraft")
    func payouts() async throws {
        try await Self.run { harness in
            let seller = try await Self.signIn(Self.sellerPhone, harness)
            let buyer = try await Self.signIn(Self.buyerPhone, harness)
            let sellerID = try #require(try await Self.ownerReference(seller, harness))
            let escrowID = try await Self.paidEscrow(seller: seller, harness)
            for step in ["ship", "deliver"] {
                _ = try await harness.send(.post, "/v1/escrows/\(escrowID)/\(step)", token: seller)
            }
            _ = try await harness.send(.post, "/v1/escrows/\(escrowID)/confirm", token: buyer)
            let available = Self.price - Self.fee
            let payable = "seller_payable:\(sellerID):KES"
            #expect(try await Self.balance(payable, harness) == available)

            func payout(_ amount: Int64) async throws -> PaymentHarness.Reply {
                try await harness.send(
                    .post, "/v1/payouts", ["amount": amount, "currency": "KES"], token: seller,
                    idempotencyKey: UUID().uuidString)
            }
            #expect(try await payout(100_000).code == "payout.destination_missing")
            let destination = try await harness.send(
                .put, "/v1/payout-destinations/KES",
                ["gateway": "mpesa", "type": "mobile_money", "phone": "0711000111", "name": "Wanjiru"], token: seller)
            #expect(destination.status == .ok, "\(destination.json)")
            #expect(destination["phone"] as? String != Self.sellerPhone, "masked")
            #expect(try await payout(200_000).code == "payout.insufficient_balance")
            #expect(try await payout(100_050).code == "payment.amount_not_representable", "whole shillings only")
            #expect(try await Self.balance(payable, harness) == available, "refusals move nothing")

            let sent = try await payout(100_000)
            #expect(sent.status == .created, "\(sent.json)")
            let done = try await Self.waitForPayout(sent.id, status: "succeeded", token: seller, harness)
            #expect(done["provider_reference"] is String)
            #expect(try await Self.balance(payable, harness) == available - 100_000)
            #expect(try await Self.balance("payouts_in_transit:platform:KES", harness) == 0)
            let summary = try await Self.summary(seller, harness)
            #expect(summary?["available"] as? Int64 == available - 100_000, "\(String(describing: summary))")
            #expect(summary?["held"] as? Int64 == 0)
            #expect(summary?["in_transit"] as? Int64 == 0)

            // A destination the sandbox refuses (…0001): the money comes back to the payable.
            _ = try await harness.send(
                .put, "/v1/payout-destinations/KES",
                ["gateway": "mpesa", "type": "mobile_money", "phone": "0711000001", "name": "Wanjiru"], token: seller)
            let refused = try await payout(10_000)
            #expect(refused.status == .created, "\(refused.json)")
            let failed = try await Self.waitForPayout(refused.id, status: "failed", token: seller, harness)
            #expect(failed["failure"] is [String: Any])
            #expect(try await Self.balance(payable, harness) == available - 100_000)
            #expect(try await Self.balance("payouts_in_transit:platform:KES", harness) == 0)
            let listed = try await harness.send(.get, "/v1/payouts", token: seller)
            #expect((listed["data"] as? [[String: Any]])?.count == 2)
            let stranger = try await Self.signIn("+254722000333", harness)
            #expect(try await harness.send(.get, "/v1/payouts/\(sent.id)", token: stranger).code == "payout.not_found")
            let report = try await LedgerVerifier.verify(harness.database)
            #expect(report.isValid, "\(report.violations)")
        }
    }

    /// Polls a payout until it has `status` (the provider's result arrives by callback).
    @discardableResult
    static func waitForPayout(
        _ id: String, status: String, token: String, _ harness: PaymentHarness
    ) async throws -> PaymentHarness.Reply {
        let deadline = ContinuousClock.now + .seconds(10)
        var last = try await harness.send(.get, "/v1/payouts/\(id)", token: token)
        while last["status"] as? String != status, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            last = try await harness.send(.get, "/v1/payouts/\(id)", token: token)
        }
        #expect(last["status"] as? String == status, "\(last.json)")
        return last
    }

    @Test("hosted pages: /pay shows the link and its form, the form pays by STK push, /track shows the escrow masked")
    func pages() async throws {
        try await Self.run { harness in
            let seller = try await Self.signIn(Self.sellerPhone, harness)
            let link = try await harness.send(
                .post, "/v1/payment-links", ["title": "Ankara <bag>", "price": Self.price, "currency": "KES"],
                token: seller)
            let page = try await harness.send(.get, "/pay/\(link.id)", token: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            let html = String(decoding: page.bytes, as: UTF8.self)
            #expect(html.contains("Ankara &lt;bag&gt;"), "escaped")
            #expect(html.contains("<form method=\"post\" action=\"/pay/\(link.id)\">"))
            #expect(html.contains("1,500.00 KES") || html.contains("1500.00 KES"), "\(html)")

            func submit(_ form: String) async throws -> PaymentHarness.Reply {
                try await harness.send(
                    .post, "/pay/\(link.id)", nil, token: nil,
                    headers: [.contentType: "application/x-www-form-urlencoded"], rawBody: Array(form.utf8))
            }
            let bad = try await submit("phone=12&name=Amina&key=k1")
            #expect(bad.status == .unprocessableContent)
            #expect(String(decoding: bad.bytes, as: UTF8.self).contains("role=\"alert\""))
            let paid = try await submit("phone=0700000000&name=Amina+W&key=k2")
            #expect(paid.status == .seeOther)
            let location = try #require(paid.headers[.location])
            #expect(location.hasPrefix("/track/esc_"))
            let again = try await submit("phone=0700000000&name=Amina+W&key=k2")
            #expect(again.headers[.location] == location, "the same form twice opens one escrow")
            let escrowID = String(location.dropFirst("/track/".count))
            let paymentID = try #require(
                try await harness.send(.get, "/v1/escrows/\(escrowID)", token: seller)["payment_id"] as? String)
            try await harness.waitFor(paymentID, status: "succeeded")
            let track = try await harness.send(.get, location, token: nil)
            let text = String(decoding: track.bytes, as: UTF8.self)
            #expect(track.status == .ok)
            #expect(text.contains("Paid — held in escrow"), "\(text)")
            #expect(!text.contains("700000000"), "the buyer's phone is masked")
            #expect(!text.contains("711000111"), "the seller's phone is masked")

            _ = try await harness.send(.post, "/v1/payment-links/\(link.id)/close", token: seller)
            let closed = String(
                decoding: try await harness.send(.get, "/pay/\(link.id)", token: nil).bytes, as: UTF8.self)
            #expect(closed.contains("The seller closed this link."))
            #expect(!closed.contains("<form"))
            #expect(try await harness.send(.get, "/track/esc_nope", token: nil).status == .notFound)
        }
    }

    @Test(
        "risk check: a blocked phone and a buyer's velocity are refused, a new seller's large sale is held for review")
    func risk() async throws {
        for kind in TestDatabases.kinds {
            try await PaymentHarness.with(
                kind,
                escrow: { configuration in
                    configuration.risk.blockedPhones = ["+254700000077"]
                    configuration.risk.buyerCheckoutsPerHourMax = 2
                    configuration.risk.newSellerAmountMax = ["KES": 200_000]
                }
            ) { harness in
                let seller = try await Self.signIn(Self.sellerPhone, harness)
                func link(_ price: Int64) async throws -> String {
                    try await harness.send(
                        .post, "/v1/payment-links", ["title": "Radio", "price": price, "currency": "KES"], token: seller
                    ).id
                }
                func checkout(_ linkID: String, _ phone: String) async throws -> PaymentHarness.Reply {
                    try await harness.send(
                        .post, "/v1/payment-links/\(linkID)/checkout", ["phone": phone, "name": "Otieno"], token: nil,
                        idempotencyKey: UUID().uuidString)
                }
                let small = try await link(Self.price)
                let blocked = try await checkout(small, "+254700000077")
                #expect(blocked.code == "escrow.checkout_refused", "\(blocked.json)")
                #expect(blocked.status == .forbidden)
                #expect((blocked.json["detail"] as? String)?.contains("blocked_phone") == true)
                #expect(try await harness.count("SELECT COUNT(*) AS n FROM escrows") == 0, "nothing opened or charged")

                // Velocity: two checkouts an hour from one phone pass, the third is refused.
                #expect(try await checkout(small, "+254700000010").status == .created)
                #expect(try await checkout(small, "+254700000010").status == .created)
                #expect(try await checkout(small, "+254700000010").code == "escrow.checkout_refused")

                // A new seller's sale above the limit goes through but is held: no release until an admin clears it.
                let large = try await link(300_000)
                let held = try await checkout(large, Self.buyerPhone)
                #expect(held.status == .created, "\(held.json)")
                let paymentID = try #require((held["payment"] as? [String: Any])?["id"] as? String)
                try await harness.waitFor(paymentID, status: "succeeded")
                _ = try await harness.send(.post, "/v1/escrows/\(held.id)/ship", token: seller)
                let delivered = try await harness.send(.post, "/v1/escrows/\(held.id)/deliver", token: seller)
                #expect((delivered["review"] as? String)?.contains("new_seller_amount") == true, "\(delivered.json)")
                let buyer = try await Self.signIn(Self.buyerPhone, harness)
                let refused = try await harness.send(.post, "/v1/escrows/\(held.id)/confirm", token: buyer)
                #expect(refused.code == "escrow.under_review", "\(refused.json)")
                harness.clock.advance(milliseconds: 73 * 3_600_000)
                #expect(try await harness.dependencies.escrows.releaseDue() == 0, "no auto-release while held")
                let cleared = try await harness.send(.post, "/v1/escrows/\(held.id)/review/clear")
                #expect(cleared.status == .ok, "\(cleared.json)")
                #expect(cleared["review"] is NSNull)
                #expect(try await harness.dependencies.escrows.releaseDue() == 1)
                let decisions = try await harness.database.withConnection { connection in
                    try await connection.raw("SELECT outcome FROM risk_decisions ORDER BY at, outcome").all().map {
                        try $0.decode(column: "outcome", as: String.self)
                    }
                }
                #expect(decisions.sorted() == ["allow", "allow", "hold", "refuse", "refuse"], "every decision logged")
            }
        }
    }

    /// Polls until the refund succeeded (the gateway's result callback is applied in the background).
    static func waitForRefund(_ id: String, of paymentID: String, _ harness: PaymentHarness) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var status: String?
        while ContinuousClock.now < deadline {
            let refunds = try await harness.send(.get, "/v1/payments/\(paymentID)/refunds")["data"] as? [[String: Any]]
            status = refunds?.first { $0["id"] as? String == id }?["status"] as? String
            if status == "succeeded" { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("refund \(id) is \(status ?? "missing"), not succeeded")
    }

    // MARK: Helpers

    /// A link checked out and paid; returns the escrow id.
    static func paidEscrow(seller: String, _ harness: PaymentHarness) async throws -> String {
        let link = try await harness.send(
            .post, "/v1/payment-links", ["title": "Basket", "price": Self.price, "currency": "KES"], token: seller)
        let checkout = try await harness.send(
            .post, "/v1/payment-links/\(link.id)/checkout", ["phone": Self.buyerPhone, "name": "Amina"], token: nil,
            idempotencyKey: UUID().uuidString)
        let paymentID = try #require((checkout["payment"] as? [String: Any])?["id"] as? String)
        try await harness.waitFor(paymentID, status: "succeeded")
        return checkout.id
    }

    /// Signs in by SMS code (read from the dev sink); returns the access token.
    static func signIn(_ phone: String, _ harness: PaymentHarness) async throws -> String {
        let requested = try await harness.send(.post, "/v1/auth/otp", ["phone": phone], token: nil)
        #expect(requested.status == .accepted, "\(requested.json)")
        let body = try #require(try await Self.messages(to: phone, harness).first?["body"] as? String)
        let code = try #require(body.firstMatch(of: /\d{6}/).map { String($0.output) })
        let reply = try await harness.send(.post, "/v1/auth/otp/verify", ["phone": phone, "code": code], token: nil)
        return try #require(reply["access_token"] as? String, "\(reply.json)")
    }

    /// The dev sink's SMS to `phone`, newest first, after delivering the outbox.
    static func messages(to phone: String, _ harness: PaymentHarness) async throws -> [[String: Any]] {
        let dependencies = harness.dependencies
        let service = OutboxDeliveryService(
            outbox: dependencies.outbox, database: harness.database, sms: dependencies.sms, email: dependencies.email,
            clock: harness.clock, logger: TestDatabases.logger)
        // The application's own delivery service may hold a message it is sending: wait for it too.
        for _ in 0..<500 {
            while try await service.deliverDue() > 0 {}
            if try await harness.count("SELECT COUNT(*) AS n FROM outbox_messages WHERE status = 'pending'") == 0 {
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let encoded = phone.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? phone
        return try await harness.send(.get, "/v1/dev/messages?to=\(encoded)")["data"] as? [[String: Any]] ?? []
    }

    /// The user id behind an access token.
    static func ownerReference(_ token: String, _ harness: PaymentHarness) async throws -> String? {
        try await harness.send(.get, "/v1/me", token: token)["id"] as? String
    }

    /// `GET /v1/balances`' KES summary for the token's owner.
    static func summary(_ token: String, _ harness: PaymentHarness) async throws -> [String: Any]? {
        let reply = try await harness.send(.get, "/v1/balances", token: token)
        return (reply["summary"] as? [[String: Any]])?.first { $0["currency"] as? String == "KES" }
    }

    /// Credits posted − debits posted of an account (0 when it does not exist).
    static func balance(_ id: String, _ harness: PaymentHarness) async throws -> Int64 {
        let account = try await harness.dependencies.ledger.account(try #require(LedgerAccount.ID(id)))
        return account.map { $0.balances.creditsPosted - $0.balances.debitsPosted } ?? 0
    }
}
