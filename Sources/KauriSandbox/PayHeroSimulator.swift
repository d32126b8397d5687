import Foundation
import Hummingbird
import KauriCore
import Synchronization

/// PayHero Kenya under `/payhero/api/v2`: `POST /payments` (M-Pesa STK push), `GET /transaction-status?reference=`
/// and `POST /withdraw`, with Basic authentication (API username:password). Errors answer
/// `{"error_code", "error_message", "status_code"}`. Callbacks go to `callback_url` as
/// `{"forward_url", "response": {...}, "status"}`, unsigned.
final class PayHeroSimulator: Sendable {
    /// Where the simulator is mounted.
    static let pathPrefix = "/payhero/api/v2"
    /// The smallest and largest amounts, in shillings.
    static let amountRange: ClosedRange<Int64> = 1...250_000
    /// The longest `external_reference`.
    static let externalReferenceCharacterCountMax = 100
    /// The payment providers `POST /payments` accepts.
    static let providers: Set<String> = ["m-pesa", "sasapay"]
    /// The withdrawal channels.
    static let withdrawChannels: Set<String> = ["mobile", "bank"]

    /// A payment or withdrawal and where it stands.
    struct Transaction: Sendable {
        /// PayHero's `reference`.
        var reference: String
        /// The caller's `external_reference`.
        var externalReference: String
        /// The M-Pesa `CheckoutRequestID` (for a withdrawal, the payout's conversation id).
        var checkoutRequestID: String
        /// M-Pesa's `MerchantRequestID`.
        var merchantRequestID: String
        /// The shillings.
        var amount: Int64
        /// The payer or payee phone, or the bank account, as sent.
        var destination: String
        /// Where the callback goes, when given.
        var callbackURL: String?
        /// `QUEUED`, `SUCCESS` or `FAILED`.
        var status: String
        /// The M-Pesa result code once final.
        var resultCode: Int?
        /// The M-Pesa result description once final.
        var resultDescription: String?
        /// The M-Pesa receipt of a successful transaction.
        var receipt: String?
        /// `m-pesa`, `sasapay` or, for withdrawals, the channel.
        var provider: String
        /// When it was accepted.
        var createdAt: Timestamp
        /// The record of this transaction.
        var recordID: UInt64

        /// Whether this is an STK payment rather than a withdrawal.
        var isPayment: Bool { self.checkoutRequestID.hasPrefix("ws_CO_") }
    }

    private struct State {
        var transactions: [String: Transaction] = [:]
        var withdrawalExternalReferences: Set<String> = []
    }

    /// Shared payment state, callbacks and faults.
    let core: SandboxPaymentCore
    private let state = Mutex(State())

    /// A simulator on `core`.
    init(core: SandboxPaymentCore) {
        self.core = core
    }

