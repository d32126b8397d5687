import KauriCore

public enum PaymentLinkIDKind: IDKind {
    public static let prefix = "plink"
}

/// A seller's offer that buyers pay through (origin S4): a hosted checkout at `/pay/{id}`.
public struct PaymentLink: Sendable, Hashable {
    public typealias ID = PrefixedID<PaymentLinkIDKind>

    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// Takes payments.
        case active
        /// Closed by the seller, or sold out.
        case closed
    }

    public var id: ID
    /// `session`: a partner's session offer (S1); its escrows are sessions.
    public var kind: EscrowKind = .goods
    /// A session's length, shown to clients.
    public var durationMinutes: Int?
    public var sellerReference: String
    public var title: String
    public var description: String?
    public var price: Money
    /// How many may still be bought; nil: no limit.
    public var quantityAvailable: Int?
    public var quantitySold: Int
    public var status: Status
    public var expiresAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    /// Whether a buyer may pay now.
    public func isPayable(at now: Timestamp) -> Bool {
        self.status == .active && (self.expiresAt.map { now < $0 } ?? true)
            && (self.quantityAvailable.map { $0 > 0 } ?? true)
    }
}
