import KauriCore
import KauriDatabase
import KauriLedger
import KauriPayments
import Logging
import SQLKit

/// Moves an escrow when its payment reaches a final status, inside the payment's own transaction: the capture into
/// escrow holding and the escrow's `paid` commit together, whichever path (webhook, callback, poll) the news took.
public struct EscrowPaymentEvents: PaymentEventPublisher {
    let transitions: EscrowTransitions
    let clock: any WallClock
    let logger: Logger

    public init(transitions: EscrowTransitions, clock: any WallClock, logger: Logger) {
        self.transitions = transitions
        self.clock = clock
        self.logger = logger
    }

    public func publish(type: String, data: PaymentEventData, on connection: any SQLDatabase) async throws {
        guard case .payment(let payment) = data, let text = payment.metadata[Escrows.metadataKey],
            let id = Escrow.ID(text)
        else { return }
        let event: EscrowEvent
        switch type {
        case "payment.succeeded": event = .paymentSucceeded
        case "payment.failed", "payment.cancelled": event = .paymentFailed
        case "payment.expired": event = .paymentExpired
        default: return
        }
        let database = self.transitions.database
        guard var escrow = try await EscrowStore.escrow(id: id, lock: true, kind: database.kind, on: connection) else {
            self.logger.error("payment names an escrow that does not exist", metadata: ["payment.id": "\(payment.id)"])
            return
        }
        // Only the payment the escrow opened counts: one a seller made through the API with the same metadata
        // credits the seller's payable, not escrow holding, and must not mark the escrow paid.
        guard payment.creditAccountID == EscrowTransitions.holdingAccount(escrow.amount.currency).rawValue,
            payment.amount == escrow.amount, payment.ownerReference == escrow.sellerReference,
            escrow.paymentID == nil || escrow.paymentID == payment.id.description
        else {
            self.logger.error(
                "payment does not fund the escrow it names; ignored",
                metadata: ["payment.id": "\(payment.id)", "escrow.id": "\(escrow.id)"])
            return
        }
        guard escrow.status.applying(event) != nil else { return }
        let now = self.clock.now()
        if escrow.paymentID == nil { escrow.paymentID = payment.id.description }
        _ = try await self.transitions.apply(
            event, to: escrow, actor: .gateway, reason: payment.id.description, now: now, on: connection)
        if event != .paymentSucceeded {
            try await EscrowStore.returnUnit(of: escrow, now: now, kind: database.kind, on: connection)
        }
    }

    public func notifyCommitted() {
        self.transitions.notifyCommitted()
    }
}
