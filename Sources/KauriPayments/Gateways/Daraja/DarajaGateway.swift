import AsyncHTTPClient
import Foundation
import KauriCore

/// Safaricom M-Pesa through Daraja: STK push (M-Pesa Express) to collect, STK query to verify, and B2C payments to
/// refund and pay out. Callbacks are unsigned (see `parseWebhook`).
///
/// Every call carries `Authorization: Bearer <token>` from the OAuth client-credentials endpoint; the token is
/// cached until shortly before expiry and fetched anew once when Daraja answers "Invalid Access Token".
///
/// Amounts are whole Kenyan shillings: an amount with cents, outside KES 1–250,000, or in another currency is
/// refused before any call (`MpesaFormat`).
///
/// Idempotency: an STK push has no idempotency key at Daraja (a retry after a lost answer sends a second prompt,
/// which the customer must approve again, so no money moves twice without their PIN); B2C payments carry our
/// reference as `OriginatorConversationID`, which Daraja refuses to reuse → `.duplicateReference`.
public struct DarajaGateway: PaymentGateway {
    /// Account settings from the Daraja portal.
    public struct Configuration: Sendable {
        /// The STK push transaction type.
        public enum TransactionType: String, Sendable, Hashable {
            /// A paybill (`CustomerPayBillOnline`).
            case payBill = "CustomerPayBillOnline"
            /// A till (`CustomerBuyGoodsOnline`); `partyB` is the till number.
            case buyGoods = "CustomerBuyGoodsOnline"
        }

        /// The time zone of the `Timestamp` in STK requests; Daraja's docs do not say, and community code uses EAT.
        public enum TimestampTimeZone: Sendable, Hashable {
            /// East Africa Time, UTC+3 (no daylight saving).
            case eastAfrica
            /// UTC, as the official Node library does.
            case utc
        }

        /// The app's consumer key.
        public var consumerKey: Secret<String>
        /// The app's consumer secret.
        public var consumerSecret: Secret<String>
        /// The paybill or store number (`BusinessShortCode`) that also keys the STK password.
        public var shortCode: String
        /// The Lipa na M-Pesa Online passkey.
        public var passkey: Secret<String>
        /// Paybill or till.
        public var transactionType: TransactionType
        /// Who receives STK payments: the paybill (defaults to `shortCode`) or the till number.
        public var partyB: String
        /// The B2C shortcode money is sent from (`PartyA` of B2C).
        public var b2cShortCode: String
        /// The B2C API initiator's user name.
        public var initiatorName: String
        /// The initiator password encrypted with Safaricom's certificate, base64, as the portal generates it.
        public var securityCredential: Secret<String>
        /// The API root (`https://sandbox.safaricom.co.ke` for the sandbox), without a trailing slash.
        public var baseURL: String
        /// The deadline for one request, connection included.
        public var requestTimeout: Duration
        /// The time zone of STK timestamps.
        public var timestampTimeZone: TimestampTimeZone

        /// A configuration.
        public init(
            consumerKey: Secret<String>,
            consumerSecret: Secret<String>,
            shortCode: String,
            passkey: Secret<String>,
            transactionType: TransactionType = .payBill,
            partyB: String? = nil,
            b2cShortCode: String,
            initiatorName: String,
            securityCredential: Secret<String>,
            baseURL: String = "https://api.safaricom.co.ke",
            requestTimeout: Duration = .seconds(15),
            timestampTimeZone: TimestampTimeZone = .eastAfrica
        ) {
            self.consumerKey = consumerKey
            self.consumerSecret = consumerSecret
            self.shortCode = shortCode
            self.passkey = passkey
            self.transactionType = transactionType
            self.partyB = partyB ?? shortCode
            self.b2cShortCode = b2cShortCode
            self.initiatorName = initiatorName
            self.securityCredential = securityCredential
            self.baseURL = baseURL
            self.requestTimeout = requestTimeout
            self.timestampTimeZone = timestampTimeZone
        }
    }

