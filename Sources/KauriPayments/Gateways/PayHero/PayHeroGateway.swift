import AsyncHTTPClient
import Foundation
import KauriCore

/// PayHero Kenya: M-Pesa STK push through a PayHero payment channel, status checks, and withdrawals from the
/// PayHero wallet to M-Pesa for refunds and payouts, over `https://backend.payhero.co.ke/api/v2` with HTTP Basic
/// authentication (the API username and password from the PayHero dashboard). Callbacks are unsigned.
///
/// Amounts are whole Kenyan shillings within the M-Pesa limits (`MpesaFormat`), refused before any call otherwise.
/// Our reference goes out as `external_reference` on every create call.
public struct PayHeroGateway: PaymentGateway {
    /// Account settings from the PayHero dashboard.
    public struct Configuration: Sendable {
        /// The API username.
        public var username: Secret<String>
        /// The API password.
        public var password: Secret<String>
        /// The payment channel the STK pushes collect into.
        public var channelID: Int
        /// The API root, without a trailing slash.
        public var baseURL: String
        /// The deadline for one request, connection included.
        public var requestTimeout: Duration

        /// A configuration.
        public init(
            username: Secret<String>,
            password: Secret<String>,
            channelID: Int,
            baseURL: String = "https://backend.payhero.co.ke/api/v2",
            requestTimeout: Duration = .seconds(15)
        ) {
            self.username = username
            self.password = password
            self.channelID = channelID
            self.baseURL = baseURL
            self.requestTimeout = requestTimeout
        }
    }

    /// PayHero's network code for Safaricom M-Pesa on `/withdraw`.
    static let mpesaNetworkCode = "63902"
    /// STK result codes that mean the customer did not go through with it (as Daraja: cancelled, no answer,
    /// expired).
    static let cancelledResultCodes: Set<String> = ["1032", "1037", "1019"]
    /// The prefix of a Daraja STK `CheckoutRequestID`, which only payment callbacks carry.
    static let stkCheckoutRequestIDPrefix = "ws_CO_"
    /// Shown to the customer after a prompt was sent.
    static let displayText = "Check your phone and enter your M-Pesa PIN to pay."

    public let name = GatewayName.payhero
    public let capabilities: GatewayCapabilities = [.mobileMoney, .refund, .payout]
    public let currencies: Set<Currency> = [.kes]

    /// Whole shillings from KES 1 to 250,000 only, refused before anything is written or sent.
    public func validate(_ amount: Money) throws(GatewayError) {
        _ = try MpesaFormat.shillings(amount)
    }

    private let configuration: Configuration
    private let http: GatewayHTTPClient
    private let baseURL: String

    /// An adapter that calls PayHero through `httpClient`, which the caller owns and shuts down.
    public init(configuration: Configuration, httpClient: HTTPClient) {
        self.configuration = configuration
        self.baseURL = GatewayHTTPClient.normalizedBaseURL(configuration.baseURL)
        self.http = GatewayHTTPClient(
            gateway: .payhero, httpClient: httpClient, requestTimeout: configuration.requestTimeout,
            secrets: [configuration.username.value, configuration.password.value])
    }

    // MARK: - Payments

    /// PayHero has no hosted checkout in this API.
    public func startCheckout(_ request: CheckoutRequest) async throws -> CheckoutStarted {
        throw GatewayError.notSupported("payhero: no hosted checkout; use an STK push")
    }

