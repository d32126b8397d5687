import AsyncHTTPClient
import KauriCore

/// Paystack (Nigeria, Ghana, Kenya, South Africa): hosted checkout, mobile-money charges, refunds, transfers and
/// signed webhooks, over `https://api.paystack.co` with `Authorization: Bearer <secret key>`.
///
/// Amounts go on the wire as integers in the currency's subunit (kobo, pesewas, cents), which for every currency
/// Paystack takes is Kauri's minor unit, so no conversion is needed beyond refusing currencies outside the set.
///
/// Idempotency: a transaction's `reference` and a transfer's `reference` are ours, and Paystack refuses a second
/// use of either ("Duplicate Transaction Reference", "Reference already exists on a transfer") →
/// `.duplicateReference`. Refunds have no idempotency key at Paystack: each refund carries
/// `merchant_note: "kauri:<our refund reference>"`, and `findRefund` looks it up by that note before a retry.
public struct PaystackGateway: PaymentGateway {
    /// Account settings.
    public struct Configuration: Sendable {
        /// The secret key (`sk_test_…` or `sk_live_…`); it also signs webhooks.
        public var secretKey: Secret<String>
        /// The API root, without a trailing slash.
        public var baseURL: String
        /// The deadline for one request, connection included.
        public var requestTimeout: Duration

        /// A configuration.
        public init(
            secretKey: Secret<String>,
            baseURL: String = "https://api.paystack.co",
            requestTimeout: Duration = .seconds(15)
        ) {
            self.secretKey = secretKey
            self.baseURL = baseURL
            self.requestTimeout = requestTimeout
        }
    }

    /// The header carrying the webhook signature (header names arrive lower-cased).
    static let signatureHeader = "x-paystack-signature"
    /// The prefix of the `merchant_note` that names our refund reference.
    static let merchantNotePrefix = "kauri:"
    /// The refunds asked for in one `GET /refund` page; one payment never has nearly this many.
    static let refundListPageSize = 100
    /// Shown to the customer when Paystack gives no text of its own.
    static let displayTextDefault = "Approve the payment prompt on your phone."
    /// The currencies Paystack transfers (payouts) take (PS-oas `TransferInitiate.currency`).
    static let payoutCurrencies: Set<Currency> = [.ngn, .ghs, .kes, .zar]

    public let name = GatewayName.paystack
    /// Paystack refuses a second transaction with one reference (so an interrupted charge may be re-sent) and
    /// needs the customer's email on every transaction.
    public let capabilities: GatewayCapabilities = [
        .hostedCheckout, .mobileMoney, .refund, .payout, .signedWebhooks, .idempotentCharges, .requiresCustomerEmail,
    ]
    public let currencies: Set<Currency> = [.ngn, .ghs, .kes, .zar, .usd]

    let configuration: Configuration
    private let http: GatewayHTTPClient
    private let baseURL: String

    /// An adapter that calls Paystack through `httpClient`, which the caller owns and shuts down.
    public init(configuration: Configuration, httpClient: HTTPClient) {
        self.configuration = configuration
        self.baseURL = GatewayHTTPClient.normalizedBaseURL(configuration.baseURL)
        self.http = GatewayHTTPClient(
            gateway: .paystack, httpClient: httpClient, requestTimeout: configuration.requestTimeout,
            secrets: [configuration.secretKey.value])
    }

    // MARK: - Payments

    /// `POST /transaction/initialize`; the customer is sent to `authorization_url`, and the access code is the
    /// provider reference.
    public func startCheckout(_ request: CheckoutRequest) async throws -> CheckoutStarted {
        let amount = try self.subunits(request.amount)
        let body = PaystackWire.InitializeRequest(
            email: request.customerEmail, amount: amount, currency: request.amount.currency.code,
            reference: request.reference.value, callbackURL: request.returnURL,
            metadata: .init(kauriReference: request.reference.value, description: request.description))
        let response = try await self.send(.post, "/transaction/initialize", body: GatewayHTTPClient.encode(body))
        let answer = GatewayHTTPClient.decode(
            PaystackWire.Envelope<PaystackWire.InitializeData>.self, from: response.body)
        guard response.isSuccess else { throw self.failure(response, message: answer?.message) }
        guard let url = answer?.data?.authorizationURL, !url.isEmpty else { throw self.http.unreadable(response) }
        return CheckoutStarted(redirectURL: url, providerReference: answer?.data?.accessCode)
    }