    /// The longest `AccountReference` Daraja takes.
    static let accountReferenceCharacterCountMax = 12
    /// The longest `TransactionDesc` Daraja takes.
    static let transactionDescriptionCharacterCountMax = 13
    /// The longest B2C `Remarks`.
    static let remarksCharacterCountMax = 100
    /// EAT's offset from UTC.
    static let eastAfricaOffsetMilliseconds: UInt64 = 3 * 3_600 * 1_000
    /// The B2C command for refunds and payouts.
    static let b2cCommandID = "BusinessPayment"
    /// The error code Daraja gives a refused access token.
    static let invalidTokenErrorCode = "404.001.03"
    /// Daraja's throttling error codes: "Spike Arrest Violation" and "Quota Violation".
    static let throttlingErrorCodes: Set<String> = ["500.003.02", "500.003.03"]
    /// STK result codes that mean the customer did not go through with it: 1032 cancelled by the user, 1037 no
    /// answer from the phone, 1019 expired.
    static let cancelledResultCodes: Set<String> = ["1032", "1037", "1019"]
    /// STK query result codes that mean "not final yet": 4999 "The transaction is still under processing", seen in
    /// live query answers (not in the portal's table); reading it as pending is the safe side.
    static let processingResultCodes: Set<String> = ["4999"]
    /// Shown to the customer after a prompt was sent.
    static let displayText = "Check your phone and enter your M-Pesa PIN to pay."

    public let name = GatewayName.mpesa
    public let capabilities: GatewayCapabilities = [.mobileMoney, .refund, .payout]
    public let currencies: Set<Currency> = [.kes]

    /// Whole shillings from KES 1 to 250,000 only, refused before anything is written or sent.
    public func validate(_ amount: Money) throws(GatewayError) {
        _ = try MpesaFormat.shillings(amount)
    }

    private let configuration: Configuration
    private let http: GatewayHTTPClient
    private let baseURL: String
    private let clock: any WallClock
    private let tokens: DarajaTokenCache

    /// An adapter that calls Daraja through `httpClient`, which the caller owns and shuts down, and timestamps its
    /// requests from `clock`.
    public init(configuration: Configuration, httpClient: HTTPClient, clock: any WallClock) {
        self.configuration = configuration
        self.baseURL = GatewayHTTPClient.normalizedBaseURL(configuration.baseURL)
        self.clock = clock
        self.tokens = DarajaTokenCache(clock: clock)
        self.http = GatewayHTTPClient(
            gateway: .mpesa, httpClient: httpClient, requestTimeout: configuration.requestTimeout,
            secrets: [
                configuration.consumerKey.value, configuration.consumerSecret.value, configuration.passkey.value,
                configuration.securityCredential.value,
            ])
    }

    // MARK: - Payments

    /// Daraja has no hosted checkout.
    public func startCheckout(_ request: CheckoutRequest) async throws -> CheckoutStarted {
        throw GatewayError.notSupported("mpesa: Daraja has no hosted checkout; use an STK push")
    }

    /// STK push: `POST /mpesa/stkpush/v1/processrequest`. The provider reference is the `CheckoutRequestID`.
    public func chargeMobileMoney(_ request: MobileMoneyChargeRequest) async throws -> ChargeStarted {
        guard request.provider == .mpesa else {
            throw self.http.invalidRequest("Daraja charges only M-Pesa, not \(request.provider.rawValue)")
        }
        let shillings = try MpesaFormat.shillings(request.amount)
        let msisdn = try MpesaFormat.msisdn(request.phone)
        let timestamp = Self.timestamp(at: self.clock.now(), timeZone: self.configuration.timestampTimeZone)
        let description = request.description.trimmingCharacters(in: .whitespacesAndNewlines)
        let body = DarajaWire.StkPushRequest(
            businessShortCode: self.configuration.shortCode, password: self.password(timestamp: timestamp),
            timestamp: timestamp, transactionType: self.configuration.transactionType.rawValue, amount: shillings,
            partyA: msisdn, partyB: self.configuration.partyB, phoneNumber: msisdn, callBackURL: request.callbackURL,
            accountReference: GatewayHTTPClient.clipped(
                description.isEmpty ? request.reference.value : description,
                to: Self.accountReferenceCharacterCountMax),
            transactionDesc: GatewayHTTPClient.clipped(
                description.isEmpty ? "Payment" : description, to: Self.transactionDescriptionCharacterCountMax))
        let response = try await self.authorizedPost(
            "/mpesa/stkpush/v1/processrequest", body: GatewayHTTPClient.encode(body))
        guard response.isSuccess else { throw self.failure(response) }
        guard let answer = GatewayHTTPClient.decode(DarajaWire.StkPushResponse.self, from: response.body),
            let responseCode = answer.responseCode?.value
        else { throw self.http.unreadable(response) }
        guard responseCode == "0" else {
            throw self.http.declined(
                code: responseCode, message: answer.responseDescription ?? "Daraja did not send the prompt")
        }
        guard let checkoutRequestID = answer.checkoutRequestID, !checkoutRequestID.isEmpty else {
            throw self.http.unreadable(response)
        }
        return ChargeStarted(providerReference: checkoutRequestID, displayText: Self.displayText)
    }

