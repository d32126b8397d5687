import KauriCore

/// A payment provider, by capability. Adapters live in `Gateways/<Provider>/`; the payment service only ever
/// sees this protocol.
///
/// Rules every adapter keeps:
/// - Every call runs over the shared `HTTPClient` with the adapter's explicit timeout.
/// - Every call that creates something at the provider carries a reference derived from our ids
///   (`GatewayReference`), so a retry after a crash cannot create a second charge, refund or transfer.
/// - Amounts are converted to the provider's units; an amount the provider cannot represent (a fraction of a
///   shilling for M-Pesa) or a currency it does not take is refused with `GatewayError.invalidRequest` before
///   any HTTP call.
/// - Errors say what the caller does next (`GatewayError`); an answer that never came is `.outcomeUnknown` or
///   `.timedOut`, never a failure.
/// - Secrets never appear in an error's text.
public protocol PaymentGateway: Sendable {
    /// The gateway's name as used in the API and in `/v1/webhooks/{gateway}`.
    var name: GatewayName { get }
    /// What this gateway can do.
    var capabilities: GatewayCapabilities { get }
    /// The currencies it takes.
    var currencies: Set<Currency> { get }

    /// Refuses, before any call, an amount the provider cannot represent (a fraction of a shilling, above its
    /// per-transaction maximum) with `GatewayError.invalidRequest`. The default checks only the currency.
    func validate(_ amount: Money) throws(GatewayError)
    /// Hosted checkout: creates a payment page the customer is redirected to.
    func startCheckout(_ request: CheckoutRequest) async throws -> CheckoutStarted
    /// Direct mobile-money charge or STK push: the customer approves on their phone.
    func chargeMobileMoney(_ request: MobileMoneyChargeRequest) async throws -> ChargeStarted
    /// Asks the provider for the state of a payment (the status API). Never assumes: a provider that does not
    /// know yet answers `.pending`.
    func verify(_ request: VerifyRequest) async throws -> GatewayPaymentStatus
    /// Refunds all or part of a succeeded payment.
    func refund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus
    /// Looks a refund up by our reference, for a retry after a crash left its outcome unknown; nil when the
    /// provider has no such refund (so it is safe to send) or cannot look refunds up (then `refund` must be
    /// idempotent by `reference` and answer `.duplicateReference`).
    func findRefund(_ request: GatewayRefundRequest) async throws -> GatewayRefundStatus?
    /// Sends money out (transfer, B2C, withdraw).
    func payout(_ request: GatewayPayoutRequest) async throws -> GatewayPayoutStatus
    /// Looks a payout up by our reference, for one whose outcome is unknown (the provider timed out or failed
    /// while it was sent): nil when the provider has no such payout, so it is safe to send again. Gateways that
    /// cannot look payouts up throw `.notSupported` (the default); their results come only by callback.
    func findPayout(_ request: GatewayPayoutRequest) async throws -> GatewayPayoutStatus?
    /// Authenticates and parses an incoming webhook or callback.
    ///
    /// Signed gateways check the signature over the raw bytes in constant time; unsigned ones (Daraja,
    /// PayHero) are authenticated by the caller through the per-payment `pathToken` and their news is treated
    /// as a hint to confirm with `verify`.
    /// - Throws: `WebhookError`.
    func parseWebhook(_ webhook: IncomingWebhook) throws(WebhookError) -> [GatewayEvent]
}

extension PaymentGateway {
    public func findPayout(_ request: GatewayPayoutRequest) async throws -> GatewayPayoutStatus? {
        throw GatewayError.notSupported("\(self.name) payouts cannot be looked up; their results come by callback")
    }

    /// The currency check every gateway needs.
    public func validate(_ amount: Money) throws(GatewayError) {
        guard self.currencies.contains(amount.currency) else {
            throw .invalidRequest("\(self.name) does not take \(amount.currency.code)")
        }
    }
}

