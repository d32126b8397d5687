import SQLKit

/// Where escrow and dispute events go (the operator's webhook endpoints), written in the transaction that moved the
/// escrow so an event is sent exactly when its change committed.
///
/// Types: `escrow.<status>` for every transition (`escrow.paid`, `escrow.shipped`, `escrow.delivered`,
/// `escrow.completed`, `escrow.disputed`, `escrow.refunded`, `escrow.cancelled`, `escrow.expired`), and
/// `dispute.opened` / `dispute.resolved`.
public protocol EscrowEventSink: Sendable {
    /// Records one event of `type` per element of `data`.
    func publish(type: String, data: [EscrowEventData], on connection: any SQLDatabase) async throws
    /// Called after the transaction that published events committed.
    func notifyCommitted()
}

/// An event's payload: the escrow as an admin sees it in the API, with its dispute when there is one.
public struct EscrowEventData: Sendable, Encodable {
    public let escrow: Escrow
    public let dispute: EscrowDispute?

    public init(escrow: Escrow, dispute: EscrowDispute? = nil) {
        self.escrow = escrow
        self.dispute = dispute
    }

    public func encode(to encoder: any Encoder) throws {
        try EscrowResponse(escrow: self.escrow, timeline: nil, role: .admin, payment: nil, dispute: self.dispute)
            .encode(to: encoder)
    }
}
