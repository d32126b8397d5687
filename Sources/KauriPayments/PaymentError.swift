import KauriCore

/// Why a payments request cannot be done. Each maps to one problem+json code (`PaymentErrorCodes`).
public enum PaymentError: Error, Sendable, Hashable {
    /// No such payment (or not the caller's).
    case paymentNotFound
    /// No such refund.
    case refundNotFound
    /// The gateway named is not configured on this server.
    case gatewayNotConfigured(GatewayName)
    /// The gateway does not take this currency.
    case currencyNotSupported(gateway: GatewayName, currency: Currency)
    /// The gateway cannot take payments this way.
    case methodNotSupported(gateway: GatewayName, method: String)
    /// The amount is zero or negative.
    case amountNotPositive
    /// The gateway cannot represent the amount (fractions of a shilling, above its maximum).
    case amountNotRepresentable(gateway: GatewayName, detail: String)
    /// The gateway needs the customer's email address.
    case customerEmailRequired(gateway: GatewayName)
    /// The ledger account named to credit does not exist.
    case creditAccountNotFound
    /// The owner reference is too long to name a ledger account.
    case ownerReferenceTooLong
    /// Only a succeeded payment can be refunded.
    case refundNotAllowed(status: PaymentStatus)
    /// The payment funds another module's account (an escrow): refunds go through that module.
    case refundManaged
    /// The gateway cannot refund.
    case refundNotSupported(GatewayName)
    /// More than what is left to refund.
    case refundExceedsPayment(refundable: Int64)
    /// The account the payment credited no longer holds enough to return (it was paid out).
    case insufficientBalance
    /// No such payout (or not the caller's).
    case payoutNotFound
    /// The owner has no payout destination in the currency.
    case payoutDestinationMissing(Currency)
    /// The payable holds less than the payout.
    case payoutExceedsBalance
    /// The gateway cannot send payouts.
    case payoutNotSupported(GatewayName)
    /// A webhook or callback whose signature or path token is wrong.
    case webhookUnauthenticated
    /// An authentic webhook whose body cannot be read.
    case webhookMalformed(String)
}