/// A gateway's name: lower-case letters, e.g. `paystack`, `mpesa`, `payhero`.
public struct GatewayName: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The name.
    public let rawValue: String
    /// Wraps a name.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Paystack (Nigeria, Ghana, Kenya, South Africa).
    public static let paystack = GatewayName(rawValue: "paystack")
    /// Safaricom M-Pesa through Daraja.
    public static let mpesa = GatewayName(rawValue: "mpesa")
    /// PayHero Kenya (M-Pesa STK through PayHero).
    public static let payhero = GatewayName(rawValue: "payhero")

    public var description: String { self.rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a gateway can do.
public struct GatewayCapabilities: OptionSet, Hashable, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `startCheckout`: a hosted page to redirect to.
    public static let hostedCheckout = GatewayCapabilities(rawValue: 1 << 0)
    /// `chargeMobileMoney`.
    public static let mobileMoney = GatewayCapabilities(rawValue: 1 << 1)
    /// `refund`, full and partial.
    public static let refund = GatewayCapabilities(rawValue: 1 << 2)
    /// `payout`.
    public static let payout = GatewayCapabilities(rawValue: 1 << 3)
    /// Webhooks carry a signature the adapter checks; without it the news must be confirmed with `verify`.
    public static let signedWebhooks = GatewayCapabilities(rawValue: 1 << 4)
    /// The provider refuses a second charge or checkout with the same reference (`duplicateReference`), so a
    /// create call whose answer was lost may be sent again. Without it, it never is.
    public static let idempotentCharges = GatewayCapabilities(rawValue: 1 << 5)
    /// Charges need the customer's email address.
    public static let requiresCustomerEmail = GatewayCapabilities(rawValue: 1 << 6)
}

/// Identifiers derived from our own ids that a provider sees and deduplicates on.
///
/// `value` uses only `a–z 0–9 -`, at most 40 characters, which every provider accepts as a reference.
public struct GatewayReference: Hashable, Sendable, Codable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { self.value }
}

/// Start a hosted checkout.
public struct CheckoutRequest: Sendable, Hashable {
    /// Our reference for this payment; the provider's transaction reference.
    public var reference: GatewayReference
    public var amount: Money
    /// The customer's email (Paystack requires one).
    public var customerEmail: String
    /// Where the provider sends the customer back (with the reference appended by the provider).
    public var returnURL: String?
    /// Shown to the customer, e.g. "Order 1042".
    public var description: String
    public init(
        reference: GatewayReference, amount: Money, customerEmail: String, returnURL: String?, description: String
    ) {
        self.reference = reference
        self.amount = amount
        self.customerEmail = customerEmail
        self.returnURL = returnURL
        self.description = description
    }
}

/// A hosted checkout was created.
public struct CheckoutStarted: Sendable, Hashable {
    /// Where to send the customer.
    public var redirectURL: String
    /// The provider's id for the attempt, if it gives one (Paystack's access code).
    public var providerReference: String?
    public init(redirectURL: String, providerReference: String?) {
        self.redirectURL = redirectURL
        self.providerReference = providerReference
    }
}

/// The mobile-money networks a charge can go through.
public enum MobileMoneyProvider: String, Sendable, Hashable, Codable, CaseIterable {
    /// Safaricom M-Pesa (Kenya).
    case mpesa
    /// MTN Mobile Money (Ghana).
    case mtn
    /// Telecel Cash, formerly Vodafone Cash (Ghana).
    case telecel
    /// AirtelTigo Money (Ghana).
    case airteltigo
}

/// Charge a phone.
public struct MobileMoneyChargeRequest: Sendable, Hashable {
    public var reference: GatewayReference
    public var amount: Money
    public var phone: PhoneNumber
    public var provider: MobileMoneyProvider
    /// The customer's email where the provider needs one (Paystack).
    public var customerEmail: String
    /// Short text shown on the phone prompt (Daraja allows 12 characters of account reference).
    public var description: String
    /// Where an unsigned provider (Daraja, PayHero) posts the result: our URL with the payment's unguessable
    /// path token. Signed providers use their dashboard-configured webhook URL and ignore it.
    public var callbackURL: String
    public init(
        reference: GatewayReference, amount: Money, phone: PhoneNumber, provider: MobileMoneyProvider,
        customerEmail: String, description: String, callbackURL: String
    ) {
        self.reference = reference
        self.amount = amount
        self.phone = phone
        self.provider = provider
        self.customerEmail = customerEmail
        self.description = description
        self.callbackURL = callbackURL
    }
}