    /// `POST /payments {amount, phone_number, channel_id, provider: "m-pesa", external_reference, callback_url}`.
    /// The provider reference is the answer's `reference`, which `verify` needs.
    public func chargeMobileMoney(_ request: MobileMoneyChargeRequest) async throws -> ChargeStarted {
        guard request.provider == .mpesa else {
            throw self.http.invalidRequest("PayHero charges only M-Pesa, not \(request.provider.rawValue)")
        }
        let shillings = try MpesaFormat.shillings(request.amount)
        _ = try MpesaFormat.msisdn(request.phone)
        let body = PayHeroWire.PaymentRequest(
            amount: shillings, phoneNumber: "0" + request.phone.nationalNumber, channelID: self.configuration.channelID,
            provider: "m-pesa", externalReference: request.reference.value, callbackURL: request.callbackURL,
            customerName: nil)
        let response = try await self.send(.post, "/payments", body: GatewayHTTPClient.encode(body))
        guard response.isSuccess else { throw self.failure(response) }
        guard let answer = GatewayHTTPClient.decode(PayHeroWire.PaymentResponse.self, from: response.body),
            let reference = answer.reference, !reference.isEmpty
        else { throw self.http.unreadable(response) }
        if answer.success == false || answer.status?.uppercased() == "FAILED" {
            throw self.http.declined(code: answer.status ?? "FAILED", message: "PayHero did not send the prompt")
        }
        return ChargeStarted(providerReference: reference, displayText: Self.displayText)
    }

    /// `GET /transaction-status?reference=<provider reference>`.
    ///
    /// `SUCCESS` → succeeded (receipt from `provider_reference`); `FAILED` → cancelled when the result code is
    /// 1032/1037/1019 or the text says cancelled, else failed; `QUEUED`, `PENDING` and anything else → pending.
    /// Without PayHero's reference (the push answer was lost) it asks by our `external_reference`.
    public func verify(_ request: VerifyRequest) async throws -> GatewayPaymentStatus {
        guard request.currency == .kes else {
            throw self.http.invalidRequest("PayHero takes only KES, not \(request.currency.code)")
        }
        // PayHero's own reference when we have it; otherwise (the push answer was lost to a timeout) our
        // `external_reference`, which the status endpoint is assumed to accept too (docs/gateways.md §4.2, [U]).
        let key = request.providerReference.flatMap { $0.isEmpty ? nil : $0 } ?? request.reference.value
        let response = try await self.send(
            .get, "/transaction-status?reference=" + GatewayHTTPClient.percentEncoded(key))
        guard response.isSuccess else { throw self.failure(response) }
        guard let answer = GatewayHTTPClient.decode(PayHeroWire.StatusResponse.self, from: response.body),
            let status = answer.status
        else { throw self.http.unreadable(response) }
        var amount: Money?
        if let text = answer.amount?.value {
            guard let money = GatewayAmount.money(majorUnitsText: text, currency: .kes) else {
                throw self.http.unreadable(response)
            }
            amount = money
        }
        return GatewayPaymentStatus(
            reference: request.reference, providerReference: request.providerReference ?? answer.reference,
            outcome: Self.paymentOutcome(
                status: status, resultCode: answer.resultCode?.value, description: answer.resultDesc),
            amount: amount, providerTransactionID: answer.providerReference ?? answer.thirdPartyReference)
    }

    // MARK: - Refunds and payouts

    /// A withdrawal of the refund from the PayHero wallet to the payer's M-Pesa, with our refund reference as
    /// `external_reference`.
    public func refund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus {
        guard let phone = request.phone else {
            throw self.http.invalidRequest("a PayHero refund is a withdrawal to the payer's phone, and none was given")
        }
        let providerReference = try await self.withdraw(
            reference: request.reference, amount: request.amount, phone: phone, callbackURL: request.callbackURL)
        return GatewayRefundStatus(
            reference: request.reference, paymentReference: request.paymentReference,
            providerReference: providerReference, outcome: .pending, amount: request.amount)
    }

    /// PayHero has no lookup of a withdrawal by our reference, so this is always nil.
    public func findRefund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus? {
        nil
    }

    /// A withdrawal from the PayHero wallet to an M-Pesa wallet, with our payout reference as `external_reference`.
    /// Bank destinations are not supported.
    public func payout(_ request: GatewayPayoutRequest) async throws -> GatewayPayoutStatus {
        guard case .mobileMoney(let phone, let provider, _) = request.destination else {
            throw GatewayError.notSupported("payhero: this adapter pays out only to M-Pesa wallets")
        }
        guard provider == .mpesa else {
            throw self.http.invalidRequest("PayHero pays out only to M-Pesa here, not \(provider.rawValue)")
        }
        let providerReference = try await self.withdraw(
            reference: request.reference, amount: request.amount, phone: phone, callbackURL: request.callbackURL)
        return GatewayPayoutStatus(
            reference: request.reference, providerReference: providerReference, outcome: .pending,
            amount: request.amount)
    }