    /// STK query: `POST /mpesa/stkpushquery/v1/query` by `CheckoutRequestID`.
    ///
    /// The "transaction is being processed" error → pending; `ResultCode` "0" → succeeded; 1032, 1037, 1019 →
    /// cancelled; 4999 → pending; any other code → failed. The query reports neither the amount nor the receipt
    /// number, so both are nil; the callback carries them.
    /// - Throws: `.invalidRequest` without a `CheckoutRequestID`: Daraja cannot look a payment up any other way.
    public func verify(_ request: VerifyRequest) async throws -> GatewayPaymentStatus {
        guard request.currency == .kes else {
            throw self.http.invalidRequest("M-Pesa takes only KES, not \(request.currency.code)")
        }
        guard let checkoutRequestID = request.providerReference, !checkoutRequestID.isEmpty else {
            throw self.http.invalidRequest("an STK query needs the CheckoutRequestID of the push")
        }
        let timestamp = Self.timestamp(at: self.clock.now(), timeZone: self.configuration.timestampTimeZone)
        let body = DarajaWire.StkQueryRequest(
            businessShortCode: self.configuration.shortCode, password: self.password(timestamp: timestamp),
            timestamp: timestamp, checkoutRequestID: checkoutRequestID)
        let response = try await self.authorizedPost(
            "/mpesa/stkpushquery/v1/query", body: GatewayHTTPClient.encode(body))
        let answer = GatewayHTTPClient.decode(DarajaWire.StkQueryResponse.self, from: response.body)
        if let message = answer?.errorMessage, message.lowercased().contains("being processed") {
            return GatewayPaymentStatus(
                reference: request.reference, providerReference: checkoutRequestID, outcome: .pending, amount: nil,
                providerTransactionID: nil)
        }
        guard response.isSuccess else { throw self.failure(response) }
        guard let resultCode = answer?.resultCode?.value else { throw self.http.unreadable(response) }
        return GatewayPaymentStatus(
            reference: request.reference, providerReference: checkoutRequestID,
            outcome: Self.stkOutcome(resultCode: resultCode, description: answer?.resultDesc), amount: nil,
            providerTransactionID: nil)
    }

    // MARK: - Refunds and payouts

    /// A B2C `BusinessPayment` of the refund to the payer's phone, with our refund reference as
    /// `OriginatorConversationID`; the result arrives at `callbackURL` (`ResultURL` and `QueueTimeOutURL`).
    public func refund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus {
        guard let phone = request.phone else {
            throw self.http.invalidRequest("a Daraja refund is a B2C payment and needs the payer's phone")
        }
        let (conversationID, outcome) = try await self.b2c(
            reference: request.reference, amount: request.amount, phone: phone,
            remarks: "Refund of " + request.paymentReference.value, callbackURL: request.callbackURL)
        return GatewayRefundStatus(
            reference: request.reference, paymentReference: request.paymentReference,
            providerReference: conversationID, outcome: outcome.refundOutcome, amount: request.amount)
    }

    /// Daraja has no synchronous lookup of a B2C payment by `OriginatorConversationID` (its Transaction Status API
    /// answers only through a callback), so this is always nil; `refund` is idempotent by reference instead:
    /// sending it again answers `.duplicateReference`.
    public func findRefund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus? {
        nil
    }