/// A mobile-money charge was accepted by the provider; the customer has a prompt to answer.
public struct ChargeStarted: Sendable, Hashable {
    /// The provider's id of the attempt (Daraja `CheckoutRequestID`, PayHero `reference`, Paystack reference).
    /// `verify` needs it.
    public var providerReference: String
    /// Text for the customer, e.g. "Enter your M-Pesa PIN on your phone".
    public var displayText: String?
    /// The provider already knows the outcome (Paystack can answer `success` at once).
    public var immediateStatus: GatewayPaymentStatus?
    public init(providerReference: String, displayText: String?, immediateStatus: GatewayPaymentStatus? = nil) {
        self.providerReference = providerReference
        self.displayText = displayText
        self.immediateStatus = immediateStatus
    }
}

/// Ask for a payment's state.
public struct VerifyRequest: Sendable, Hashable {
    /// Our reference.
    public var reference: GatewayReference
    /// The provider's id from `ChargeStarted`/`CheckoutStarted`, when known.
    public var providerReference: String?
    /// What we expect, so adapters can convert units back.
    public var currency: Currency
    public init(reference: GatewayReference, providerReference: String?, currency: Currency) {
        self.reference = reference
        self.providerReference = providerReference
        self.currency = currency
    }
}

/// A payment's state as the provider reports it.
public struct GatewayPaymentStatus: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// Not final yet (the customer has not answered, or the provider is still processing).
        case pending
        /// Money was taken.
        case succeeded
        /// Declined, insufficient funds, wrong PIN… `code` is the provider's, `message` its words.
        case failed(code: String, message: String)
        /// The customer cancelled or the prompt expired.
        case cancelled(code: String, message: String)
    }
    /// Our reference, when the provider echoes it.
    public var reference: GatewayReference?
    /// The provider's id of the attempt (CheckoutRequestID, …), when given.
    public var providerReference: String?
    public var outcome: Outcome
    /// The amount the provider says it took, converted back to minor units; nil when not reported.
    public var amount: Money?
    /// The provider's transaction id or receipt (M-Pesa receipt number, Paystack transaction id).
    public var providerTransactionID: String?
    public init(
        reference: GatewayReference?, providerReference: String?, outcome: Outcome, amount: Money?,
        providerTransactionID: String?
    ) {
        self.reference = reference
        self.providerReference = providerReference
        self.outcome = outcome
        self.amount = amount
        self.providerTransactionID = providerTransactionID
    }
}

/// Refund a succeeded payment (all or part).
public struct GatewayRefundRequest: Sendable, Hashable {
    /// Our refund's reference (idempotency at the provider where it has one).
    public var reference: GatewayReference
    /// The payment's reference and provider ids.
    public var paymentReference: GatewayReference
    public var paymentProviderTransactionID: String?
    /// The amount to return.
    public var amount: Money
    /// The payer's phone, for gateways that refund by sending money to it (M-Pesa B2C, PayHero withdraw).
    public var phone: PhoneNumber?
    /// Where an unsigned provider posts the result (B2C ResultURL).
    public var callbackURL: String
    public init(
        reference: GatewayReference, paymentReference: GatewayReference, paymentProviderTransactionID: String?,
        amount: Money, phone: PhoneNumber?, callbackURL: String
    ) {
        self.reference = reference
        self.paymentReference = paymentReference
        self.paymentProviderTransactionID = paymentProviderTransactionID
        self.amount = amount
        self.phone = phone
        self.callbackURL = callbackURL
    }
}

/// A refund's state as the provider reports it.
public struct GatewayRefundStatus: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case pending
        case succeeded
        case failed(code: String, message: String)
    }
    /// Our refund reference when echoed (Daraja `OriginatorConversationID`, PayHero `external_reference`).
    public var reference: GatewayReference?
    /// The payment's reference when echoed (Paystack `transaction_reference`).
    public var paymentReference: GatewayReference?
    /// The provider's id of the refund.
    public var providerReference: String?
    public var outcome: Outcome
    public var amount: Money?
    public init(
        reference: GatewayReference?, paymentReference: GatewayReference?, providerReference: String?,
        outcome: Outcome, amount: Money?
    ) {
        self.reference = reference
        self.paymentReference = paymentReference
        self.providerReference = providerReference
        self.outcome = outcome
        self.amount = amount
    }
}

