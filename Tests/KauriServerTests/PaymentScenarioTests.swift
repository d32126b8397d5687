import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriSandbox
import Testing

@testable import KauriPayments

/// One gateway and payment method of the scenario table.
struct GatewayCase: Sendable, CustomStringConvertible {
    let description: String
    let gateway: String
    let currency: String
    let amount: Int64
    let provider: SandboxProvider
    let isRedirect: Bool
    /// The payer's phone without its last four digits (they script the sandbox's outcome).
    let phonePrefix: String
    let mobileProvider: String

    /// `POST /v1/payments`'s body; `outcome` is the sandbox's four-digit phone suffix (`0000` approves).
    func body(outcome: String = "0000") -> [String: Any] {
        var body: [String: Any] = [
            "amount": self.amount, "currency": self.currency, "gateway": self.gateway,
            "customer": ["email": "buyer@example.com", "name": "Ama Buyer"], "reference": "order-1042",
        ]
        body["method"] =
            self.isRedirect
            ? ["type": "redirect"]
            : ["type": "mobile_money", "phone": self.phonePrefix + outcome, "provider": self.mobileProvider]
        if self.isRedirect { body["return_url"] = "https://shop.example/thanks?order=1042" }
        return body
    }

    static let paystackRedirect = GatewayCase(
        description: "paystack checkout", gateway: "paystack", currency: "NGN", amount: 250_000, provider: .paystack,
        isRedirect: true, phonePrefix: "", mobileProvider: "")
    static let paystackMobileMoney = GatewayCase(
        description: "paystack MTN mobile money", gateway: "paystack", currency: "GHS", amount: 5_000,
        provider: .paystack, isRedirect: false, phonePrefix: "+23355123", mobileProvider: "mtn")
    static let mpesa = GatewayCase(
        description: "mpesa STK push", gateway: "mpesa", currency: "KES", amount: 150_000, provider: .daraja,
        isRedirect: false, phonePrefix: "+25470000", mobileProvider: "mpesa")
    static let payhero = GatewayCase(
        description: "payhero STK push", gateway: "payhero", currency: "KES", amount: 20_000, provider: .payhero,
        isRedirect: false, phonePrefix: "+25471100", mobileProvider: "mpesa")

    static let all = [paystackRedirect, paystackMobileMoney, mpesa, payhero]
}

