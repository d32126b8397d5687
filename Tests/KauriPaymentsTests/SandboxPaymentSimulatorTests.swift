import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import KauriSandbox
import Logging
import NIOCore
import Synchronization
import Testing

/// Drives the Paystack, Daraja and PayHero simulators over loopback HTTP with a plain client, and receives their
/// callbacks on a tiny local server, to prove the wire formats, the scripted outcomes and the fault switches.
@Suite("Sandbox payment simulators")
struct SandboxPaymentSimulatorTests {
    /// A logger that keeps the servers quiet.
    static let quietLogger: Logger = {
        var logger = Logger(label: "kauri.payments.tests")
        logger.logLevel = .critical
        return logger
    }()

    /// One request the receiver got.
    struct ReceivedCallback: Sendable {
        var path: String
        var headers: [String: String]
        var body: [UInt8]

        /// The body parsed as a JSON object.
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(self.body))) as? [String: Any] ?? [:]
        }
    }

    /// A local HTTP server that records every POST it gets and answers 200.
    final class CallbackReceiver: Sendable {
        let baseURL: String
        private let received: Mutex<[ReceivedCallback]>
        private let task: Task<Void, any Error>
        private let close: @Sendable () async -> Void

        private init(baseURL: String, task: Task<Void, any Error>, close: @escaping @Sendable () async -> Void) {
            self.baseURL = baseURL
            self.received = Mutex([])
            self.task = task
            self.close = close
        }

        static func start() async throws -> CallbackReceiver {
            let store = Store()
            let router = Router()
            router.post("/**") { request, _ -> Response in
                let buffer = try await request.body.collect(upTo: 1 << 20)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                store.append(
                    ReceivedCallback(path: request.uri.path, headers: headers, body: Array(buffer.readableBytesView)))
                return Response(status: .ok)
            }
            let (ports, continuation) = AsyncStream.makeStream(of: (Int?, @Sendable () async -> Void).self)
            let app = Application(
                router: router,
                configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    continuation.yield((channel.localAddress?.port, { try? await channel.close() }))
                    continuation.finish()
                },
                logger: SandboxPaymentSimulatorTests.quietLogger)
            let task = Task { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let (port, close) = try #require(await iterator.next())
            let receiver = CallbackReceiver(
                baseURL: "http://127.0.0.1:\(try #require(port))", task: task, close: close)
            store.receiver.withLock { $0 = receiver }
            return receiver
        }

        /// Forwards requests to the receiver once it exists.
        final class Store: Sendable {
            let receiver = Mutex<CallbackReceiver?>(nil)
            func append(_ callback: ReceivedCallback) {
                let receiver = self.receiver.withLock { $0 }
                receiver?.received.withLock { $0.append(callback) }
            }
        }

        var all: [ReceivedCallback] { self.received.withLock { $0 } }

        func stop() async {
            await self.close()
            self.task.cancel()
            _ = await self.task.result
        }
    }

    /// A started sandbox, a client and a receiver, shut down after `body` whether it passed or threw.
    static func run(
        callbackDelay: Duration = .milliseconds(5),
        _ body: (SandboxServer, HTTPClient, CallbackReceiver) async throws -> Void
    ) async throws {
        let sandbox = try await SandboxServer.start(logger: self.quietLogger, callbackDelay: callbackDelay)
        // Redirects are not followed, so the checkout's 302 to the merchant's callback URL can be checked.
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))
        let receiver = try await CallbackReceiver.start()
        do {
            try await body(sandbox, client, receiver)
        } catch {
            try await client.shutdown()
            await sandbox.shutdown()
            await receiver.stop()
            throw error
        }
        try await client.shutdown()
        await sandbox.shutdown()
        await receiver.stop()
    }

    /// A response's status, headers and body parsed as a JSON object.
    struct Answer {
        var status: Int
        var location: String?
        var text: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(self.text.utf8))) as? [String: Any] ?? [:]
        }
        var data: [String: Any] { self.json["data"] as? [String: Any] ?? [:] }
    }

    /// The HTTP methods the tests use.
    enum Verb {
        case GET
        case POST
    }

    static func send(
        _ client: HTTPClient, _ method: Verb, _ url: String, json: String? = nil, form: String? = nil,
        authorization: String? = nil, timeout: TimeAmount = .seconds(10)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        switch method {
        case .GET: request.method = .GET
        case .POST: request.method = .POST
        }
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        } else if let form {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        return Answer(
            status: Int(response.status.code), location: response.headers.first(name: "Location"),
            text: String(buffer: body))
    }

    static func paystackKey(_ sandbox: SandboxServer) -> String {
        "Bearer \(sandbox.credentials.paystackSecretKey)"
    }

    static func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    static func hexHMACSHA512(_ body: [UInt8], key: String) -> String {
        HMAC<SHA512>.authenticationCode(for: body, using: SymmetricKey(data: Array(key.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }

    /// A Daraja access token from the OAuth endpoint.
    static func darajaToken(_ sandbox: SandboxServer, _ client: HTTPClient) async throws -> String {
        let answer = try await self.send(
            client, .GET, "\(sandbox.baseURL)/daraja/oauth/v1/generate?grant_type=client_credentials",
            authorization: self.basic(sandbox.credentials.darajaConsumerKey, sandbox.credentials.darajaConsumerSecret))
        #expect(answer.status == 200)
        #expect(answer.json["expires_in"] as? String == "3599")
        return try #require(answer.json["access_token"] as? String)
    }

    /// `yyyyMMddHHmmss` in UTC shifted by `offsetHours`.
    static func darajaTimestamp(offsetHours: Int = 3) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: offsetHours * 3_600)
        formatter.dateFormat = "yyyyMMddHHmmss"
        return formatter.string(from: Date())
    }

    static func stkBody(
        _ sandbox: SandboxServer, phone: String, callbackURL: String, timestamp: String = darajaTimestamp(),
        passkey: String? = nil, accountReference: String = "INV-1", amount: String = "10"
    ) -> String {
        let shortCode = sandbox.credentials.darajaShortCode
        let password = Data((shortCode + (passkey ?? sandbox.credentials.darajaPasskey) + timestamp).utf8)
            .base64EncodedString()
        return """
            {"BusinessShortCode":"\(shortCode)","Password":"\(password)","Timestamp":"\(timestamp)",\
            "TransactionType":"CustomerPayBillOnline","Amount":\(amount),"PartyA":\(phone),"PartyB":\(shortCode),\
            "PhoneNumber":\(phone),"CallBackURL":"\(callbackURL)","AccountReference":"\(accountReference)",\
            "TransactionDesc":"Order 1"}
            """
    }

    static func stkQueryBody(_ sandbox: SandboxServer, checkoutRequestID: String) -> String {
        let shortCode = sandbox.credentials.darajaShortCode
        let timestamp = self.darajaTimestamp()
        let password = Data((shortCode + sandbox.credentials.darajaPasskey + timestamp).utf8).base64EncodedString()
        return """
            {"BusinessShortCode":\(shortCode),"Password":"\(password)","Timestamp":"\(timestamp)",\
            "CheckoutRequestID":"\(checkoutRequestID)"}
            """
    }

    static func b2cBody(_ sandbox: SandboxServer, id: String, phone: String, callbackURL: String) -> String {
        """
        {"OriginatorConversationID":"\(id)","InitiatorName":"\(sandbox.credentials.darajaInitiatorName)",\
        "SecurityCredential":"\(sandbox.credentials.darajaSecurityCredential)","CommandID":"BusinessPayment",\
        "Amount":100,"PartyA":\(sandbox.credentials.darajaB2CShortCode),"PartyB":\(phone),"Remarks":"Payout",\
        "QueueTimeOutURL":"\(callbackURL)/timeout","ResultURL":"\(callbackURL)/result","Occassion":""}
        """
    }

    // MARK: - Authentication

    @Test("Paystack refuses a wrong secret key with 401 Invalid key")
    func paystackRefusesWrongKey() async throws {
        try await Self.run { sandbox, client, _ in
            let answer = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/transaction/initialize",
                json: #"{"email":"a@example.com","amount":5000}"#, authorization: "Bearer sk_test_wrong")
            #expect(answer.status == 401)
            #expect(answer.json["status"] as? Bool == false)
            #expect(answer.json["message"] as? String == "Invalid key")
            #expect(sandbox.payments.all.isEmpty)
        }
    }

    @Test("Daraja refuses wrong consumer credentials and unknown access tokens")
    func darajaRefusesBadCredentials() async throws {
        try await Self.run { sandbox, client, receiver in
            let token = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/daraja/oauth/v1/generate?grant_type=client_credentials",
                authorization: Self.basic("nobody", "nothing"))
            #expect(token.status == 400)
            let push = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpush/v1/processrequest",
                json: Self.stkBody(sandbox, phone: "254708374149", callbackURL: receiver.baseURL + "/stk"),
                authorization: "Bearer not-a-token")
            #expect(push.status == 401)
            #expect(push.json["errorCode"] as? String == "404.001.03")
            #expect(push.json["errorMessage"] as? String == "Invalid Access Token")
            #expect(push.json["requestId"] is String)
        }
    }

    @Test("PayHero refuses wrong Basic credentials with 401")
    func payheroRefusesWrongCredentials() async throws {
        try await Self.run { sandbox, client, _ in
            let answer = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/payhero/api/v2/payments",
                json:
                    #"""
                    {"amount":10,"phone_number":"0712345678","channel_id":911,"provider":"m-pesa",\#
                    "external_reference":"A1"}
                    """#,
                authorization: Self.basic("nobody", "nothing"))
            #expect(answer.status == 401)
            #expect(answer.json["error_code"] as? String == "UNAUTHORIZED")
        }
    }

    // MARK: - Paystack

    @Test("Paystack hosted checkout: Pay redirects to the callback URL and sends a signed charge.success")
    func paystackCheckoutSendsSignedWebhook() async throws {
        try await Self.run { sandbox, client, receiver in
            sandbox.payments.setPaystackWebhookURL(receiver.baseURL + "/paystack")
            let initialized = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/transaction/initialize",
                json:
                    #"""
                    {"email":"buyer@example.com","amount":"12550","currency":"GHS","reference":"ord-1.a=b",\#
                    "callback_url":"https://shop.example/return?x=1"}
                    """#,
                authorization: Self.paystackKey(sandbox))
            #expect(initialized.status == 200)
            let accessCode = try #require(initialized.data["access_code"] as? String)
            let authorizationURL = try #require(initialized.data["authorization_url"] as? String)
            #expect(authorizationURL == "\(sandbox.baseURL)/paystack/checkout/\(accessCode)")
            #expect(initialized.data["reference"] as? String == "ord-1.a=b")

            let pending = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/paystack/transaction/verify/ord-1.a=b",
                authorization: Self.paystackKey(sandbox))
            #expect(pending.data["status"] as? String == "abandoned")

            let page = try await Self.send(client, .GET, authorizationURL)
            #expect(page.status == 200)
            #expect(page.text.contains("GHS 125.50"))
            #expect(page.text.contains(#"value="success""#) && page.text.contains(#"value="failed""#))
            #expect(!page.text.contains("<script"))

            let submitted = try await Self.send(client, .POST, authorizationURL, form: "outcome=success")
            #expect(submitted.status == 302)
            #expect(
                submitted.location
                    == "https://shop.example/return?x=1&trxref=ord-1.a%3Db&reference=ord-1.a%3Db")

            await sandbox.payments.waitForScheduledCallbacks()
            let webhooks = receiver.all
            #expect(webhooks.count == 1)
            let webhook = try #require(webhooks.first)
            #expect(webhook.path == "/paystack")
            #expect(
                webhook.headers["x-paystack-signature"]
                    == Self.hexHMACSHA512(webhook.body, key: sandbox.credentials.paystackSecretKey))
            #expect(webhook.json["event"] as? String == "charge.success")
            let data = try #require(webhook.json["data"] as? [String: Any])
            #expect(data["reference"] as? String == "ord-1.a=b")
            #expect(data["amount"] as? Int == 12_550)
            #expect(data["currency"] as? String == "GHS")
            #expect(data["status"] as? String == "success")
            #expect(data["id"] is Int)
            #expect((data["customer"] as? [String: Any])?["email"] as? String == "buyer@example.com")

            let verified = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/paystack/transaction/verify/ord-1.a=b",
                authorization: Self.paystackKey(sandbox))
            #expect(verified.data["status"] as? String == "success")
            #expect(verified.data["paid_at"] is String)
            #expect(sandbox.payments.records(provider: .paystack, reference: "ord-1.a=b").first?.status == .succeeded)
        }
    }

    @Test("completeCheckout declines a checkout without a webhook, and a second initialize is a duplicate")
    func paystackCompleteCheckoutAndDuplicate() async throws {
        try await Self.run { sandbox, client, receiver in
            sandbox.payments.setPaystackWebhookURL(receiver.baseURL + "/paystack")
            let body = #"{"email":"buyer@example.com","amount":5000,"reference":"dup-1"}"#
            let first = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/transaction/initialize", json: body,
                authorization: Self.paystackKey(sandbox))
            #expect(first.status == 200)
            let second = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/transaction/initialize", json: body,
                authorization: Self.paystackKey(sandbox))
            #expect(second.status == 400)
            #expect(second.json["message"] as? String == "Duplicate Transaction Reference")
            #expect(sandbox.payments.createCount(provider: .paystack, reference: "dup-1") == 1)

            await sandbox.payments.completeCheckout(reference: "dup-1", succeed: false)
            await sandbox.payments.waitForScheduledCallbacks()
            let verified = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/paystack/transaction/verify/dup-1",
                authorization: Self.paystackKey(sandbox))
            #expect(verified.data["status"] as? String == "failed")
            #expect(receiver.all.isEmpty)
        }
    }

    @Test("Paystack mobile-money charges end as the payer's last four digits script them")
    func paystackChargeOutcomes() async throws {
        try await Self.run { sandbox, client, receiver in
            sandbox.payments.setPaystackWebhookURL(receiver.baseURL + "/paystack")
            for (reference, phone) in [("c-ok", "0551234987"), ("c-poor", "0551230001"), ("c-never", "0551230004")] {
                let answer = try await Self.send(
                    client, .POST, "\(sandbox.baseURL)/paystack/charge",
                    json:
                        #"""
                        {"email":"a@example.com","amount":100,"currency":"GHS","reference":"\#(reference)",\#
                        "mobile_money":{"phone":"\#(phone)","provider":"mtn"}}
                        """#,
                    authorization: Self.paystackKey(sandbox))
                #expect(answer.status == 200)
                #expect(answer.data["status"] as? String == "pay_offline")
            }
            let early = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/paystack/transaction/verify/c-ok",
                authorization: Self.paystackKey(sandbox))
            #expect(early.data["status"] as? String == "ongoing" || early.data["status"] as? String == "success")
            await sandbox.payments.waitForScheduledCallbacks()
            func status(_ reference: String) async throws -> (String?, String?) {
                let answer = try await Self.send(
                    client, .GET, "\(sandbox.baseURL)/paystack/transaction/verify/\(reference)",
                    authorization: Self.paystackKey(sandbox))
                return (answer.data["status"] as? String, answer.data["gateway_response"] as? String)
            }
            #expect(try await status("c-ok").0 == "success")
            #expect(try await status("c-poor") == ("failed", "Insufficient funds"))
            #expect(try await status("c-never").0 == "ongoing")
            #expect(receiver.all.count == 1)
            #expect((receiver.all.first?.json["data"] as? [String: Any])?["channel"] as? String == "mobile_money")
        }
    }

    @Test("Paystack refund sends refund.pending then refund.processed, reversed on request, and lists refunds")
    func paystackRefundWebhooksAndReverse() async throws {
        try await Self.run { sandbox, client, receiver in
            sandbox.payments.setPaystackWebhookURL(receiver.baseURL + "/paystack")
            _ = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/transaction/initialize",
                json: #"{"email":"buyer@example.com","amount":10000,"reference":"rf-1"}"#,
                authorization: Self.paystackKey(sandbox))
            await sandbox.payments.completeCheckout(reference: "rf-1", succeed: true)
            await sandbox.payments.waitForScheduledCallbacks()
            sandbox.faults.reverseNextCallbacks(provider: .paystack)
            let refund = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/refund", json: #"{"transaction":"rf-1","amount":4000}"#,
                authorization: Self.paystackKey(sandbox))
            #expect(refund.status == 200)
            #expect(refund.json["message"] as? String == "Refund has been queued for processing")
            #expect(refund.data["status"] as? String == "pending")
            let tooMuch = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/refund", json: #"{"transaction":"rf-1","amount":6001}"#,
                authorization: Self.paystackKey(sandbox))
            #expect(tooMuch.status == 400)
            await sandbox.payments.waitForScheduledCallbacks()
            let events = receiver.all.map { $0.json["event"] as? String }
            #expect(events == ["charge.success", "refund.processed", "refund.pending"])
            let processed = try #require(receiver.all.dropFirst().first?.json["data"] as? [String: Any])
            #expect(processed["amount"] as? String == "4000")
            #expect(processed["transaction_reference"] as? String == "rf-1")
            #expect(processed["refund_reference"] is String)
            let listed = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/paystack/refund?transaction=rf-1",
                authorization: Self.paystackKey(sandbox))
            let refunds = try #require(listed.json["data"] as? [[String: Any]])
            #expect(refunds.count == 1)
            #expect(refunds.first?["status"] as? String == "processed")
        }
    }

    @Test("Paystack transfers: recipient, transfer.success or transfer.failed by account, duplicates refused")
    func paystackTransfers() async throws {
        try await Self.run { sandbox, client, receiver in
            sandbox.payments.setPaystackWebhookURL(receiver.baseURL + "/paystack")
            var codes: [String] = []
            for account in ["0551234987", "0551230001"] {
                let recipient = try await Self.send(
                    client, .POST, "\(sandbox.baseURL)/paystack/transferrecipient",
                    json:
                        #"""
                        {"type":"mobile_money","name":"Ama","account_number":"\#(account)","bank_code":"MTN",\#
                        "currency":"GHS"}
                        """#,
                    authorization: Self.paystackKey(sandbox))
                #expect(recipient.status == 201)
                codes.append(try #require(recipient.data["recipient_code"] as? String))
            }
            for (reference, code) in zip(["tr-ok", "tr-fail"], codes) {
                let transfer = try await Self.send(
                    client, .POST, "\(sandbox.baseURL)/paystack/transfer",
                    json: #"{"source":"balance","amount":2500,"recipient":"\#(code)","reference":"\#(reference)"}"#,
                    authorization: Self.paystackKey(sandbox))
                #expect(transfer.status == 200)
                #expect(transfer.data["status"] as? String == "pending")
            }
            let duplicate = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/paystack/transfer",
                json: #"{"source":"balance","amount":2500,"recipient":"\#(codes[0])","reference":"tr-ok"}"#,
                authorization: Self.paystackKey(sandbox))
            #expect(duplicate.status == 400)
            #expect(sandbox.payments.createCount(provider: .paystack, reference: "tr-ok") == 1)
            await sandbox.payments.waitForScheduledCallbacks()
            let events = Set(receiver.all.compactMap { $0.json["event"] as? String })
            #expect(events == ["transfer.success", "transfer.failed"])
            let verified = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/paystack/transfer/verify/tr-fail",
                authorization: Self.paystackKey(sandbox))
            #expect(verified.data["status"] as? String == "failed")
        }
    }

    // MARK: - Daraja

    @Test("Daraja STK push posts the documented callback; the query says processing, then the final result")
    func darajaStkPushCallbackAndQuery() async throws {
        try await Self.run(callbackDelay: .milliseconds(300)) { sandbox, client, receiver in
            let token = try await Self.darajaToken(sandbox, client)
            let push = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpush/v1/processrequest",
                json: Self.stkBody(sandbox, phone: "254708374149", callbackURL: receiver.baseURL + "/stk"),
                authorization: "Bearer \(token)")
            #expect(push.status == 200)
            #expect(push.json["ResponseCode"] as? String == "0")
            let checkoutRequestID = try #require(push.json["CheckoutRequestID"] as? String)
            #expect(checkoutRequestID.hasPrefix("ws_CO_"))

            let pending = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpushquery/v1/query",
                json: Self.stkQueryBody(sandbox, checkoutRequestID: checkoutRequestID), authorization: "Bearer \(token)"
            )
            #expect(pending.status == 500)
            #expect(pending.json["errorCode"] as? String == "500.001.1001")
            #expect(pending.json["errorMessage"] as? String == "The transaction is being processed")

            await sandbox.payments.waitForScheduledCallbacks()
            let final = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpushquery/v1/query",
                json: Self.stkQueryBody(sandbox, checkoutRequestID: checkoutRequestID), authorization: "Bearer \(token)"
            )
            #expect(final.status == 200)
            #expect(final.json["ResponseCode"] as? String == "0")
            #expect(final.json["ResultCode"] as? String == "0")

            let callback = try #require(receiver.all.first)
            #expect(callback.path == "/stk")
            let text = String(decoding: callback.body, as: UTF8.self)
            #expect(text.contains(#""ResultCode":0,"#))
            #expect(text.contains(#"{"Name":"Balance"}"#))
            #expect(text.contains(#""PhoneNumber","Value":254708374149}"#))
            let stk = try #require(((callback.json["Body"] as? [String: Any])?["stkCallback"]) as? [String: Any])
            #expect(stk["CheckoutRequestID"] as? String == checkoutRequestID)
            let items = try #require((stk["CallbackMetadata"] as? [String: Any])?["Item"] as? [[String: Any]])
            let names = items.compactMap { $0["Name"] as? String }
            #expect(names == ["Amount", "MpesaReceiptNumber", "Balance", "TransactionDate", "PhoneNumber"])
            #expect(items.first { $0["Name"] as? String == "TransactionDate" }?["Value"] is NSNumber)
        }
    }

    @Test("Daraja scripted failures: cancelled by user (1032) and insufficient funds (1) have no metadata")
    func darajaStkFailures() async throws {
        try await Self.run { sandbox, client, receiver in
            let token = try await Self.darajaToken(sandbox, client)
            var ids: [String: String] = [:]
            for phone in ["254708370002", "254708370001", "254708370003"] {
                let push = try await Self.send(
                    client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpush/v1/processrequest",
                    json: Self.stkBody(sandbox, phone: phone, callbackURL: receiver.baseURL + "/stk"),
                    authorization: "Bearer \(token)")
                ids[phone] = try #require(push.json["CheckoutRequestID"] as? String)
            }
            await sandbox.payments.waitForScheduledCallbacks()
            let codes = receiver.all.compactMap {
                (($0.json["Body"] as? [String: Any])?["stkCallback"] as? [String: Any])?["ResultCode"] as? Int
            }
            #expect(codes.sorted() == [1, 1032])
            let silent = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpushquery/v1/query",
                json: Self.stkQueryBody(sandbox, checkoutRequestID: ids["254708370003"]!),
                authorization: "Bearer \(token)")
            #expect(silent.json["ResultCode"] as? String == "0")
            let cancelled = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpushquery/v1/query",
                json: Self.stkQueryBody(sandbox, checkoutRequestID: ids["254708370002"]!),
                authorization: "Bearer \(token)")
            #expect(cancelled.json["ResultCode"] as? String == "1032")
        }
    }

    @Test("Daraja validates the password, the timestamp window, AccountReference and the amount")
    func darajaValidation() async throws {
        try await Self.run { sandbox, client, receiver in
            let token = try await Self.darajaToken(sandbox, client)
            let url = "\(sandbox.baseURL)/daraja/mpesa/stkpush/v1/processrequest"
            let callbackURL = receiver.baseURL + "/stk"
            let utc = try await Self.send(
                client, .POST, url,
                json: Self.stkBody(
                    sandbox, phone: "254708374149", callbackURL: callbackURL,
                    timestamp: Self.darajaTimestamp(offsetHours: 0)), authorization: "Bearer \(token)")
            #expect(utc.status == 200)
            let stale = try await Self.send(
                client, .POST, url,
                json: Self.stkBody(
                    sandbox, phone: "254708374149", callbackURL: callbackURL,
                    timestamp: Self.darajaTimestamp(offsetHours: -3)), authorization: "Bearer \(token)")
            #expect(stale.json["errorMessage"] as? String == "Bad Request - Invalid Timestamp")
            let wrongPassword = try await Self.send(
                client, .POST, url,
                json: Self.stkBody(sandbox, phone: "254708374149", callbackURL: callbackURL, passkey: "wrong"),
                authorization: "Bearer \(token)")
            #expect(wrongPassword.json["errorCode"] as? String == "500.001.1001")
            let longReference = try await Self.send(
                client, .POST, url,
                json: Self.stkBody(
                    sandbox, phone: "254708374149", callbackURL: callbackURL,
                    accountReference: "THIRTEEN-CHAR"), authorization: "Bearer \(token)")
            #expect(longReference.json["errorMessage"] as? String == "Bad Request - Invalid AccountReference")
            let fractional = try await Self.send(
                client, .POST, url,
                json: Self.stkBody(sandbox, phone: "254708374149", callbackURL: callbackURL, amount: "10.5"),
                authorization: "Bearer \(token)")
            #expect(fractional.json["errorMessage"] as? String == "Bad Request - Invalid Amount")
            #expect(sandbox.payments.records(for: .daraja).count == 1)
        }
    }

    @Test("Daraja B2C posts the result to ResultURL, fails to …0001 and refuses a duplicate OriginatorConversationID")
    func darajaB2C() async throws {
        try await Self.run { sandbox, client, receiver in
            let token = try await Self.darajaToken(sandbox, client)
            let url = "\(sandbox.baseURL)/daraja/mpesa/b2c/v3/paymentrequest"
            let ok = try await Self.send(
                client, .POST, url,
                json: Self.b2cBody(sandbox, id: "po-1", phone: "254708374149", callbackURL: receiver.baseURL),
                authorization: "Bearer \(token)")
            #expect(ok.status == 200)
            #expect(ok.json["ResponseCode"] as? String == "0")
            _ = try await Self.send(
                client, .POST, url,
                json: Self.b2cBody(sandbox, id: "po-2", phone: "254708370001", callbackURL: receiver.baseURL),
                authorization: "Bearer \(token)")
            let duplicate = try await Self.send(
                client, .POST, url,
                json: Self.b2cBody(sandbox, id: "po-1", phone: "254708374149", callbackURL: receiver.baseURL),
                authorization: "Bearer \(token)")
            #expect(duplicate.json["errorCode"] as? String == "500.002.1001")
            #expect(duplicate.json["errorMessage"] as? String == "Duplicate OriginatorConversationID")
            #expect(sandbox.payments.createCount(provider: .daraja, reference: "po-1") == 1)
            await sandbox.payments.waitForScheduledCallbacks()
            let results = receiver.all.compactMap { $0.json["Result"] as? [String: Any] }
            #expect(results.count == 2)
            let success = try #require(results.first { $0["OriginatorConversationID"] as? String == "po-1" })
            #expect(success["ResultCode"] as? Int == 0)
            #expect(success["ResultParameters"] != nil)
            let failure = try #require(results.first { $0["OriginatorConversationID"] as? String == "po-2" })
            #expect(failure["ResultCode"] as? Int != 0)
            #expect(failure["ResultParameters"] == nil)
            #expect(receiver.all.allSatisfy { $0.path == "/result" })
        }
    }

    // MARK: - PayHero

    @Test("PayHero payment posts the callback and transaction-status reports SUCCESS with the receipt")
    func payheroPaymentAndStatus() async throws {
        try await Self.run { sandbox, client, receiver in
            let auth = Self.basic(sandbox.credentials.payheroUsername, sandbox.credentials.payheroPassword)
            let payment = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/payhero/api/v2/payments",
                json:
                    #"""
                    {"amount":10,"phone_number":"0712345678","channel_id":911,"provider":"m-pesa",\#
                    "external_reference":"INV-009","callback_url":"\#(receiver.baseURL)/payhero"}
                    """#,
                authorization: auth)
            #expect(payment.status == 201)
            #expect(payment.json["status"] as? String == "QUEUED")
            let reference = try #require(payment.json["reference"] as? String)
            await sandbox.payments.waitForScheduledCallbacks()
            let callback = try #require(receiver.all.first)
            let response = try #require(callback.json["response"] as? [String: Any])
            #expect(response["ExternalReference"] as? String == "INV-009")
            #expect(response["ResultCode"] as? Int == 0)
            #expect(response["Status"] as? String == "Success")
            #expect(response["Phone"] as? String == "+254712345678")
            let receipt = try #require(response["MpesaReceiptNumber"] as? String)
            let status = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/payhero/api/v2/transaction-status?reference=\(reference)",
                authorization: auth)
            #expect(status.json["status"] as? String == "SUCCESS")
            #expect(status.json["provider_reference"] as? String == receipt)
        }
    }

    @Test("PayHero withdraw refuses a duplicate external_reference")
    func payheroWithdrawDuplicate() async throws {
        try await Self.run { sandbox, client, receiver in
            let auth = Self.basic(sandbox.credentials.payheroUsername, sandbox.credentials.payheroPassword)
            let body =
                #"""
                {"external_reference":"wd-1","amount":500,"phone_number":"254712345678",\#
                "network_code":"63902","callback_url":"\#(receiver.baseURL)/payhero","channel":"mobile",\#
                "channel_id":911,"payment_service":"b2c"}
                """#
            let first = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/payhero/api/v2/withdraw", json: body, authorization: auth)
            #expect(first.status == 201)
            let second = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/payhero/api/v2/withdraw", json: body, authorization: auth)
            #expect(second.status == 400)
            #expect(sandbox.payments.createCount(provider: .payhero, reference: "wd-1") == 1)
            await sandbox.payments.waitForScheduledCallbacks()
            #expect(sandbox.payments.records(provider: .payhero, reference: "wd-1").first?.status == .succeeded)
        }
    }

    // MARK: - Faults

    @Test("failNext and delayNext apply to payment routes")
    func requestFaults() async throws {
        try await Self.run { sandbox, client, _ in
            sandbox.faults.failNext(provider: .paystack, status: 503)
            let failed = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/paystack/transaction/verify/x",
                authorization: Self.paystackKey(sandbox))
            #expect(failed.status == 503)
            #expect(failed.json["status"] as? Bool == false)
            sandbox.faults.delayNext(provider: .payhero, by: .seconds(2))
            await #expect(throws: (any Error).self) {
                _ = try await Self.send(
                    client, .GET, "\(sandbox.baseURL)/payhero/api/v2/transaction-status?reference=x",
                    authorization: Self.basic(sandbox.credentials.payheroUsername, sandbox.credentials.payheroPassword),
                    timeout: .milliseconds(200))
            }
            sandbox.faults.failNext(provider: .daraja, status: 500)
            sandbox.faults.reset()
            _ = try await Self.darajaToken(sandbox, client)
        }
    }

    @Test("duplicateNextCallback delivers one callback several times; dropNextCallback sends none")
    func duplicateAndDropCallbacks() async throws {
        try await Self.run { sandbox, client, receiver in
            let token = try await Self.darajaToken(sandbox, client)
            sandbox.faults.duplicateNextCallback(provider: .daraja, times: 3)
            _ = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/daraja/mpesa/stkpush/v1/processrequest",
                json: Self.stkBody(sandbox, phone: "254708374149", callbackURL: receiver.baseURL + "/stk"),
                authorization: "Bearer \(token)")
            await sandbox.payments.waitForScheduledCallbacks()
            #expect(receiver.all.count == 3)
            #expect(Set(receiver.all.map(\.body)).count == 1)

            sandbox.faults.dropNextCallback(provider: .payhero)
            let auth = Self.basic(sandbox.credentials.payheroUsername, sandbox.credentials.payheroPassword)
            let payment = try await Self.send(
                client, .POST, "\(sandbox.baseURL)/payhero/api/v2/payments",
                json:
                    #"""
                    {"amount":10,"phone_number":"0712345678","channel_id":911,"provider":"m-pesa",\#
                    "external_reference":"D1","callback_url":"\#(receiver.baseURL)/payhero"}
                    """#,
                authorization: auth)
            let reference = try #require(payment.json["reference"] as? String)
            await sandbox.payments.waitForScheduledCallbacks()
            #expect(receiver.all.count == 3)
            let status = try await Self.send(
                client, .GET, "\(sandbox.baseURL)/payhero/api/v2/transaction-status?reference=\(reference)",
                authorization: auth)
            #expect(status.json["status"] as? String == "SUCCESS")
        }
    }

    @Test("corruptNextCallbackSignature signs one Paystack webhook with a wrong key")
    func corruptSignature() async throws {
        try await Self.run { sandbox, client, receiver in
            sandbox.payments.setPaystackWebhookURL(receiver.baseURL + "/paystack")
            sandbox.faults.corruptNextCallbackSignature(provider: .paystack)
            for reference in ["sig-1", "sig-2"] {
                _ = try await Self.send(
                    client, .POST, "\(sandbox.baseURL)/paystack/transaction/initialize",
                    json: #"{"email":"a@example.com","amount":100,"reference":"\#(reference)"}"#,
                    authorization: Self.paystackKey(sandbox))
                await sandbox.payments.completeCheckout(reference: reference, succeed: true)
                await sandbox.payments.waitForScheduledCallbacks()
            }
            let key = sandbox.credentials.paystackSecretKey
            let valid = receiver.all.map { $0.headers["x-paystack-signature"] == Self.hexHMACSHA512($0.body, key: key) }
            #expect(valid == [false, true])
        }
    }
}