    /// `POST /charge` with `mobile_money {phone, provider}`: Ghana numbers in local form (`0551234987`) with
    /// `mtn`, `vod` (Telecel, formerly Vodafone) or `atl` (AirtelTigo); Kenyan numbers as `2547…` with
    /// `mpesa_offline` (STK push).
    ///
    /// `pay_offline`, `pending`, `send_otp` and other non-final answers → a pending charge with Paystack's display
    /// text; `success` → an immediate success; `failed` → `.declined`.
    public func chargeMobileMoney(_ request: MobileMoneyChargeRequest) async throws -> ChargeStarted {
        let amount = try self.subunits(request.amount)
        let mobileMoney = try Self.mobileMoney(
            phone: request.phone, provider: request.provider, currency: request.amount.currency)
        let body = PaystackWire.ChargeRequest(
            email: request.customerEmail, amount: amount, currency: request.amount.currency.code,
            reference: request.reference.value, mobileMoney: mobileMoney,
            metadata: .init(kauriReference: request.reference.value, description: request.description))
        let response = try await self.send(.post, "/charge", body: GatewayHTTPClient.encode(body))
        let answer = GatewayHTTPClient.decode(PaystackWire.Envelope<PaystackWire.ChargeData>.self, from: response.body)
        if let data = answer?.data, data.status == "failed" {
            let message = data.message ?? data.gatewayResponse ?? answer?.message ?? "the charge failed"
            throw self.http.declined(code: "failed", message: message)
        }
        guard response.isSuccess else { throw self.failure(response, message: answer?.message) }
        guard let data = answer?.data, let status = data.status else { throw self.http.unreadable(response) }
        let providerReference = data.reference ?? request.reference.value
        guard status == "success" else {
            return ChargeStarted(
                providerReference: providerReference, displayText: data.displayText ?? Self.displayTextDefault)
        }
        let succeeded = GatewayPaymentStatus(
            reference: request.reference, providerReference: providerReference, outcome: .succeeded,
            amount: try self.money(data.amount, currency: data.currency, response: response),
            providerTransactionID: data.id?.value)
        return ChargeStarted(providerReference: providerReference, displayText: nil, immediateStatus: succeeded)
    }

    /// `GET /transaction/verify/{reference}`.
    ///
    /// `success` → succeeded; `failed` → failed; `reversed` → failed (`reversed`); `abandoned`, `ongoing`,
    /// `pending`, `queued`, `processing` and anything unknown → pending. (`abandoned` is also what Paystack reports
    /// for a checkout the customer has not finished *yet*, so it ends nothing: the payment's own expiry does.)
    ///
    /// A reference Paystack says it has never seen ("Transaction reference not found" / "Transaction not found",
    /// HTTP 400 or 404) → failed with code `not_found`: Paystack assigns the transaction at initialize/charge time,
    /// so an unknown reference means our create call never reached it and nothing can be paid against it. Any other
    /// refusal is thrown, never read as pending.
    public func verify(_ request: VerifyRequest) async throws -> GatewayPaymentStatus {
        let path = "/transaction/verify/" + GatewayHTTPClient.percentEncoded(request.reference.value)
        let response = try await self.send(.get, path)
        let answer = GatewayHTTPClient.decode(
            PaystackWire.Envelope<PaystackWire.TransactionData>.self, from: response.body)
        guard response.isSuccess else {
            if response.status == 400 || response.status == 404, let message = answer?.message,
                Self.isReferenceNotFound(message)
            {
                return GatewayPaymentStatus(
                    reference: request.reference, providerReference: nil,
                    outcome: .failed(code: "not_found", message: self.http.scrub(message)), amount: nil,
                    providerTransactionID: nil)
            }
            throw self.failure(response, message: answer?.message)
        }
        guard let data = answer?.data, let status = data.status else { throw self.http.unreadable(response) }
        if let echoed = data.reference, echoed != request.reference.value { throw self.http.unreadable(response) }
        return GatewayPaymentStatus(
            reference: request.reference, providerReference: data.reference,
            outcome: Self.paymentOutcome(status: status, message: data.gatewayResponse),
            amount: try self.money(data.amount, currency: data.currency, response: response),
            providerTransactionID: data.id?.value)
    }

    // MARK: - Refunds