/// The scenario table of the payments issue, run against every adapter through the sandbox over loopback HTTP,
/// on SQLite and PostgreSQL: approve, decline, pending then webhook, callback lost then poll, provider timeout,
/// the same webhook 20× at once, a replayed webhook, a forged signature, an amount mismatch, a partial refund.
@Suite("Payment scenarios", .serialized)
struct PaymentScenarioTests {
    /// Starts a payment that the sandbox will approve (completing the checkout for redirects).
    static func start(
        _ gatewayCase: GatewayCase, _ harness: PaymentHarness, outcome: String = "0000", succeed: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> PaymentHarness.Reply {
        let created = try await harness.createPayment(gatewayCase.body(outcome: outcome))
        #expect(created.status == .created, "\(created.json)", sourceLocation: sourceLocation)
        #expect(created.paymentStatus == "requires_action", "\(created.json)", sourceLocation: sourceLocation)
        if gatewayCase.isRedirect {
            let action = try #require(created["next_action"] as? [String: Any], sourceLocation: sourceLocation)
            #expect(action["type"] as? String == "redirect", sourceLocation: sourceLocation)
            await harness.sandbox.payments.completeCheckout(
                reference: created.id.replacingOccurrences(of: "_", with: "-"), succeed: succeed)
        } else {
            let action = try #require(created["next_action"] as? [String: Any], sourceLocation: sourceLocation)
            #expect(action["type"] as? String == "confirm_on_phone", sourceLocation: sourceLocation)
        }
        return created
    }

    @Test("approve: succeeded, one ledger transfer, the payable credited", arguments: GatewayCase.all)
    func approve(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            let created = try await Self.start(gatewayCase, harness)
            let paid = try await harness.waitFor(created.id, status: "succeeded")
            #expect(paid["succeeded_at"] is String)
            #expect(paid["next_action"] is NSNull)
            #expect(try await harness.transfers(startingWith: created.id) == 1)
            #expect(try await harness.payable(gatewayCase.currency) == gatewayCase.amount)
            let reference = created.id.replacingOccurrences(of: "_", with: "-")
            if !gatewayCase.isRedirect || gatewayCase.provider == .paystack {
                // Exactly one charge at the provider (the redirect's initialize is its create call).
                #expect(
                    harness.sandbox.payments.records(provider: gatewayCase.provider, reference: reference).count <= 1)
            }
        }
    }

    @Test("decline: failed with the gateway's reason, nothing credited", arguments: GatewayCase.all)
    func decline(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            let created = try await Self.start(gatewayCase, harness, outcome: "0001", succeed: false)
            if gatewayCase.isRedirect {
                // The customer comes back through the return URL, which asks the gateway.
                let back = try await harness.send(.get, "/v1/payments/\(created.id)/return", token: nil)
                #expect(back.status == .seeOther)
                let location = back.headers[.location] ?? ""
                #expect(location.hasPrefix("https://shop.example/thanks?order=1042&payment_id=\(created.id)"))
            } else if gatewayCase.provider == .paystack {
                // Paystack sends no webhook for a failed charge: the status poll finds it.
                try await Task.sleep(for: .milliseconds(100))
                try await harness.reconcile()
            }
            let failed = try await harness.waitFor(created.id, status: "failed")
            let failure = try #require(failed["failure"] as? [String: Any])
            #expect((failure["code"] as? String)?.hasPrefix(gatewayCase.gateway + ".") == true, "\(failure)")
            #expect(try await harness.transfers(startingWith: created.id) == 0)
            #expect(try await harness.payable(gatewayCase.currency) == 0)
        }
    }

    @Test("pending, then the webhook: requires_action until the callback lands", arguments: GatewayCase.all)
    func pendingThenWebhook(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            harness.sandbox.payments.setCallbackDelay(.milliseconds(400))
            let created = try await Self.start(gatewayCase, harness)
            let early = try await harness.payment(created.id)
            #expect(early.paymentStatus == "requires_action")
            try await harness.waitFor(created.id, status: "succeeded")
            #expect(try await harness.transfers(startingWith: created.id) == 1)
        }
    }

    @Test("callback lost: the status poll finds the success", arguments: GatewayCase.all)
    func callbackLostThenPoll(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            if gatewayCase.isRedirect { harness.sandbox.faults.dropNextCallback(provider: gatewayCase.provider) }
            let created = try await Self.start(gatewayCase, harness, outcome: "0003")
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await harness.payment(created.id).paymentStatus == "requires_action")
            try await harness.reconcile()
            try await harness.waitFor(created.id, status: "succeeded")
            #expect(try await harness.transfers(startingWith: created.id) == 1)
        }
    }

    @Test("provider slower than our timeout: processing, never assumed, then settled", arguments: GatewayCase.all)
    func providerTimeout(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            if gatewayCase.provider == .daraja {
                // Fetch the OAuth token first, so the slow answer is the STK push's, not the token's.
                _ = try? await harness.gateways[.mpesa]?.verify(
                    VerifyRequest(reference: GatewayReference("warm-up"), providerReference: "ws_CO_0", currency: .kes))
            }
            harness.sandbox.faults.delayNext(provider: gatewayCase.provider, by: .seconds(2))
            let created = try await harness.createPayment(gatewayCase.body())
            #expect(created.status == .created, "\(created.json)")
            #expect(created.paymentStatus == "processing", "\(created.json)")
            // The provider did act (after our deadline); its callback or our poll settles the payment.
            try await Task.sleep(for: .seconds(2))
            if gatewayCase.isRedirect {
                await harness.sandbox.payments.completeCheckout(
                    reference: created.id.replacingOccurrences(of: "_", with: "-"), succeed: true)
            }
            try await harness.reconcile()
            try await harness.waitFor(created.id, status: "succeeded")
            #expect(try await harness.transfers(startingWith: created.id) == 1)
        }
    }

    @Test("provider 500: processing, then settled by the poll", arguments: [GatewayCase.paystackMobileMoney])
    func provider500(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            harness.sandbox.faults.failNext(provider: gatewayCase.provider, status: 500)
            let created = try await harness.createPayment(gatewayCase.body())
            #expect(created.status == .created, "\(created.json)")
            #expect(created.paymentStatus == "processing", "\(created.json)")
            // The charge never reached the provider: the poll finds no such transaction and the payment fails.
            try await harness.reconcile()
            let failed = try await harness.waitFor(created.id, status: "failed")
            #expect(failed["failure"] is [String: Any])
            #expect(try await harness.transfers(startingWith: created.id) == 0)
        }
    }

    @Test("the same webhook 20× at once: stored once, credited once", arguments: GatewayCase.all)
    func duplicateWebhooks(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            harness.sandbox.faults.duplicateNextCallback(provider: gatewayCase.provider, times: 20)
            let created = try await Self.start(gatewayCase, harness)
            try await harness.waitFor(created.id, status: "succeeded")
            await harness.sandbox.payments.waitForScheduledCallbacks()
            try await harness.drainInbox()
            #expect(try await harness.transfers(startingWith: created.id) == 1)
            #expect(try await harness.payable(gatewayCase.currency) == gatewayCase.amount)
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM payment_webhook_events") == 1)
        }
    }

    @Test("a replayed webhook changes nothing", arguments: GatewayCase.all)
    func replayedWebhook(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            let created = try await Self.start(gatewayCase, harness)
            try await harness.waitFor(created.id, status: "succeeded")
            await harness.sandbox.payments.waitForScheduledCallbacks()
            try await harness.drainInbox()
            let stored = try await harness.database.withConnection { connection in
                try await connection.raw("SELECT body, headers, target_id FROM payment_webhook_events").all()
            }
            for row in stored {
                let body = try row.decode(column: "body", as: String.self)
                let headers = try JSONDecoder().decode(
                    [String: String].self, from: Data(try row.decode(column: "headers", as: String.self).utf8))
                var fields = HTTPFields()
                for (name, value) in headers where name.hasPrefix("x-") || name == "content-type" {
                    fields[HTTPField.Name(name)!] = value
                }
                let path =
                    try row.decode(column: "target_id", as: String?.self).map {
                        harness.payments.callbackURL(for: $0).replacingOccurrences(
                            of: harness.payments.publicURL, with: "")
                    } ?? "/v1/webhooks/\(gatewayCase.gateway)"
                let replay = try await harness.send(
                    .post, path, token: nil, headers: fields, rawBody: Array(body.utf8))
                #expect(replay.status == .ok)
            }
            try await harness.drainInbox()
            #expect(try await harness.transfers(startingWith: created.id) == 1)
            #expect(try await harness.payable(gatewayCase.currency) == gatewayCase.amount)
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM payment_webhook_events") == stored.count)
        }
    }

    @Test("a forged signature or callback token: 401, nothing stored, nothing credited")
    func forgedSignature() async throws {
        try await PaymentHarness.forEachEngine { harness in
            // Paystack signed with the wrong key.
            harness.sandbox.faults.corruptNextCallbackSignature(provider: .paystack)
            let created = try await Self.start(.paystackRedirect, harness)
            await harness.sandbox.payments.waitForScheduledCallbacks()
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await harness.payment(created.id).paymentStatus == "requires_action")
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM payment_webhook_events") == 0)
            // A hand-made Paystack event: valid shape, bad signature.
            let body = Array(
                #"{"event":"charge.success","data":{"id":1,"reference":"x","amount":1,"currency":"NGN","status":"success"}}"#
                    .utf8)
            let forged = try await harness.send(
                .post, "/v1/webhooks/paystack", token: nil,
                headers: [HTTPField.Name("x-paystack-signature")!: String(repeating: "ab", count: 64)], rawBody: body)
            #expect(forged.status == .unauthorized)
            #expect(forged.code == "webhook.signature_invalid")
            let unsigned = try await harness.send(.post, "/v1/webhooks/paystack", token: nil, rawBody: body)
            #expect(unsigned.status == .unauthorized)
            // An unsigned gateway's callback without the payment's token, or with a wrong one.
            let mpesa = try await harness.send(.post, "/v1/webhooks/mpesa", token: nil, rawBody: Array("{}".utf8))
            #expect(mpesa.status == .unauthorized)
            let wrongToken = try await harness.send(
                .post, "/v1/callbacks/\(created.id)/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", token: nil,
                rawBody: Array("{}".utf8))
            #expect(wrongToken.status == .unauthorized)
            #expect(try await harness.count("SELECT COUNT(*) AS n FROM payment_webhook_events") == 0)
            #expect(try await harness.transfers(startingWith: created.id) == 0)
            // The truth still arrives by the status poll.
            try await harness.reconcile()
            try await harness.waitFor(created.id, status: "succeeded")
        }
    }

    @Test("an M-Pesa callback claiming success the provider does not confirm credits nothing")
    func unconfirmedCallback() async throws {
        try await PaymentHarness.forEachEngine { harness in
            harness.sandbox.faults.dropNextCallback(provider: .daraja)
            let created = try await Self.start(.mpesa, harness, outcome: "0004")
            let providerReference = try #require(created["provider_reference"] as? String)
            let callback = Self.darajaSuccessCallback(checkoutRequestID: providerReference, amount: 1_500)
            let path = harness.payments.callbackURL(for: created.id).replacingOccurrences(
                of: harness.payments.publicURL, with: "")
            let reply = try await harness.send(.post, path, token: nil, rawBody: Array(callback.utf8))
            #expect(reply.status == .ok)
            try await Task.sleep(for: .milliseconds(200))
            try await harness.payments.applyDueEvents()
            #expect(try await harness.payment(created.id).paymentStatus == "requires_action")
            #expect(try await harness.transfers(startingWith: created.id) == 0)
        }
    }

    @Test("amount mismatch: held for review, never credited")
    func amountMismatch() async throws {
        try await PaymentHarness.forEachEngine { harness in
            // Paystack: a correctly signed charge.success for less than the payment.
            let created = try await harness.createPayment(GatewayCase.paystackRedirect.body())
            let reference = created.id.replacingOccurrences(of: "_", with: "-")
            let body = Array(
                """
                {"event":"charge.success","data":{"id":4099260516,"domain":"test","status":"success","reference":"\(reference)","amount":100,"currency":"NGN","gateway_response":"Successful","paid_at":"2026-11-22T10:00:00.000Z","channel":"card","customer":{"email":"buyer@example.com"}}}
                """.utf8)
            let key = SymmetricKey(data: Data(harness.sandbox.credentials.paystackSecretKey.utf8))
            let signature = HMAC<SHA512>.authenticationCode(for: body, using: key).map { String(format: "%02x", $0) }
                .joined()
            let reply = try await harness.send(
                .post, "/v1/webhooks/paystack", token: nil,
                headers: [HTTPField.Name("x-paystack-signature")!: signature, .contentType: "application/json"],
                rawBody: body)
            #expect(reply.status == .ok)
            try await harness.drainInbox()
            let held = try await harness.payment(created.id)
            #expect((held["review"] as? [String: Any])?["reason"] as? String == "amount_mismatch", "\(held.json)")
            #expect(held.paymentStatus != "succeeded")
            #expect(try await harness.transfers(startingWith: created.id) == 0)
            #expect(
                try await harness.count("SELECT COUNT(*) AS n FROM payment_webhook_events WHERE state = 'flagged'") == 1
            )
            // M-Pesa: an authentic callback whose amount differs from the intent.
            harness.sandbox.faults.dropNextCallback(provider: .daraja)
            let mpesa = try await Self.start(.mpesa, harness)
            try await Task.sleep(for: .milliseconds(100))
            let callback = Self.darajaSuccessCallback(
                checkoutRequestID: try #require(mpesa["provider_reference"] as? String), amount: 1)
            let path = harness.payments.callbackURL(for: mpesa.id).replacingOccurrences(
                of: harness.payments.publicURL, with: "")
            #expect(try await harness.send(.post, path, token: nil, rawBody: Array(callback.utf8)).status == .ok)
            try await harness.drainInbox()
            let heldMpesa = try await harness.payment(mpesa.id)
            #expect((heldMpesa["review"] as? [String: Any])?["reason"] as? String == "amount_mismatch")
            #expect(try await harness.transfers(startingWith: mpesa.id) == 0)
        }
    }

    @Test("partial refund: pending, then succeeded; the ledger returns exactly that", arguments: GatewayCase.all)
    func partialRefund(_ gatewayCase: GatewayCase) async throws {
        try await PaymentHarness.forEachEngine { harness in
            let created = try await Self.start(gatewayCase, harness)
            try await harness.waitFor(created.id, status: "succeeded")
            let half = gatewayCase.amount / 2
            let refund = try await harness.send(
                .post, "/v1/payments/\(created.id)/refunds", ["amount": half, "reason": "one item returned"],
                idempotencyKey: UUID().uuidString)
            #expect(refund.status == .created, "\(refund.json)")
            let refundID = refund.id
            // Too much: more than what is left.
            let tooMuch = try await harness.send(
                .post, "/v1/payments/\(created.id)/refunds", ["amount": gatewayCase.amount],
                idempotencyKey: UUID().uuidString)
            #expect(tooMuch.status == .unprocessableContent)
            #expect(tooMuch.code == "payment.refund_exceeds_payment")
            let deadline = ContinuousClock.now + .seconds(10)
            var status = refund["status"] as? String
            while status != "succeeded" && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                let list = try await harness.send(.get, "/v1/payments/\(created.id)/refunds")
                status =
                    (list["data"] as? [[String: Any]])?.first { $0["id"] as? String == refundID }?["status"]
                    as? String
            }
            #expect(status == "succeeded")
            let payment = try await harness.payment(created.id)
            #expect(payment["amount_refunded"] as? Int64 == half || payment["amount_refunded"] as? Int == Int(half))
            #expect(try await harness.payable(gatewayCase.currency) == gatewayCase.amount - half)
        }
    }

    /// Daraja's documented success callback (gateways.md §3.4) for `checkoutRequestID`, amount in shillings.
    static func darajaSuccessCallback(checkoutRequestID: String, amount: Int) -> String {
        """
        {"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"\(checkoutRequestID)",\
        "ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[\
        {"Name":"Amount","Value":\(amount)},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},\
        {"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254700000004}]}}}}
        """
    }
}
