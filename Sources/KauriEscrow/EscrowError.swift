import KauriCore

/// Why an escrow or payment-link request cannot be done. Each maps to one problem+json code (`EscrowErrorCodes`).
public enum EscrowError: Error, Sendable, Hashable {
    /// No such payment link.
    case linkNotFound
    /// The seller closed the link.
    case linkClosed
    /// The link's expiry has passed.
    case linkExpired
    /// Every unit was bought.
    case linkSoldOut
    /// The price would not cover the platform fee.
    case priceBelowFee(fee: Money)
    /// No gateway configured here takes the currency (or the gateway asked for does not).
    case noGateway(currency: Currency)
    /// No such escrow, or the caller is not a party to it.
    case escrowNotFound
    /// The event is not allowed in the escrow's status.
    case invalidTransition(status: EscrowStatus, event: EscrowEvent)
    /// The escrow was never paid, so there is nothing to ship, deliver or release.
    case notFunded
    /// Only the seller may do this.
    case sellerOnly
    /// Only the buyer (signed in with the phone that paid) may do this.
    case buyerOnly
    /// The checkout's Idempotency-Key was used on this link for another buyer's phone.
    case checkoutKeyReused
    /// The risk check refused the checkout; nothing was charged.
    case checkoutRefused(reasons: [String])
    /// The risk check held the escrow: only an admin's review may let it be released.
    case underReview
    /// A split must give the seller more than nothing and less than everything.
    case splitInvalid(amount: Int64)
    /// Only a session's client rates it.
    case ratingByClientOnly
    /// The client completes a session with a rating.
    case ratingRequired
    /// The session was rated already.
    case alreadyRated
}