    /// `POST /withdraw {amount, phone_number: "2547…", network_code: "63902", external_reference, callback_url,
    /// channel: "mobile"}`; queued → the answer's `merchant_reference` (or `conversation_id`). A refusal that says
    /// "duplicate" → `.duplicateReference`.
    private func withdraw(
        reference: GatewayReference, amount: Money, phone: PhoneNumber, callbackURL: String
    ) async throws(GatewayError) -> String? {
        let shillings = try MpesaFormat.shillings(amount)
        let msisdn = try MpesaFormat.msisdn(phone)
        let body = PayHeroWire.WithdrawRequest(
            amount: shillings, phoneNumber: msisdn, networkCode: Self.mpesaNetworkCode,
            externalReference: reference.value, callbackURL: callbackURL, channel: "mobile")
        let response = try await self.send(.post, "/withdraw", body: GatewayHTTPClient.encode(body))
        guard response.isSuccess else { throw self.failure(response) }
        guard let answer = GatewayHTTPClient.decode(PayHeroWire.WithdrawResponse.self, from: response.body),
            answer.status != nil || answer.merchantReference != nil || answer.conversationID != nil
        else { throw self.http.unreadable(response) }
        return answer.merchantReference ?? answer.conversationID ?? answer.checkoutRequestID
    }

    // MARK: - Mapping

    /// A payment's outcome from a status answer.
    static func paymentOutcome(
        status: String, resultCode: String?, description: String?
    )
        -> GatewayPaymentStatus.Outcome
    {
        switch status.uppercased() {
        case "SUCCESS":
            return .succeeded
        case "FAILED":
            let code = resultCode ?? "FAILED"
            let message = description ?? "the payment failed"
            if Self.cancelledResultCodes.contains(code) || message.lowercased().contains("cancel") {
                return .cancelled(code: code, message: message)
            }
            return .failed(code: code, message: message)
        default:
            return .pending
        }
    }

    /// An STK result code's outcome, from a callback.
    static func callbackOutcome(resultCode: String, description: String?) -> GatewayPaymentStatus.Outcome {
        let message = description ?? "M-Pesa result \(resultCode)"
        if resultCode == "0" { return .succeeded }
        if Self.cancelledResultCodes.contains(resultCode) { return .cancelled(code: resultCode, message: message) }
        return .failed(code: resultCode, message: message)
    }

    // MARK: - Plumbing

    /// The error for a refused answer: a duplicate reference when PayHero says so, else by status.
    private func failure(_ response: GatewayHTTPClient.Response) -> GatewayError {
        let error = GatewayHTTPClient.decode(PayHeroWire.ErrorBody.self, from: response.body)
        let text = error?.text
        // PayHero does not document its duplicate answer; any 4xx naming a duplicate or an existing reference is
        // taken as one, so a retried withdrawal is never mistaken for a refused one.
        let words = ((error?.errorCode ?? "") + " " + (text ?? "")).lowercased()
        if (400...499).contains(response.status),
            words.contains("duplicate") || (words.contains("reference") && words.contains("already exists"))
        {
            return .duplicateReference
        }
        return self.http.failure(for: response, providerMessage: text)
    }

    /// One authenticated request.
    private func send(
        _ method: GatewayHTTPClient.Method, _ path: String, body: [UInt8]? = nil
    ) async throws(GatewayError) -> GatewayHTTPClient.Response {
        try await self.http.send(
            method, url: self.baseURL + path,
            headers: [
                (
                    "Authorization",
                    GatewayHTTPClient.basicAuthorization(
                        user: self.configuration.username.value, password: self.configuration.password.value)
                )
            ], body: body)
    }
}