    /// A B2C `BusinessPayment` to an M-Pesa wallet, with our payout reference as `OriginatorConversationID`.
    /// Bank destinations are not supported.
    public func payout(_ request: GatewayPayoutRequest) async throws -> GatewayPayoutStatus {
        guard case .mobileMoney(let phone, let provider, _) = request.destination else {
            throw GatewayError.notSupported("mpesa: Daraja B2C pays only M-Pesa wallets, not bank accounts")
        }
        guard provider == .mpesa else {
            throw self.http.invalidRequest("Daraja pays out only to M-Pesa, not \(provider.rawValue)")
        }
        let reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        let (conversationID, outcome) = try await self.b2c(
            reference: request.reference, amount: request.amount, phone: phone,
            remarks: reason.count >= 2 ? reason : "Payout " + request.reference.value,
            callbackURL: request.callbackURL)
        return GatewayPayoutStatus(
            reference: request.reference, providerReference: conversationID, outcome: outcome,
            amount: request.amount)
    }

    /// `POST /mpesa/b2c/v3/paymentrequest`: queued → pending with the `ConversationID`; refused with
    /// `ResponseCode` ≠ "0" → failed; "Duplicate OriginatorConversationID" → `.duplicateReference`.
    private func b2c(
        reference: GatewayReference, amount: Money, phone: PhoneNumber, remarks: String, callbackURL: String
    ) async throws(GatewayError) -> (conversationID: String?, outcome: GatewayPayoutStatus.Outcome) {
        let shillings = try MpesaFormat.shillings(amount)
        let msisdn = try MpesaFormat.msisdn(phone)
        let body = DarajaWire.B2CRequest(
            originatorConversationID: reference.value, initiatorName: self.configuration.initiatorName,
            securityCredential: self.configuration.securityCredential.value, commandID: Self.b2cCommandID,
            amount: shillings, partyA: self.configuration.b2cShortCode, partyB: msisdn,
            remarks: GatewayHTTPClient.clipped(remarks, to: Self.remarksCharacterCountMax),
            queueTimeOutURL: callbackURL, resultURL: callbackURL)
        let response = try await self.authorizedPost(
            "/mpesa/b2c/v3/paymentrequest", body: GatewayHTTPClient.encode(body))
        guard response.isSuccess else {
            if let error = GatewayHTTPClient.decode(DarajaWire.ErrorBody.self, from: response.body),
                let message = error.errorMessage, message.lowercased().contains("duplicate")
            {
                throw .duplicateReference
            }
            throw self.failure(response)
        }
        guard let answer = GatewayHTTPClient.decode(DarajaWire.B2CResponse.self, from: response.body),
            let responseCode = answer.responseCode?.value
        else { throw self.http.unreadable(response) }
        guard responseCode == "0" else {
            let message = self.http.scrub(answer.responseDescription ?? "Daraja refused the B2C payment")
            return (answer.conversationID, .failed(code: responseCode, message: message))
        }
        return (answer.conversationID, .pending)
    }

    // MARK: - Formats

    /// The STK `Timestamp`, `YYYYMMDDHHmmss`, of `time` in `timeZone`.
    static func timestamp(at time: Timestamp, timeZone: Configuration.TimestampTimeZone) -> String {
        let local =
            switch timeZone {
            case .eastAfrica: time.adding(milliseconds: Self.eastAfricaOffsetMilliseconds)
            case .utc: time
            }
        // `rfc3339` is `YYYY-MM-DDTHH:MM:SS.mmmZ`; its first 19 characters hold every digit we need.
        return String(local.rfc3339.prefix(19).filter(\.isNumber))
    }

    /// The STK `Password`: base64 of shortcode, passkey and timestamp concatenated.
    static func password(shortCode: String, passkey: String, timestamp: String) -> String {
        Data((shortCode + passkey + timestamp).utf8).base64EncodedString()
    }

    /// The outcome of an STK result code, from a query or a callback.
    static func stkOutcome(resultCode: String, description: String?) -> GatewayPaymentStatus.Outcome {
        let message = description ?? "M-Pesa result \(resultCode)"
        if resultCode == "0" { return .succeeded }
        if Self.cancelledResultCodes.contains(resultCode) { return .cancelled(code: resultCode, message: message) }
        if Self.processingResultCodes.contains(resultCode) { return .pending }
        return .failed(code: resultCode, message: message)
    }

