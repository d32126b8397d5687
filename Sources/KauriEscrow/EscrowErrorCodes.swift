import KauriHTTP

/// The problem+json codes of the escrow module.
public enum EscrowErrorCodes {
    /// The API error for a domain error: one exhaustive switch.
    public static func apiError(_ error: EscrowError) -> APIError {
        switch error {
        case .linkNotFound:
            APIError(Self.linkNotFound)
        case .linkClosed:
            APIError(Self.linkClosed)
        case .linkExpired:
            APIError(Self.linkExpired)
        case .linkSoldOut:
            APIError(Self.linkSoldOut)
        case .priceBelowFee(let fee):
            APIError(Self.priceBelowFee, detail: "the platform fee on this price is \(fee); the price must exceed it")
        case .noGateway(let currency):
            APIError(Self.noGateway, detail: "no gateway configured here takes \(currency.code)")
        case .escrowNotFound:
            APIError(Self.escrowNotFound)
        case .invalidTransition(let status, let event):
            APIError(Self.invalidTransition, detail: "cannot \(event.rawValue) an escrow that is \(status.rawValue)")
        case .notFunded:
            APIError(Self.notFunded, detail: "the escrow has not been paid")
        case .sellerOnly:
            APIError(Self.sellerOnly)
        case .buyerOnly:
            APIError(Self.buyerOnly, detail: "sign in with the phone number that paid")
        case .checkoutRefused(let reasons):
            APIError(
                Self.checkoutRefused,
                detail: "this payment cannot be taken (\(reasons.joined(separator: ", "))); nothing was charged")
        case .underReview:
            APIError(Self.underReview, detail: "the payment is held for review; an admin must clear it first")
        case .splitInvalid(let amount):
            APIError.invalidField(
                "seller_amount", code: "out_of_range", "a split gives the seller 1 to \(amount - 1) minor units")
        case .ratingByClientOnly:
            APIError(Self.ratingByClientOnly, detail: "only the client who booked the session rates it")
        case .ratingRequired:
            APIError.invalidField("rating", code: "required", "the client completes a session with a rating, 1–5")
        case .alreadyRated:
            APIError(Self.alreadyRated)
        case .checkoutKeyReused:
            APIError(.idempotencyKeyReused, detail: "this Idempotency-Key already paid this link from another phone")
        }
    }

    public static let linkNotFound = ErrorCode("escrow.link_not_found", status: 404, title: "Payment link not found")
    public static let linkClosed = ErrorCode("escrow.link_closed", status: 409, title: "Payment link closed")
    public static let linkExpired = ErrorCode("escrow.link_expired", status: 409, title: "Payment link expired")
    public static let linkSoldOut = ErrorCode("escrow.link_sold_out", status: 409, title: "Payment link sold out")
    public static let priceBelowFee = ErrorCode(
        "escrow.price_below_fee", status: 422, title: "Price does not cover the platform fee")
    public static let noGateway = ErrorCode(
        "escrow.no_gateway", status: 422, title: "No gateway takes the currency")
    public static let escrowNotFound = ErrorCode("escrow.not_found", status: 404, title: "Escrow not found")
    public static let invalidTransition = ErrorCode(
        "escrow.invalid_transition", status: 409, title: "Not allowed in the escrow's status")
    public static let notFunded = ErrorCode("escrow.not_funded", status: 409, title: "Escrow not paid")
    public static let sellerOnly = ErrorCode("escrow.seller_only", status: 403, title: "Only the seller may do this")
    public static let buyerOnly = ErrorCode("escrow.buyer_only", status: 403, title: "Only the buyer may do this")

    public static let checkoutRefused = ErrorCode(
        "escrow.checkout_refused", status: 403, title: "Checkout refused by the risk check")
    public static let underReview = ErrorCode(
        "escrow.under_review", status: 409, title: "Escrow held for review")

    public static let ratingByClientOnly = ErrorCode(
        "escrow.rating_client_only", status: 403, title: "Only the client rates a session")
    public static let alreadyRated = ErrorCode("escrow.already_rated", status: 409, title: "Session already rated")

    /// Every escrow code, for docs/ERRORS.md.
    public static let all: [ErrorCode] = [
        linkNotFound, linkClosed, linkExpired, linkSoldOut, priceBelowFee, noGateway, escrowNotFound,
        invalidTransition, notFunded, sellerOnly, buyerOnly, checkoutRefused, underReview, ratingByClientOnly,
        alreadyRated,
    ]
}