    /// `POST /refund {transaction, amount, currency, merchant_note: "kauri:<reference>"}`.
    ///
    /// `processed` → succeeded; `failed` → failed; `pending`, `processing` and anything else → pending.
    /// Paystack has no refund idempotency key, so a caller that lost the answer must use `findRefund` before
    /// sending again.
    public func refund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus {
        let amount = try self.subunits(request.amount)
        let body = PaystackWire.RefundRequest(
            transaction: request.paymentReference.value, amount: amount, currency: request.amount.currency.code,
            merchantNote: Self.merchantNotePrefix + request.reference.value)
        let response = try await self.send(.post, "/refund", body: GatewayHTTPClient.encode(body))
        let answer = GatewayHTTPClient.decode(PaystackWire.Envelope<PaystackWire.RefundData>.self, from: response.body)
        guard response.isSuccess else { throw self.failure(response, message: answer?.message) }
        guard let data = answer?.data, let status = data.status else { throw self.http.unreadable(response) }
        return try self.refundStatus(data, status: status, request: request, response: response)
    }

    /// `GET /refund?transaction=…&currency=…&perPage=…`, then the refund whose `merchant_note` names our reference.
    ///
    /// Paystack documents the `transaction` filter as the transaction's id, so the payment's Paystack transaction
    /// id is sent when known and its reference otherwise. An empty list → nil (safe to send); a refusal is thrown
    /// rather than read as "none", so a lookup failure can never cause a second refund.
    public func findRefund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus? {
        try self.requireCurrency(request.amount.currency)
        let transaction = request.paymentProviderTransactionID ?? request.paymentReference.value
        let path =
            "/refund?transaction=" + GatewayHTTPClient.percentEncoded(transaction) + "&currency="
            + request.amount.currency.code + "&perPage=\(Self.refundListPageSize)"
        let response = try await self.send(.get, path)
        let answer = GatewayHTTPClient.decode(
            PaystackWire.Envelope<[PaystackWire.RefundData]>.self, from: response.body)
        guard response.isSuccess else { throw self.failure(response, message: answer?.message) }
        guard let refunds = answer?.data else { throw self.http.unreadable(response) }
        let note = Self.merchantNotePrefix + request.reference.value
        guard let data = refunds.first(where: { $0.merchantNote == note }) else { return nil }
        guard let status = data.status else { throw self.http.unreadable(response) }
        return try self.refundStatus(data, status: status, request: request, response: response)
    }

    // MARK: - Payouts

    /// `POST /transferrecipient` (mobile money: `mobile_money` with the telco's bank code; bank accounts: `nuban`
    /// for NGN, `ghipss` for GHS, `basa` for ZAR) then `POST /transfer {source: "balance", …}` with our reference.
    ///
    /// `success` → succeeded; `failed`, `reversed`, `rejected`, `abandoned`, `blocked` → failed; `pending`,
    /// `received`, `queued`, `otp` and anything else → pending. (`otp` means the integration still requires
    /// transfer OTPs, which an API cannot supply: the transfer stays pending until someone finalises it.)
    public func payout(_ request: GatewayPayoutRequest) async throws -> GatewayPayoutStatus {
        let currency = request.amount.currency
        let amount = try self.subunits(request.amount)
        guard Self.payoutCurrencies.contains(currency) else {
            throw self.http.invalidRequest("Paystack transfers take NGN, GHS, KES or ZAR, not \(currency.code)")
        }
        guard Self.isTransferReference(request.reference.value) else {
            throw self.http.invalidRequest("a transfer reference may hold only a-z, 0-9, '-' and '_'")
        }
        let recipient = try Self.recipient(for: request.destination, currency: currency)
        let recipientCode = try await self.createRecipient(recipient)
        let body = PaystackWire.TransferRequest(
            source: "balance", amount: amount, recipient: recipientCode, reference: request.reference.value,
            reason: request.reason, currency: currency.code)
        let response = try await self.send(.post, "/transfer", body: GatewayHTTPClient.encode(body))
        return try self.transferStatus(response, request: request)
    }

    /// `GET /transfer/verify/{reference}`: the transfer sent with our reference, or nil when Paystack has none (404).
    public func findPayout(_ request: GatewayPayoutRequest) async throws -> GatewayPayoutStatus? {
        let response = try await self.send(
            .get, "/transfer/verify/" + GatewayHTTPClient.percentEncoded(request.reference.value))
        if response.status == 404 { return nil }
        return try self.transferStatus(response, request: request)
    }

