import Foundation
import Hummingbird
import KauriCore
import Synchronization

/// Safaricom Daraja under `/daraja`: `GET /oauth/v1/generate?grant_type=client_credentials` (Basic consumer
/// key:secret → Bearer token), `POST /mpesa/stkpush/v1/processrequest`, `POST /mpesa/stkpushquery/v1/query` and
/// `POST /mpesa/b2c/v3/paymentrequest`, answering errors as `{"requestId", "errorCode", "errorMessage"}`. The STK
/// callback goes to the request's `CallBackURL`, the B2C result to its `ResultURL`; neither is signed.
final class DarajaSimulator: Sendable {
    /// Where the simulator is mounted.
    static let pathPrefix = "/daraja"
    /// How long an access token lives; the token response says `"3599"`.
    static let tokenLifetimeSeconds: Int64 = 3_599
    /// The most tokens kept; past it the oldest are forgotten.
    static let tokenCountMax = 1_000
    /// How far a `Timestamp` may be from now, read as UTC or as East Africa Time.
    static let timestampToleranceSeconds: Int64 = 3_600
    /// East Africa Time's offset from UTC.
    static let eastAfricaOffsetSeconds: Int64 = 3 * 3_600
    /// The smallest and largest STK push amounts, in shillings.
    static let stkAmountRange: ClosedRange<Int64> = 1...250_000
    /// The smallest and largest B2C amounts, in shillings.
    static let b2cAmountRange: ClosedRange<Int64> = 10...250_000
    /// The longest `AccountReference`.
    static let accountReferenceCharacterCountMax = 12
    /// The longest `TransactionDesc`.
    static let transactionDescriptionCharacterCountMax = 13
    /// The allowed length of B2C `Remarks`.
    static let remarksCharacterCountRange = 2...100
    /// The B2C command ids.
    static let b2cCommandIDs: Set<String> = ["SalaryPayment", "BusinessPayment", "PromotionPayment"]
    /// The STK transaction types.
    static let stkTransactionTypes: Set<String> = ["CustomerPayBillOnline", "CustomerBuyGoodsOnline"]
    /// Daraja's validation error code.
    static let invalidRequestCode = "400.002.02"

    /// One STK push and where it stands.
    struct StkPush: Sendable {
        /// Daraja's `MerchantRequestID`.
        var merchantRequestID: String
        /// Daraja's `CheckoutRequestID`.
        var checkoutRequestID: String
        /// The shillings asked for.
        var amount: Int64
        /// The payer's MSISDN as sent.
        var phone: String
        /// Where the callback goes.
        var callbackURL: String
        /// `nil` while processing; the result code and description once final.
        var result: (code: Int, description: String)?
        /// The M-Pesa receipt of a successful payment.
        var receipt: String?
        /// The record of this push.
        var recordID: UInt64
    }

    private struct State {
        var tokens: [String: Int64] = [:]
        var tokenOrder: [String] = []
        var stkPushes: [String: StkPush] = [:]
        var originatorConversationIDs: Set<String> = []
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
        router.get("\(prefix)/oauth/v1/generate") { request, _ in
            try await self.generateToken(request)
        }
        router.post("\(prefix)/mpesa/stkpush/v1/processrequest") { request, _ in
            try await self.stkPush(request)
        }
        router.post("\(prefix)/mpesa/stkpushquery/v1/query") { request, _ in
            try await self.stkQuery(request)
        }
        router.post("\(prefix)/mpesa/b2c/v3/paymentrequest") { request, _ in
            try await self.b2c(request)
        }
    }

    // MARK: - OAuth

