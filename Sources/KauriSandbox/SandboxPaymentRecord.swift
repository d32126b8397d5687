import KauriCore

/// A payment operation a payment simulator accepted, as the provider saw it.
public struct SandboxPaymentRecord: Sendable, Hashable {
    /// What kind of operation it is.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A Paystack hosted checkout (`POST /transaction/initialize`).
        case checkout
        /// A Paystack mobile-money charge (`POST /charge`).
        case charge
        /// An M-Pesa STK push, through Daraja or PayHero.
        case stkPush = "stk_push"
        /// A Paystack refund.
        case refund
        /// A payout: a Paystack transfer, a Daraja B2C payment or a PayHero withdrawal.
        case payout
    }

    /// Where the operation stands at the provider.
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// Not final yet.
        case pending
        /// Completed: paid, refunded or paid out.
        case succeeded
        /// Ended without moving money.
        case failed
    }

    /// The simulated provider.
    public var provider: SandboxProvider
    /// What kind of operation it is.
    public var kind: Kind
    /// The caller's reference: Paystack's `reference` (for a refund, the refunded transaction's), Daraja's
    /// `AccountReference` or `OriginatorConversationID`, PayHero's `external_reference`.
    public var reference: String
    /// The provider's own id: Paystack's access code, transaction id, refund id or transfer code, Daraja's
    /// `CheckoutRequestID` or `ConversationID`, PayHero's `reference`.
    public var providerReference: String
    /// The amount in the provider's units: subunits for Paystack, whole shillings for Daraja and PayHero.
    public var amount: Int64
    /// The ISO 4217 currency code.
    public var currency: String
    /// The payer's or payee's phone number as sent, when the operation has one.
    public var phone: String?
    /// Where the operation stands.
    public var status: Status
    /// When the simulator accepted it.
    public var createdAt: Timestamp
}