    private func password(timestamp: String) -> String {
        Self.password(
            shortCode: self.configuration.shortCode, passkey: self.configuration.passkey.value, timestamp: timestamp)
    }

    // MARK: - Plumbing

    /// A POST with the cached token; a refused token is dropped and the call made once more with a fresh one
    /// (Daraja refuses such a request before acting on it, so resending is safe).
    private func authorizedPost(_ path: String, body: [UInt8]) async throws(GatewayError) -> GatewayHTTPClient.Response
    {
        let token = try await self.accessToken()
        let response = try await self.post(path, body: body, token: token)
        guard Self.isInvalidToken(response) else { return response }
        await self.tokens.invalidate(token)
        let freshToken = try await self.accessToken()
        return try await self.post(path, body: body, token: freshToken)
    }

    private func post(
        _ path: String, body: [UInt8], token: String
    ) async throws(GatewayError)
        -> GatewayHTTPClient.Response
    {
        try await self.http.send(
            .post, url: self.baseURL + path, headers: [("Authorization", "Bearer " + token)], body: body)
    }

    /// A token from the cache, fetched with Basic authentication when needed. Fetching creates nothing, so every
    /// failure to get one is at worst `.unavailable`.
    private func accessToken() async throws(GatewayError) -> String {
        let http = self.http
        let url = self.baseURL + "/oauth/v1/generate?grant_type=client_credentials"
        let authorization = GatewayHTTPClient.basicAuthorization(
            user: self.configuration.consumerKey.value, password: self.configuration.consumerSecret.value)
        return try await self.tokens.accessToken { () async throws(GatewayError) in
            let response: GatewayHTTPClient.Response
            do throws(GatewayError) {
                response = try await http.send(.get, url: url, headers: [("Authorization", authorization)])
            } catch .timedOut {
                throw .unavailable("mpesa: no access token within the timeout")
            }
            let answer = GatewayHTTPClient.decode(DarajaWire.TokenResponse.self, from: response.body)
            guard response.isSuccess else {
                let error = GatewayHTTPClient.decode(DarajaWire.ErrorBody.self, from: response.body)
                switch http.failure(for: response, providerMessage: error?.text) {
                case .invalidRequest(let detail): throw .authenticationFailed(detail)
                case .outcomeUnknown(let detail): throw .unavailable(detail)
                case let failure: throw failure
                }
            }
            guard let value = answer?.accessToken, !value.isEmpty, let lifetime = answer?.expiresIn?.integer,
                lifetime > 0
            else { throw .unavailable("mpesa: the token answer had no access_token or expires_in") }
            return (value, lifetime)
        }
    }

    /// Whether Daraja refused the access token.
    private static func isInvalidToken(_ response: GatewayHTTPClient.Response) -> Bool {
        guard !response.isSuccess else { return false }
        let error = GatewayHTTPClient.decode(DarajaWire.ErrorBody.self, from: response.body)
        if error?.errorCode == Self.invalidTokenErrorCode { return true }
        if error?.errorMessage?.lowercased().contains("invalid access token") == true { return true }
        return response.status == 401
    }

    /// The error for a refused answer: throttling and refused tokens by Daraja's error code, else by status.
    private func failure(_ response: GatewayHTTPClient.Response) -> GatewayError {
        let error = GatewayHTTPClient.decode(DarajaWire.ErrorBody.self, from: response.body)
        if let code = error?.errorCode, Self.throttlingErrorCodes.contains(code) {
            return .rateLimited(retryAfterSeconds: response.retryAfterSeconds)
        }
        if Self.isInvalidToken(response) {
            return .authenticationFailed("mpesa: Daraja refused a freshly fetched access token")
        }
        return self.http.failure(for: response, providerMessage: error?.text)
    }
}

extension GatewayPayoutStatus.Outcome {
    /// The same outcome for a refund (a Daraja refund is a B2C payment).
    fileprivate var refundOutcome: GatewayRefundStatus.Outcome {
        switch self {
        case .pending: .pending
        case .succeeded: .succeeded
        case .failed(let code, let message): .failed(code: code, message: message)
        }
    }
}