/// Where a payout goes.
public enum PayoutDestination: Sendable, Hashable {
    /// A mobile-money wallet.
    case mobileMoney(phone: PhoneNumber, provider: MobileMoneyProvider, name: String)
    /// A bank account (Paystack `nuban`/`ghipss`/`basa` recipient).
    case bankAccount(bankCode: String, accountNumber: String, name: String)
}

/// Send money out.
public struct GatewayPayoutRequest: Sendable, Hashable {
    /// Our payout reference; the provider's idempotency key (Paystack transfer `reference`, Daraja
    /// `OriginatorConversationID`, PayHero `external_reference`).
    public var reference: GatewayReference
    public var amount: Money
    public var destination: PayoutDestination
    public var reason: String
    /// Where an unsigned provider posts the result.
    public var callbackURL: String
    public init(
        reference: GatewayReference, amount: Money, destination: PayoutDestination, reason: String,
        callbackURL: String
    ) {
        self.reference = reference
        self.amount = amount
        self.destination = destination
        self.reason = reason
        self.callbackURL = callbackURL
    }
}

/// A payout's state as the provider reports it.
public struct GatewayPayoutStatus: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        case pending
        case succeeded
        case failed(code: String, message: String)
    }
    public var reference: GatewayReference?
    public var providerReference: String?
    public var outcome: Outcome
    public var amount: Money?
    public init(reference: GatewayReference?, providerReference: String?, outcome: Outcome, amount: Money?) {
        self.reference = reference
        self.providerReference = providerReference
        self.outcome = outcome
        self.amount = amount
    }
}

/// A webhook or callback as received: raw bytes, before any parsing.
public struct IncomingWebhook: Sendable {
    /// Header names lower-cased.
    public var headers: [String: String]
    /// The raw body.
    public var body: [UInt8]
    /// The path token after `/v1/webhooks/{gateway}/`, if any; already matched to a payment by the caller.
    public var pathToken: String?
    public init(headers: [String: String], body: [UInt8], pathToken: String?) {
        self.headers = headers
        self.body = body
        self.pathToken = pathToken
    }
}

/// What a webhook said, normalised.
public enum GatewayEvent: Sendable, Hashable {
    case payment(GatewayPaymentStatus)
    case refund(GatewayRefundStatus)
    case payout(GatewayPayoutStatus)
    /// An event we do not act on (e.g. `subscription.create`).
    case ignored(type: String)
}

/// Why a webhook was refused.
public enum WebhookError: Error, Sendable, Hashable {
    /// No signature header.
    case signatureMissing
    /// The signature does not match the body.
    case signatureInvalid
    /// Authentic but unreadable.
    case malformed(String)
}

/// Why a gateway call did not give an answer we can act on — by what the caller does next.
public enum GatewayError: Error, Sendable, Hashable {
    /// The provider refused the payment for the customer's reasons (declined, insufficient funds).
    case declined(code: String, message: String)
    /// We sent something the provider will never take (bad phone, amount not representable, unsupported
    /// currency, duplicate reference). Do not retry unchanged.
    case invalidRequest(String)
    /// Our credentials were refused. An operator must fix the configuration.
    case authenticationFailed(String)
    /// Slow down and retry later.
    case rateLimited(retryAfterSeconds: Int?)
    /// The provider answered 5xx or could not be reached before sending the request. Retry later.
    case unavailable(String)
    /// No answer within our timeout: the provider may or may not have acted. Stay pending; reconcile.
    case timedOut
    /// An answer we could not read, or a connection lost after sending: the outcome is unknown. Stay pending.
    case outcomeUnknown(String)
    /// The gateway cannot do this (e.g. hosted checkout on Daraja).
    case notSupported(String)
    /// The provider already has something with this reference (a retry after a crash): look it up with
    /// `verify` rather than create it again.
    case duplicateReference
}
