import KauriCore

public enum PayoutIDKind: IDKind {
    public static let prefix = "po"
}

/// Money sent out of the platform to an owner's registered destination: their payable → payouts in transit when
/// created, → gateway clearing when the provider confirms, or back to the payable when it refuses.
public struct Payout: Sendable, Hashable {
    public typealias ID = PrefixedID<PayoutIDKind>

    /// `pending → succeeded | failed`.
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        case pending
        case succeeded
        case failed
    }

    public var id: ID
    public var ownerReference: String
    public var amount: Money
    public var gateway: GatewayName
    public var destination: PayoutDestination
    public var status: Status
    public var gatewayCall: GatewayCallState
    public var providerReference: String?
    public var failure: PaymentFailure?
    public var idempotencyKey: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

/// Where an owner's payouts in one currency go.
public struct PayoutDestinationRecord: Sendable, Hashable {
    public var ownerReference: String
    public var currency: Currency
    public var gateway: GatewayName
    public var destination: PayoutDestination
    public var updatedAt: Timestamp
}