    /// A transfer as `POST /transfer` and `GET /transfer/verify` answer it.
    private func transferStatus(
        _ response: GatewayHTTPClient.Response, request: GatewayPayoutRequest
    ) throws(GatewayError) -> GatewayPayoutStatus {
        let answer = GatewayHTTPClient.decode(
            PaystackWire.Envelope<PaystackWire.TransferData>.self, from: response.body)
        guard response.isSuccess else { throw self.failure(response, message: answer?.message) }
        guard let data = answer?.data, let status = data.status else { throw self.http.unreadable(response) }
        return GatewayPayoutStatus(
            reference: request.reference, providerReference: data.transferCode,
            outcome: Self.payoutOutcome(status: status, message: answer?.message),
            amount: try self.money(data.amount, currency: data.currency, response: response) ?? request.amount)
    }

    /// Creates (or, for an account Paystack already knows, fetches) a transfer recipient. It moves no money, so a
    /// lost answer is only `.unavailable`: the whole payout can be retried.
    private func createRecipient(_ recipient: PaystackWire.RecipientRequest) async throws(GatewayError) -> String {
        let response: GatewayHTTPClient.Response
        do {
            response = try await self.send(.post, "/transferrecipient", body: GatewayHTTPClient.encode(recipient))
        } catch .timedOut {
            throw .unavailable("paystack: no answer creating the transfer recipient in time")
        } catch .outcomeUnknown(let detail) {
            throw .unavailable(detail)
        }
        let answer = GatewayHTTPClient.decode(
            PaystackWire.Envelope<PaystackWire.RecipientData>.self, from: response.body)
        guard response.isSuccess else { throw self.failure(response, message: answer?.message) }
        guard let code = answer?.data?.recipientCode, !code.isEmpty else {
            throw .unavailable("paystack: the transfer recipient answer had no recipient_code")
        }
        return code
    }

    // MARK: - Mapping

    /// A payment's outcome from a transaction `status`.
    static func paymentOutcome(status: String, message: String?) -> GatewayPaymentStatus.Outcome {
        switch status {
        case "success": .succeeded
        case "failed": .failed(code: "failed", message: message ?? "the payment failed")
        case "reversed": .failed(code: "reversed", message: message ?? "the payment was reversed")
        default: .pending
        }
    }

    /// A refund's outcome from its `status`.
    static func refundOutcome(status: String) -> GatewayRefundStatus.Outcome {
        switch status {
        case "processed": .succeeded
        case "failed": .failed(code: "failed", message: "Paystack could not process the refund")
        default: .pending
        }
    }

    /// A transfer's outcome from its `status`.
    static func payoutOutcome(status: String, message: String?) -> GatewayPayoutStatus.Outcome {
        switch status {
        case "success": .succeeded
        case "failed", "reversed", "rejected", "abandoned", "blocked":
            .failed(code: status, message: message ?? "the transfer \(status)")
        default: .pending
        }
    }

    /// The `mobile_money` object of a charge.
    /// - Throws: `.invalidRequest` for a network, country or currency Paystack mobile money does not join up.
    static func mobileMoney(
        phone: PhoneNumber, provider: MobileMoneyProvider, currency: Currency
    ) throws(GatewayError) -> PaystackWire.MobileMoney {
        switch (currency, provider) {
        case (.ghs, .mtn), (.ghs, .telecel), (.ghs, .airteltigo):
            guard phone.country == .ghana else {
                throw .invalidRequest("paystack: a GHS mobile-money charge needs a Ghanaian number")
            }
            let code =
                switch provider {
                case .mtn: "mtn"
                case .telecel: "vod"
                default: "atl"
                }
            return PaystackWire.MobileMoney(phone: "0" + phone.nationalNumber, provider: code)
        case (.kes, .mpesa):
            guard phone.country == .kenya else {
                throw .invalidRequest("paystack: an M-Pesa charge needs a Kenyan number")
            }
            return PaystackWire.MobileMoney(phone: phone.digits, provider: "mpesa_offline")
        default:
            throw .invalidRequest(
                "paystack: mobile money through \(provider.rawValue) in \(currency.code) is not available")
        }
    }

