import KauriCore

public enum EscrowIDKind: IDKind {
    public static let prefix = "esc"
}

/// Money a buyer paid that the platform holds until the buyer has what they paid for (origin S4, Soko Pay).
///
/// The amount sits in the platform's escrow holding account from payment to release; release moves it to the
/// seller's payable less the platform fee, both in one linked ledger batch whose ids derive from the escrow's.
public struct Escrow: Sendable, Hashable {
    public typealias ID = PrefixedID<EscrowIDKind>

    public var id: ID
    /// Goods (S4: shipped, delivered, confirmed) or a session (S1: completed, rated, split after a hold).
    public var kind: EscrowKind = .goods
    /// The payment link (for a session, the partner's offer) the buyer paid through.
    public var linkID: PaymentLink.ID
    /// The seller's owner reference (a user id).
    public var sellerReference: String
    /// The seller's phone, when the seller has one (SMS notices).
    public var sellerPhone: PhoneNumber?
    /// The phone the buyer paid with; the buyer signs in with it to confirm delivery.
    public var buyerPhone: PhoneNumber
    public var buyerName: String
    public var title: String
    public var amount: Money
    /// The platform's fee, fixed when the escrow was created; the seller gets `amount − fee`.
    public var fee: Money
    public var status: EscrowStatus
    /// The payment that funds it (nil only between the escrow's insert and its payment's).
    public var paymentID: String?
    public var gateway: String
    public var shipping: Shipping?
    /// When a delivered escrow is released if the buyer says nothing (the inspection window's end).
    public var releaseDueAt: Timestamp?
    /// What a dispute's resolution returns to the buyer (through a refund of the payment); 0 otherwise.
    public var refundAmount: Int64 = 0
    /// That refund, once the payments module has it.
    public var refundID: String?
    /// Refunds of `refundAmount` the gateway refused so far; at `Escrows.refundAttemptsMax` no more are made.
    public var refundAttempts = 0
    /// Why the risk check held it: no release (by the buyer or the window) until an admin clears it.
    public var reviewReason: String?
    /// The signed-in user who booked it (sessions booked through the API); nil for a public checkout.
    public var buyerReference: String?
    /// A session's client rating, 1–5, given after the session (nil: not rated).
    public var rating: Int?
    public var ratingComment: String?
    /// Released money owed to the seller's payout destination (automatic payouts), until the payout exists.
    public var payoutOwed: Int64 = 0
    /// That payout, once the payments module has it.
    public var payoutID: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    /// What the seller said when shipping.
    public struct Shipping: Sendable, Hashable, Codable {
        public var carrier: String?
        public var trackingNumber: String?
        public var note: String?

        public init(carrier: String?, trackingNumber: String?, note: String?) {
            self.carrier = carrier
            self.trackingNumber = trackingNumber
            self.note = note
        }
    }

    /// What the seller receives on release.
    public var sellerAmount: Money {
        Money(minorUnits: self.amount.minorUnits - self.fee.minorUnits, currency: self.amount.currency)
    }
}

/// Where an escrow stands.
public enum EscrowStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Created at checkout; waiting for the buyer's payment.
    case pending
    /// Paid: the money is held.
    case paid
    /// The seller sent the goods.
    case shipped
    /// The seller says the goods arrived, and the inspection window runs; or the session took place, and the
    /// hold runs.
    case delivered
    /// Released to the seller (by the buyer, the window's end, or a dispute's resolution).
    case completed
    /// A party opened a dispute: the money is frozen until an admin resolves it.
    case disputed
    /// The money went back to the buyer.
    case refunded
    /// The payment failed or was cancelled; nothing was held.
    case cancelled
    /// The payment never completed in time; nothing was held.
    case expired

    /// No event moves it any more.
    public var isFinal: Bool {
        switch self {
        case .completed, .refunded, .cancelled, .expired: true
        case .pending, .paid, .shipped, .delivered, .disputed: false
        }
    }

    /// The money is in the escrow holding account.
    public var holdsMoney: Bool {
        switch self {
        case .paid, .shipped, .delivered, .disputed: true
        case .pending, .completed, .refunded, .cancelled, .expired: false
        }
    }
}

/// What an escrow pays for, which decides the events it takes.
public enum EscrowKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Goods from a payment link (S4): shipped, delivered, confirmed by the buyer or released when the inspection
    /// window ends.
    case goods
    /// A session with a partner (S1): completed, rated by the client, and split by the rating when the hold ends.
    case session

    /// Whether an escrow of this kind takes `event` at all (its status decides whether it takes it now).
    public func accepts(_ event: EscrowEvent) -> Bool {
        switch (self, event) {
        case (.goods, .complete), (.goods, .ratingSplit): false
        case (.session, .ship), (.session, .deliver), (.session, .confirm): false
        default: true
        }
    }
}

/// What can happen to an escrow.
public enum EscrowEvent: String, Sendable, Hashable, CaseIterable {
    case paymentSucceeded = "payment_succeeded"
    case paymentFailed = "payment_failed"
    case paymentExpired = "payment_expired"
    case ship
    case deliver
    case confirm
    /// A session took place (its partner or client says so): the hold runs.
    case complete
    case autoRelease = "auto_release"
    case openDispute = "open_dispute"
    case resolveRelease = "resolve_release"
    case resolveRefund = "resolve_refund"
    case resolveSplit = "resolve_split"
    /// A session's hold ended with a rating that returns part of the money to the client.
    case ratingSplit = "rating_split"
}

extension EscrowStatus {
    /// The status `event` leads to, or nil when the event is not allowed now. Pure; the whole state machine.
    public func applying(_ event: EscrowEvent) -> EscrowStatus? {
        switch (self, event) {
        case (.pending, .paymentSucceeded): .paid
        case (.pending, .paymentFailed): .cancelled
        case (.pending, .paymentExpired): .expired
        case (.paid, .ship): .shipped
        case (.shipped, .deliver): .delivered
        case (.paid, .complete): .delivered
        case (.delivered, .confirm), (.delivered, .autoRelease), (.delivered, .ratingSplit): .completed
        case (.paid, .openDispute), (.shipped, .openDispute), (.delivered, .openDispute): .disputed
        case (.disputed, .resolveRelease): .completed
        case (.disputed, .resolveRefund): .refunded
        case (.disputed, .resolveSplit): .completed
        default: nil
        }
    }
}

/// One step of an escrow's history: who moved it, when and why (the transaction log).
public struct EscrowTransition: Sendable, Hashable {
    public var escrowID: Escrow.ID
    public var sequence: Int
    public var from: EscrowStatus?
    public var to: EscrowStatus
    public var event: String
    /// `buyer`, `seller`, `admin`, `system`, or `gateway`.
    public var actor: String
    public var reason: String?
    public var at: Timestamp
}
