import KauriCore

public enum EscrowDisputeIDKind: IDKind {
    public static let prefix = "dsp"
}

/// A party's claim that an escrow must not be released as it stands; the money is frozen until an admin resolves it.
public struct EscrowDispute: Sendable, Hashable {
    public typealias ID = PrefixedID<EscrowDisputeIDKind>

    public enum Status: String, Sendable, Hashable, Codable {
        case open, resolved
    }

    /// How an admin ends a dispute.
    public enum Resolution: Sendable, Hashable {
        /// Everything to the seller (less the fee), as a confirmation would.
        case release
        /// Everything back to the buyer.
        case refund
        /// `sellerAmount` (gross, less its share of the fee) to the seller; the rest back to the buyer.
        case split(sellerAmount: Int64)

        public var name: String {
            switch self {
            case .release: "release"
            case .refund: "refund"
            case .split: "split"
            }
        }
    }

    public var id: ID
    public var escrowID: Escrow.ID
    /// `buyer` or `seller`.
    public var openedBy: String
    public var reason: String
    public var evidence: String?
    public var evidenceLinks: [String]
    public var status: Status
    public var outcome: String?
    public var sellerAmount: Int64?
    public var refundAmount: Int64?
    public var resolutionNote: String?
    public var resolvedBy: String?
    public var createdAt: Timestamp
    public var resolvedAt: Timestamp?
}