    /// The transfer recipient for a destination.
    static func recipient(
        for destination: PayoutDestination, currency: Currency
    ) throws(GatewayError) -> PaystackWire.RecipientRequest {
        switch destination {
        case .mobileMoney(let phone, let provider, let name):
            let bankCode: String
            switch (currency, provider, phone.country) {
            case (.ghs, .mtn, .ghana): bankCode = "MTN"
            case (.ghs, .telecel, .ghana): bankCode = "VOD"
            case (.ghs, .airteltigo, .ghana): bankCode = "ATL"
            case (.kes, .mpesa, .kenya): bankCode = "MPESA"
            default:
                throw .invalidRequest(
                    "paystack: no mobile-money payouts through \(provider.rawValue) in \(currency.code) "
                        + "to a number from \(phone.country.isoCode)")
            }
            return PaystackWire.RecipientRequest(
                type: "mobile_money", name: name, accountNumber: "0" + phone.nationalNumber, bankCode: bankCode,
                currency: currency.code)
        case .bankAccount(let bankCode, let accountNumber, let name):
            let type: String
            switch currency {
            case .ngn: type = "nuban"
            case .ghs: type = "ghipss"
            case .zar: type = "basa"
            default:
                throw .notSupported("paystack: bank payouts in \(currency.code) are not supported by this adapter")
            }
            return PaystackWire.RecipientRequest(
                type: type, name: name, accountNumber: accountNumber, bankCode: bankCode, currency: currency.code)
        }
    }

    /// Whether Paystack would take `reference` as a transfer reference: lowercase letters, digits, `-` and `_`.
    static func isTransferReference(_ reference: String) -> Bool {
        !reference.isEmpty
            && reference.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "_")
            }
    }

    /// Whether Paystack's message says the transaction reference does not exist.
    static func isReferenceNotFound(_ message: String) -> Bool {
        let lowered = message.lowercased()
        return lowered.contains("transaction reference not found") || lowered.contains("transaction not found")
    }

    /// Whether Paystack's message says the reference was used before (transactions and transfers).
    static func isDuplicateReference(_ message: String) -> Bool {
        let lowered = message.lowercased()
        // "Duplicate Transaction Reference" (initialize, charge), "Duplicate Transfer Reference" (transfer).
        return (lowered.contains("duplicate") && lowered.contains("reference"))
            || lowered.contains("reference already exists")
    }

    // MARK: - Plumbing

    /// The amount in Paystack subunits, after checking the currency and the sign.
    private func subunits(_ money: Money) throws(GatewayError) -> Int64 {
        try self.requireCurrency(money.currency)
        guard money.isPositive else { throw self.http.invalidRequest("the amount must be positive, got \(money)") }
        return money.minorUnits
    }

    /// Refuses a currency outside `currencies` before any call.
    private func requireCurrency(_ currency: Currency) throws(GatewayError) {
        guard self.currencies.contains(currency), currency.exponent == 2 else {
            throw self.http.invalidRequest("Paystack does not take \(currency.code)")
        }
    }

    /// A Paystack subunit amount and currency as `Money`; nil when absent.
    /// - Throws: `unreadable` when present but not an integer of a currency we know.
    private func money(
        _ amount: WireText?, currency code: String?, response: GatewayHTTPClient.Response
    ) throws(GatewayError) -> Money? {
        guard let amount else { return nil }
        guard let code, let currency = Currency(code: code.uppercased()),
            let money = GatewayAmount.money(minorUnitsText: amount.value, currency: currency)
        else { throw self.http.unreadable(response) }
        return money
    }

    /// A refund status from a create or list answer.
    private func refundStatus(
        _ data: PaystackWire.RefundData, status: String, request: GatewayRefundRequest,
        response: GatewayHTTPClient.Response
    ) throws(GatewayError) -> GatewayRefundStatus {
        GatewayRefundStatus(
            reference: request.reference,
            paymentReference: data.transaction?.reference.map { GatewayReference($0) } ?? request.paymentReference,
            providerReference: data.id?.value, outcome: Self.refundOutcome(status: status),
            amount: try self.money(data.amount, currency: data.currency, response: response))
    }

    /// The error for a refused answer: a duplicate reference when Paystack says so, else by status.
    private func failure(_ response: GatewayHTTPClient.Response, message: String?) -> GatewayError {
        if (400...499).contains(response.status), let message, Self.isDuplicateReference(message) {
            return .duplicateReference
        }
        return self.http.failure(for: response, providerMessage: message)
    }

    /// One authenticated request.
    private func send(
        _ method: GatewayHTTPClient.Method, _ path: String, body: [UInt8]? = nil
    ) async throws(GatewayError) -> GatewayHTTPClient.Response {
        try await self.http.send(
            method, url: self.baseURL + path,
            headers: [("Authorization", "Bearer " + self.configuration.secretKey.value)], body: body)
    }
}
