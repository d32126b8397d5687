import KauriHTTP

/// The problem+json codes of the payments module.
public enum PaymentErrorCodes {
    /// The API error for a domain error: one exhaustive switch.
    public static func apiError(_ error: PaymentError) -> APIError {
        switch error {
        case .paymentNotFound:
            APIError(Self.paymentNotFound)
        case .refundNotFound:
            APIError(Self.refundNotFound)
        case .gatewayNotConfigured(let name):
            APIError(Self.gatewayNotConfigured, detail: "no gateway named '\(name)' is configured on this server")
        case .currencyNotSupported(let gateway, let currency):
            APIError(Self.currencyNotSupported, detail: "\(gateway) does not take \(currency.code)")
        case .methodNotSupported(let gateway, let method):
            APIError(Self.methodNotSupported, detail: "\(gateway) does not take \(method) payments")
        case .amountNotPositive:
            APIError.invalidField("amount", code: "not_positive", "must be at least 1 minor unit")
        case .amountNotRepresentable(let gateway, let detail):
            APIError(Self.amountNotRepresentable, detail: "\(gateway): \(detail)")
        case .customerEmailRequired(let gateway):
            APIError.invalidField(
                "customer.email", code: "required", "\(gateway) needs the customer's email address")
        case .creditAccountNotFound:
            APIError(Self.creditAccountNotFound)
        case .ownerReferenceTooLong:
            APIError(Self.ownerReferenceTooLong)
        case .refundNotAllowed(let status):
            APIError(Self.refundNotAllowed, detail: "the payment is \(status.rawValue); only a succeeded one refunds")
        case .refundManaged:
            APIError(Self.refundManaged, detail: "this payment funds an escrow; it is refunded through the escrow")
        case .refundNotSupported(let gateway):
            APIError(Self.refundNotSupported, detail: "\(gateway) cannot refund")
        case .refundExceedsPayment(let refundable):
            APIError(Self.refundExceedsPayment, detail: "at most \(refundable) minor units are left to refund")
        case .insufficientBalance:
            APIError(Self.insufficientBalance)
        case .payoutNotFound:
            APIError(Self.payoutNotFound)
        case .payoutDestinationMissing(let currency):
            APIError(
                Self.payoutDestinationMissing,
                detail:
                    "register a payout destination for \(currency.code) first (PUT /v1/payout-destinations/\(currency.code))"
            )
        case .payoutExceedsBalance:
            APIError(Self.payoutExceedsBalance)
        case .payoutNotSupported(let gateway):
            APIError(Self.payoutNotSupported, detail: "\(gateway) cannot send payouts")
        case .webhookUnauthenticated:
            APIError(Self.webhookUnauthenticated)
        case .webhookMalformed(let detail):
            APIError(Self.webhookMalformed, detail: detail)
        }
    }

    public static let paymentNotFound = ErrorCode("payment.not_found", status: 404, title: "Payment not found")
    public static let refundNotFound = ErrorCode("payment.refund_not_found", status: 404, title: "Refund not found")
    public static let gatewayNotConfigured = ErrorCode(
        "payment.gateway_not_configured", status: 422, title: "Gateway not configured")
    public static let currencyNotSupported = ErrorCode(
        "payment.currency_not_supported", status: 422, title: "Currency not supported by the gateway")
    public static let methodNotSupported = ErrorCode(
        "payment.method_not_supported", status: 422, title: "Payment method not supported by the gateway")
    public static let amountNotRepresentable = ErrorCode(
        "payment.amount_not_representable", status: 422, title: "Amount not representable by the gateway")
    public static let creditAccountNotFound = ErrorCode(
        "payment.credit_account_not_found", status: 422, title: "Ledger account to credit not found")
    public static let ownerReferenceTooLong = ErrorCode(
        "payment.owner_reference_too_long", status: 422, title: "Owner reference too long for a ledger account")
    public static let refundNotAllowed = ErrorCode(
        "payment.refund_not_allowed", status: 409, title: "Payment cannot be refunded in its status")
    public static let refundManaged = ErrorCode(
        "payment.refund_managed", status: 409, title: "Payment refunded through the module it funds")
    public static let refundNotSupported = ErrorCode(
        "payment.refund_not_supported", status: 422, title: "Gateway cannot refund")
    public static let refundExceedsPayment = ErrorCode(
        "payment.refund_exceeds_payment", status: 422, title: "Refund exceeds what is left to refund")
    public static let insufficientBalance = ErrorCode(
        "payment.insufficient_balance", status: 409, title: "Balance too low to return the refund")
    public static let payoutNotFound = ErrorCode("payout.not_found", status: 404, title: "Payout not found")
    public static let payoutDestinationMissing = ErrorCode(
        "payout.destination_missing", status: 409, title: "No payout destination for the currency")
    public static let payoutExceedsBalance = ErrorCode(
        "payout.insufficient_balance", status: 409, title: "Payout above the available balance")
    public static let payoutNotSupported = ErrorCode(
        "payout.not_supported", status: 422, title: "Gateway cannot send payouts")
    public static let webhookUnauthenticated = ErrorCode(
        "webhook.signature_invalid", status: 401, title: "Webhook signature or callback token invalid")
    public static let webhookMalformed = ErrorCode("webhook.malformed", status: 400, title: "Webhook body unreadable")

    /// Every payments code, for docs/ERRORS.md.
    public static let all: [ErrorCode] = [
        paymentNotFound, refundNotFound, gatewayNotConfigured, currencyNotSupported, methodNotSupported,
        amountNotRepresentable, creditAccountNotFound, ownerReferenceTooLong, refundNotAllowed, refundManaged,
        refundNotSupported,
        refundExceedsPayment, insufficientBalance, payoutNotFound, payoutDestinationMissing, payoutExceedsBalance,
        payoutNotSupported, webhookUnauthenticated, webhookMalformed,
    ]
}
