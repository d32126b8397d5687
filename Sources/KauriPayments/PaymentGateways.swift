import KauriCore
import SQLKit

/// The gateways this server is configured with, by name.
public struct PaymentGateways: Sendable {
    private let byName: [GatewayName: any PaymentGateway]

    /// Collects `gateways`; a name given twice is a programmer error.
    public init(_ gateways: [any PaymentGateway]) {
        var byName: [GatewayName: any PaymentGateway] = [:]
        for gateway in gateways {
            precondition(byName[gateway.name] == nil, "gateway \(gateway.name) is configured twice")
            byName[gateway.name] = gateway
        }
        self.byName = byName
    }

    /// The gateway named `name`, if configured.
    public subscript(name: GatewayName) -> (any PaymentGateway)? { self.byName[name] }

    /// Every configured gateway's name, sorted.
    public var names: [GatewayName] { self.byName.keys.sorted() }
}

/// Where a payments module announces what happened (the operator's outgoing webhooks), inside the transaction
/// that made it happen.
public protocol PaymentEventPublisher: Sendable {
    /// Records an event of `type` (e.g. `payment.succeeded`) with `data` in the transaction of `connection`.
    func publish(type: String, data: PaymentEventData, on connection: any SQLDatabase) async throws
    /// Called after the transaction that published events committed.
    func notifyCommitted()
}

/// An event's payload: the payment, refund or payout as the API shows it.
public enum PaymentEventData: Sendable, Encodable {
    case payment(Payment)
    case refund(Refund)
    case payout(Payout)

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .payment(let payment): try PaymentResponse(payment).encode(to: encoder)
        case .refund(let refund): try RefundResponse(refund).encode(to: encoder)
        case .payout(let payout): try PayoutResponse(payout: payout).encode(to: encoder)
        }
    }
}