    /// Adds the routes to `router`.
    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let prefix = Self.pathPrefix
        router.post("\(prefix)/payments") { request, _ in
            try await self.payment(request)
        }
        router.get("\(prefix)/transaction-status") { request, _ in
            try await self.transactionStatus(request)
        }
        router.post("\(prefix)/withdraw") { request, _ in
            try await self.withdraw(request)
        }
    }

    private struct PaymentRequest: Decodable {
        var amount: SandboxLenientValue?
        var phone_number: SandboxLenientValue?
        var channel_id: SandboxLenientValue?
        var provider: String?
        var external_reference: String?
        var callback_url: String?
        var customer_name: String?
    }

    private func payment(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(PaymentRequest.self, from: request) else {
            return Self.error(400, "BAD_REQUEST", "invalid request body")
        }
        guard let amount = body.amount?.wholeNumber, Self.amountRange.contains(amount) else {
            return Self.error(400, "BAD_REQUEST", "amount must be a whole number of shillings from 1 to 250000")
        }
        guard let phone = body.phone_number?.text, Self.normalizedPhone(phone) != nil else {
            return Self.error(400, "BAD_REQUEST", "invalid phone_number")
        }
        if let refusal = self.checkChannel(body.channel_id) { return refusal }
        guard let provider = body.provider, Self.providers.contains(provider) else {
            return Self.error(400, "BAD_REQUEST", "invalid provider")
        }
        guard let externalReference = body.external_reference,
            (1...Self.externalReferenceCharacterCountMax).contains(externalReference.count)
        else {
            return Self.error(400, "BAD_REQUEST", "invalid external_reference")
        }
        if let callbackURL = body.callback_url, !callbackURL.isEmpty, !PaystackSimulator.isHTTPURL(callbackURL) {
            return Self.error(400, "BAD_REQUEST", "invalid callback_url")
        }
        let callbackURL = body.callback_url.flatMap { $0.isEmpty ? nil : $0 }
        let transaction = self.store(
            externalReference: externalReference, amount: amount, destination: phone, callbackURL: callbackURL,
            provider: provider, kind: .stkPush)
        let outcome = SandboxPhoneOutcome.forPayer(phone)
        self.core.afterCallbackDelay {
            await self.finish(reference: transaction.reference, outcome: outcome)
        }
        return SandboxHTTP.document(
            201,
            .object([
                ("success", .bool(true)), ("status", .string("QUEUED")), ("reference", .string(transaction.reference)),
                ("CheckoutRequestID", .string(transaction.checkoutRequestID)),
            ]))
    }

    private struct WithdrawRequest: Decodable {
        var external_reference: String?
        var amount: SandboxLenientValue?
        var phone_number: SandboxLenientValue?
        var account_number: SandboxLenientValue?
        var network_code: SandboxLenientValue?
        var callback_url: String?
        var channel: String?
        var channel_id: SandboxLenientValue?
        var payment_service: String?
    }

    private func withdraw(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(WithdrawRequest.self, from: request) else {
            return Self.error(400, "BAD_REQUEST", "invalid request body")
        }
        guard let amount = body.amount?.wholeNumber, Self.amountRange.contains(amount) else {
            return Self.error(400, "BAD_REQUEST", "amount must be a whole number of shillings from 1 to 250000")
        }
        guard let channel = body.channel, Self.withdrawChannels.contains(channel) else {
            return Self.error(400, "BAD_REQUEST", "channel must be mobile or bank")
        }
        let destination: String
        if channel == "mobile" {
            guard let phone = body.phone_number?.text, Self.normalizedPhone(phone) != nil else {
                return Self.error(400, "BAD_REQUEST", "invalid phone_number")
            }
            destination = phone
        } else {
            guard let account = body.account_number?.text, !account.isEmpty, account.allSatisfy(\.isNumber) else {
                return Self.error(400, "BAD_REQUEST", "invalid account_number")
            }
            destination = account
        }
        guard body.network_code?.text.isEmpty == false else {
            return Self.error(400, "BAD_REQUEST", "network_code is required")
        }
        if body.channel_id != nil, let refusal = self.checkChannel(body.channel_id) { return refusal }
        guard let externalReference = body.external_reference,
            (1...Self.externalReferenceCharacterCountMax).contains(externalReference.count)
        else {
            return Self.error(400, "BAD_REQUEST", "invalid external_reference")
        }
        if let callbackURL = body.callback_url, !callbackURL.isEmpty, !PaystackSimulator.isHTTPURL(callbackURL) {
            return Self.error(400, "BAD_REQUEST", "invalid callback_url")
        }
        let isNew = self.state.withLock { $0.withdrawalExternalReferences.insert(externalReference).inserted }
        guard isNew else {
            return Self.error(400, "DUPLICATE_REFERENCE", "a withdrawal with this external_reference already exists")
        }
        let transaction = self.store(
            externalReference: externalReference, amount: amount, destination: destination,
            callbackURL: body.callback_url.flatMap { $0.isEmpty ? nil : $0 }, provider: channel, kind: .payout)
        let fails = SandboxPhoneOutcome.payoutFails(to: destination)
        self.core.afterCallbackDelay {
            await self.finish(reference: transaction.reference, outcome: fails ? .insufficientFunds : .success)
        }
        return SandboxHTTP.document(
            201,
            .object([
                ("success", .bool(true)), ("status", .string("QUEUED")), ("reference", .string(transaction.reference)),
                ("external_reference", .string(externalReference)),
                ("CheckoutRequestID", .string(transaction.checkoutRequestID)),
            ]))
    }

    private func transactionStatus(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let reference = request.uri.queryParameters.get("reference"), !reference.isEmpty else {
            return Self.error(400, "BAD_REQUEST", "reference is required")
        }
        let found = self.state.withLock { state in
            state.transactions[reference]
                ?? state.transactions.values.filter { $0.externalReference == reference }.max {
                    $0.createdAt < $1.createdAt
                }
        }
        guard let transaction = found else {
            return Self.error(404, "NOT_FOUND", "transaction not found")
        }
        return SandboxHTTP.document(
            200,
            .object([
                ("transaction_date", .string(SandboxTime.payheroDate(transaction.createdAt))),
                ("provider", .string(transaction.provider)), ("success", .bool(transaction.status == "SUCCESS")),
                ("merchant", .string("Kauri Sandbox")), ("payment_reference", .string(transaction.reference)),
                ("third_party_reference", .string(transaction.receipt ?? "")), ("status", .string(transaction.status)),
                ("reference", .string(transaction.reference)),
                ("external_reference", .string(transaction.externalReference)),
                ("CheckoutRequestID", .string(transaction.checkoutRequestID)),
                ("provider_reference", .string(transaction.receipt ?? "")), ("amount", .integer(transaction.amount)),
                ("ResultCode", transaction.resultCode.map { .integer(Int64($0)) } ?? .null),
                ("ResultDesc", .optionalString(transaction.resultDescription)),
            ]))
    }

    /// Stores a new payment or withdrawal and records it.
    private func store(
        externalReference: String, amount: Int64, destination: String, callbackURL: String?, provider: String,
        kind: SandboxPaymentRecord.Kind
    ) -> Transaction {
        let now = self.core.clock.now()
        let reference = UUID().uuidString
        // A payment's id is an STK `CheckoutRequestID`; a withdrawal's is a B2C-style conversation id, and its
        // callback carries no `MerchantRequestID` (the STK identifiers are what mark a callback as a payment's).
        let checkoutRequestID =
            kind == .payout
            ? "AG_\(SandboxTime.darajaCompact(now))_\(SandboxPaymentCore.randomDigits(20))"
            : "ws_CO_\(SandboxTime.darajaCompact(now))\(SandboxPaymentCore.randomDigits(9))"
        let recordID = self.core.record(
            .payhero, kind, reference: externalReference, providerReference: reference, amount: amount,
            currency: "KES", phone: destination)
        let transaction = Transaction(
            reference: reference, externalReference: externalReference, checkoutRequestID: checkoutRequestID,
            merchantRequestID: "\(SandboxPaymentCore.randomDigits(5))-\(SandboxPaymentCore.randomDigits(8))-1",
            amount: amount, destination: destination, callbackURL: callbackURL, status: "QUEUED", resultCode: nil,
            resultDescription: nil, receipt: nil, provider: provider, createdAt: now, recordID: recordID)
        self.state.withLock { $0.transactions[reference] = transaction }
        return transaction
    }

    /// Ends a payment or withdrawal as scripted and sends its callback.
    private func finish(reference: String, outcome: SandboxPhoneOutcome) async {
        let result: (code: Int, description: String)
        switch outcome {
        case .success, .successWithoutCallback: result = (0, "The service request is processed successfully.")
        case .insufficientFunds: result = (1, "The balance is insufficient for the transaction.")
        case .cancelledByUser: result = (1032, "Request cancelled by user")
        case .neverCompletes: return
        }
        let receipt =
            result.code == 0
            ? "S" + SandboxPaymentCore.randomString(9, from: SandboxPaymentCore.uppercaseAlphabet) : nil
        guard
            let transaction = self.state.withLock({ state -> Transaction? in
                guard var transaction = state.transactions[reference], transaction.status == "QUEUED" else {
                    return nil
                }
                transaction.status = result.code == 0 ? "SUCCESS" : "FAILED"
                transaction.resultCode = result.code
                transaction.resultDescription = result.description
                transaction.receipt = receipt
                state.transactions[reference] = transaction
                return transaction
            })
        else { return }
        self.core.update(record: transaction.recordID, status: result.code == 0 ? .succeeded : .failed)
        guard outcome != .successWithoutCallback, let callbackURL = transaction.callbackURL else { return }
        var response: [(String, SandboxJSON)] = [
            ("Amount", .integer(transaction.amount)), ("CheckoutRequestID", .string(transaction.checkoutRequestID)),
            ("ExternalReference", .string(transaction.externalReference)),
        ]
        if transaction.isPayment {
            response.append(("MerchantRequestID", .string(transaction.merchantRequestID)))
        }
        if let receipt {
            response.append(("MpesaReceiptNumber", .string(receipt)))
        }
        response += [
            (
                "Phone",
                .string(Self.normalizedPhone(transaction.destination).map { "+" + $0 } ?? transaction.destination)
            ),
            ("ResultCode", .integer(Int64(result.code))), ("ResultDesc", .string(result.description)),
            ("Status", .string(result.code == 0 ? "Success" : "Failed")),
        ]
        let body = SandboxJSON.object([
            ("forward_url", .string("")), ("response", .object(response)), ("status", .bool(result.code == 0)),
        ])
        await self.core.sender.deliver(
            [SandboxCallback(url: callbackURL, body: body.bytes, paystackSigningKey: nil, label: "payhero.callback")],
            for: .payhero)
    }

    // MARK: - Helpers

    /// Applies the next fault, then checks Basic authentication.
    private func authorize(_ request: Request) async throws -> Response? {
        if let response = try await SandboxHTTP.applyFault(
            self.core.faults, .payhero, errorResponse: { Self.error($0, "SANDBOX_FAULT", "Sandbox fault: HTTP \($0)") })
        {
            return response
        }
        let credentials = SandboxHTTP.basicCredentials(of: request)
        guard SandboxHTTP.matches(credentials?.user, self.core.credentials.payheroUsername),
            SandboxHTTP.matches(credentials?.password, self.core.credentials.payheroPassword)
        else {
            return Self.error(401, "UNAUTHORIZED", "invalid API username or password")
        }
        return nil
    }

    private func checkChannel(_ channelID: SandboxLenientValue?) -> Response? {
        guard channelID?.wholeNumber == Int64(self.core.credentials.payheroChannelID) else {
            return Self.error(400, "BAD_REQUEST", "payment channel not found")
        }
        return nil
    }

    private func decode<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body? {
        let body = try await SandboxHTTP.body(of: request)
        return try? JSONDecoder().decode(type, from: Data(body))
    }

    /// PayHero's error body.
    private static func error(_ status: Int, _ code: String, _ message: String) -> Response {
        SandboxHTTP.document(
            status,
            .object([
                ("error_code", .string(code)), ("error_message", .string(message)),
                ("status_code", .integer(Int64(status))),
            ]))
    }

    /// A Kenyan mobile number in the 254 form without `+`: from `07…`/`01…`, `2547…`/`2541…` or `+254…`.
    static func normalizedPhone(_ phone: String) -> String? {
        var digits = phone.hasPrefix("+") ? String(phone.dropFirst()) : phone
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        if digits.count == 10, digits.hasPrefix("07") || digits.hasPrefix("01") {
            digits = "254" + digits.dropFirst()
        }
        guard digits.count == 12, digits.hasPrefix("2547") || digits.hasPrefix("2541") else { return nil }
        return digits
    }
}