    private func generateToken(_ request: Request) async throws -> Response {
        if let response = try await self.applyFault() { return response }
        guard request.uri.queryParameters.get("grant_type") == "client_credentials" else {
            return Self.error(400, "400.008.02", "Invalid grant type passed")
        }
        let credentials = SandboxHTTP.basicCredentials(of: request)
        guard SandboxHTTP.matches(credentials?.user, self.core.credentials.darajaConsumerKey),
            SandboxHTTP.matches(credentials?.password, self.core.credentials.darajaConsumerSecret)
        else {
            return Self.error(400, "400.008.01", "Invalid Authentication passed")
        }
        let token = SandboxPaymentCore.randomString(
            28, from: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))
        let expiry = Int64(self.core.clock.now().unixMilliseconds / 1_000) + Self.tokenLifetimeSeconds
        self.state.withLock { state in
            state.tokens[token] = expiry
            state.tokenOrder.append(token)
            if state.tokenOrder.count > Self.tokenCountMax {
                state.tokens[state.tokenOrder.removeFirst()] = nil
            }
        }
        return SandboxHTTP.document(
            200,
            .object([("access_token", .string(token)), ("expires_in", .string(String(Self.tokenLifetimeSeconds)))]))
    }

    // MARK: - STK push

    private struct StkPushRequest: Decodable {
        var BusinessShortCode: SandboxLenientValue?
        var Password: String?
        var Timestamp: String?
        var TransactionType: String?
        var Amount: SandboxLenientValue?
        var PartyA: SandboxLenientValue?
        var PartyB: SandboxLenientValue?
        var PhoneNumber: SandboxLenientValue?
        var CallBackURL: String?
        var AccountReference: String?
        var TransactionDesc: String?
    }

    private func stkPush(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(StkPushRequest.self, from: request) else {
            return Self.invalid("Invalid JSON")
        }
        if let refusal = self.checkPassword(
            shortCode: body.BusinessShortCode?.text, password: body.Password, timestamp: body.Timestamp)
        {
            return refusal
        }
        guard let type = body.TransactionType, Self.stkTransactionTypes.contains(type) else {
            return Self.invalid("Invalid TransactionType")
        }
        guard let amount = body.Amount?.wholeNumber, Self.stkAmountRange.contains(amount) else {
            return Self.invalid("Invalid Amount")
        }
        guard let partyA = body.PartyA?.text, Self.isMSISDN(partyA) else {
            return Self.invalid("Invalid PartyA")
        }
        guard let partyB = body.PartyB?.text, (5...7).contains(partyB.count), partyB.allSatisfy(\.isNumber) else {
            return Self.invalid("Invalid PartyB")
        }
        guard let phone = body.PhoneNumber?.text, Self.isMSISDN(phone) else {
            return Self.invalid("Invalid PhoneNumber")
        }
        guard let callbackURL = body.CallBackURL, PaystackSimulator.isHTTPURL(callbackURL) else {
            return Self.invalid("Invalid CallBackURL")
        }
        guard let accountReference = body.AccountReference,
            (1...Self.accountReferenceCharacterCountMax).contains(accountReference.count)
        else {
            return Self.invalid("Invalid AccountReference")
        }
        guard (body.TransactionDesc ?? "").count <= Self.transactionDescriptionCharacterCountMax else {
            return Self.invalid("Invalid TransactionDesc")
        }
        let now = self.core.clock.now()
        let merchantRequestID = "\(SandboxPaymentCore.randomDigits(5))-\(SandboxPaymentCore.randomDigits(8))-1"
        let checkoutRequestID = "ws_CO_\(Self.dayFirstCompact(now))\(SandboxPaymentCore.randomDigits(9))"
        let recordID = self.core.record(
            .daraja, .stkPush, reference: accountReference, providerReference: checkoutRequestID, amount: amount,
            currency: "KES", phone: phone)
        let push = StkPush(
            merchantRequestID: merchantRequestID, checkoutRequestID: checkoutRequestID, amount: amount, phone: phone,
            callbackURL: callbackURL, result: nil, receipt: nil, recordID: recordID)
        self.state.withLock { $0.stkPushes[checkoutRequestID] = push }
        let outcome = SandboxPhoneOutcome.forPayer(phone)
        self.core.afterCallbackDelay {
            await self.finishStkPush(checkoutRequestID: checkoutRequestID, outcome: outcome)
        }
        return SandboxHTTP.document(
            200,
            .object([
                ("MerchantRequestID", .string(merchantRequestID)), ("CheckoutRequestID", .string(checkoutRequestID)),
                ("ResponseCode", .string("0")),
                ("ResponseDescription", .string("Success. Request accepted for processing")),
                ("CustomerMessage", .string("Success. Request accepted for processing")),
            ]))
    }

    private func finishStkPush(checkoutRequestID: String, outcome: SandboxPhoneOutcome) async {
        let result: (code: Int, description: String)
        switch outcome {
        case .success, .successWithoutCallback: result = (0, "The service request is processed successfully.")
        case .insufficientFunds: result = (1, "The balance is insufficient for the transaction.")
        case .cancelledByUser: result = (1032, "Request cancelled by user")
        case .neverCompletes: return
        }
        let receipt = result.code == 0 ? Self.receipt() : nil
        guard
            let push = self.state.withLock({ state -> StkPush? in
                guard var push = state.stkPushes[checkoutRequestID], push.result == nil else { return nil }
                push.result = result
                push.receipt = receipt
                state.stkPushes[checkoutRequestID] = push
                return push
            })
        else { return }
        self.core.update(record: push.recordID, status: result.code == 0 ? .succeeded : .failed)
        guard outcome != .successWithoutCallback else { return }
        var callback: [(String, SandboxJSON)] = [
            ("MerchantRequestID", .string(push.merchantRequestID)),
            ("CheckoutRequestID", .string(push.checkoutRequestID)), ("ResultCode", .integer(Int64(result.code))),
            ("ResultDesc", .string(result.description)),
        ]
        if let receipt {
            callback.append(
                (
                    "CallbackMetadata",
                    .object([
                        (
                            "Item",
                            .array([
                                .object([("Name", .string("Amount")), ("Value", .number("\(push.amount).00"))]),
                                .object([("Name", .string("MpesaReceiptNumber")), ("Value", .string(receipt))]),
                                .object([("Name", .string("Balance"))]),
                                .object([
                                    ("Name", .string("TransactionDate")),
                                    ("Value", .number(SandboxTime.darajaCompact(self.core.clock.now()))),
                                ]),
                                .object([("Name", .string("PhoneNumber")), ("Value", .number(push.phone))]),
                            ])
                        )
                    ])
                ))
        }
        let body = SandboxJSON.object([("Body", .object([("stkCallback", .object(callback))]))])
        await self.core.sender.deliver(
            [SandboxCallback(url: push.callbackURL, body: body.bytes, paystackSigningKey: nil, label: "stkCallback")],
            for: .daraja)
    }

    // MARK: - STK query

    private struct StkQueryRequest: Decodable {
        var BusinessShortCode: SandboxLenientValue?
        var Password: String?
        var Timestamp: String?
        var CheckoutRequestID: String?
    }

    private func stkQuery(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(StkQueryRequest.self, from: request) else {
            return Self.invalid("Invalid JSON")
        }
        if let refusal = self.checkPassword(
            shortCode: body.BusinessShortCode?.text, password: body.Password, timestamp: body.Timestamp)
        {
            return refusal
        }
        guard let checkoutRequestID = body.CheckoutRequestID,
            let push = self.state.withLock({ $0.stkPushes[checkoutRequestID] })
        else {
            return Self.invalid("Invalid CheckoutRequestID")
        }
        guard let result = push.result else {
            return Self.error(500, "500.001.1001", "The transaction is being processed")
        }
        return SandboxHTTP.document(
            200,
            .object([
                ("ResponseCode", .string("0")),
                ("ResponseDescription", .string("The service request has been accepted successsfully")),
                ("MerchantRequestID", .string(push.merchantRequestID)),
                ("CheckoutRequestID", .string(push.checkoutRequestID)), ("ResultCode", .string(String(result.code))),
                ("ResultDesc", .string(result.description)),
            ]))
    }

    // MARK: - B2C

    private struct B2CRequest: Decodable {
        var OriginatorConversationID: String?
        var InitiatorName: String?
        var SecurityCredential: String?
        var CommandID: String?
        var Amount: SandboxLenientValue?
        var PartyA: SandboxLenientValue?
        var PartyB: SandboxLenientValue?
        var Remarks: String?
        var QueueTimeOutURL: String?
        var ResultURL: String?
        var Occassion: String?
    }

    private func b2c(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(B2CRequest.self, from: request) else {
            return Self.invalid("Invalid JSON")
        }
        guard let originatorConversationID = body.OriginatorConversationID, !originatorConversationID.isEmpty else {
            return Self.invalid("Invalid OriginatorConversationID")
        }
        guard let commandID = body.CommandID, Self.b2cCommandIDs.contains(commandID) else {
            return Self.invalid("Invalid CommandID")
        }
        guard let amount = body.Amount?.wholeNumber, Self.b2cAmountRange.contains(amount) else {
            return Self.invalid("Invalid Amount")
        }
        guard body.PartyA?.text == self.core.credentials.darajaB2CShortCode else {
            return Self.invalid("Invalid PartyA")
        }
        guard let partyB = body.PartyB?.text, Self.isMSISDN(partyB) else {
            return Self.invalid("Invalid PartyB")
        }
        guard let remarks = body.Remarks, Self.remarksCharacterCountRange.contains(remarks.count) else {
            return Self.invalid("Invalid Remarks")
        }
        guard let resultURL = body.ResultURL, PaystackSimulator.isHTTPURL(resultURL) else {
            return Self.invalid("Invalid ResultURL")
        }
        guard let queueTimeOutURL = body.QueueTimeOutURL, PaystackSimulator.isHTTPURL(queueTimeOutURL) else {
            return Self.invalid("Invalid QueueTimeOutURL")
        }
        let isNew = self.state.withLock { $0.originatorConversationIDs.insert(originatorConversationID).inserted }
        guard isNew else {
            return Self.error(500, "500.002.1001", "Duplicate OriginatorConversationID")
        }
        let now = self.core.clock.now()
        let conversationID =
            "AG_\(SandboxTime.darajaCompact(now).prefix(8))_"
            + SandboxPaymentCore.randomString(
                20, from: Array("0123456789abcdef"))
        let recordID = self.core.record(
            .daraja, .payout, reference: originatorConversationID, providerReference: conversationID, amount: amount,
            currency: "KES", phone: partyB)
        let initiatorValid =
            SandboxHTTP.matches(body.InitiatorName, self.core.credentials.darajaInitiatorName)
            && SandboxHTTP.matches(body.SecurityCredential, self.core.credentials.darajaSecurityCredential)
        let payout = B2CPayout(
            originatorConversationID: originatorConversationID, conversationID: conversationID, amount: amount,
            partyB: partyB, resultURL: resultURL, queueTimeOutURL: queueTimeOutURL, recordID: recordID)
        self.core.afterCallbackDelay {
            await self.finishB2C(payout, initiatorValid: initiatorValid)
        }
        return SandboxHTTP.document(
            200,
            .object([
                ("ConversationID", .string(conversationID)),
                ("OriginatorConversationID", .string(originatorConversationID)), ("ResponseCode", .string("0")),
                ("ResponseDescription", .string("Accept the service request successfully.")),
            ]))
    }

    /// What the B2C result needs.
    private struct B2CPayout: Sendable {
        var originatorConversationID: String
        var conversationID: String
        var amount: Int64
        var partyB: String
        var resultURL: String
        var queueTimeOutURL: String
        var recordID: UInt64
    }

    private func finishB2C(_ payout: B2CPayout, initiatorValid: Bool) async {
        let transactionID = Self.receipt()
        let result: (code: Int, description: String)
        if !initiatorValid {
            result = (2001, "The initiator information is invalid.")
        } else if SandboxPhoneOutcome.payoutFails(to: payout.partyB) {
            result = (
                2040,
                "Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service."
            )
        } else {
            result = (0, "The service request is processed successfully.")
        }
        self.core.update(record: payout.recordID, status: result.code == 0 ? .succeeded : .failed)
        var members: [(String, SandboxJSON)] = [
            ("ResultType", .integer(0)), ("ResultCode", .integer(Int64(result.code))),
            ("ResultDesc", .string(result.description)),
            ("OriginatorConversationID", .string(payout.originatorConversationID)),
            ("ConversationID", .string(payout.conversationID)), ("TransactionID", .string(transactionID)),
        ]
        if result.code == 0 {
            let completedAt = SandboxTime.darajaDotted(self.core.clock.now())
            let parameters: [(String, SandboxJSON)] = [
                ("TransactionAmount", .integer(payout.amount)), ("TransactionReceipt", .string(transactionID)),
                ("ReceiverPartyPublicName", .string("\(payout.partyB) - Sandbox Customer")),
                ("TransactionCompletedDateTime", .string(completedAt)),
                ("B2CUtilityAccountAvailableFunds", .number("100000.00")),
                ("B2CWorkingAccountAvailableFunds", .number("900000.00")),
                ("B2CRecipientIsRegisteredCustomer", .string("Y")),
                ("B2CChargesPaidAccountAvailableFunds", .number("-4510.00")),
            ]
            members.append(
                (
                    "ResultParameters",
                    .object([
                        (
                            "ResultParameter",
                            .array(parameters.map { .object([("Key", .string($0.0)), ("Value", $0.1)]) })
                        )
                    ])
                ))
        }
        members.append(
            (
                "ReferenceData",
                .object([
                    (
                        "ReferenceItem",
                        .object([("Key", .string("QueueTimeoutURL")), ("Value", .string(payout.queueTimeOutURL))])
                    )
                ])
            ))
        let body = SandboxJSON.object([("Result", .object(members))])
        await self.core.sender.deliver(
            [SandboxCallback(url: payout.resultURL, body: body.bytes, paystackSigningKey: nil, label: "b2cResult")],
            for: .daraja)
    }

    // MARK: - Helpers

    private func applyFault() async throws -> Response? {
        try await SandboxHTTP.applyFault(self.core.faults, .daraja) { status in
            Self.error(status, "\(status).003.1001", "Sandbox fault: HTTP \(status)")
        }
    }

    /// Applies the next fault, then checks the Bearer access token.
    private func authorize(_ request: Request) async throws -> Response? {
        if let response = try await self.applyFault() { return response }
        let now = Int64(self.core.clock.now().unixMilliseconds / 1_000)
        guard let token = SandboxHTTP.bearerToken(of: request),
            let expiry = self.state.withLock({ $0.tokens[token] }), expiry > now
        else {
            return Self.error(401, "404.001.03", "Invalid Access Token")
        }
        return nil
    }

    /// Checks the short code, the timestamp's freshness and `Password` = base64(short code + passkey + timestamp).
    private func checkPassword(shortCode: String?, password: String?, timestamp: String?) -> Response? {
        guard let shortCode, (5...7).contains(shortCode.count), shortCode.allSatisfy(\.isNumber) else {
            return Self.invalid("Invalid BusinessShortCode")
        }
        guard let timestamp, let seconds = SandboxTime.unixSeconds(compact: timestamp) else {
            return Self.invalid("Invalid Timestamp")
        }
        let now = Int64(self.core.clock.now().unixMilliseconds / 1_000)
        guard
            abs(seconds - now) <= Self.timestampToleranceSeconds
                || abs(seconds - (now + Self.eastAfricaOffsetSeconds)) <= Self.timestampToleranceSeconds
        else {
            return Self.invalid("Invalid Timestamp")
        }
        guard shortCode == self.core.credentials.darajaShortCode else {
            return Self.error(500, "500.001.1001", "Merchant does not exist")
        }
        let expected = Data((shortCode + self.core.credentials.darajaPasskey + timestamp).utf8).base64EncodedString()
        guard SandboxHTTP.matches(password, expected) else {
            return Self.error(500, "500.001.1001", "Wrong credentials")
        }
        return nil
    }

    private func decode<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body? {
        let body = try await SandboxHTTP.body(of: request)
        return try? JSONDecoder().decode(type, from: Data(body))
    }

    /// Daraja's error body.
    private static func error(_ status: Int, _ code: String, _ message: String) -> Response {
        let requestID = "\(SandboxPaymentCore.randomDigits(5))-\(SandboxPaymentCore.randomDigits(8))-1"
        return SandboxHTTP.document(
            status,
            .object([
                ("requestId", .string(requestID)), ("errorCode", .string(code)), ("errorMessage", .string(message)),
            ]))
    }

    /// Daraja's 400 for an invalid field: `Bad Request - <detail>`.
    private static func invalid(_ detail: String) -> Response {
        Self.error(400, Self.invalidRequestCode, "Bad Request - \(detail)")
    }

    /// A Kenyan MSISDN without `+`: `2547XXXXXXXX` or `2541XXXXXXXX`.
    private static func isMSISDN(_ text: String) -> Bool {
        text.count == 12 && text.allSatisfy { $0.isASCII && $0.isNumber }
            && (text.hasPrefix("2547") || text.hasPrefix("2541"))
    }

    /// A receipt shaped like M-Pesa's: ten uppercase letters and digits starting with a letter.
    private static func receipt() -> String {
        "S" + SandboxPaymentCore.randomString(9, from: SandboxPaymentCore.uppercaseAlphabet)
    }

    /// `ddMMyyyyHHmmss` in East Africa Time, as in `ws_CO_191220191020363925`.
    private static func dayFirstCompact(_ timestamp: Timestamp) -> String {
        let compact = Array(SandboxTime.darajaCompact(timestamp))
        return String(compact[6..<8] + compact[4..<6] + compact[0..<4] + compact[8..<14])
    }
}
