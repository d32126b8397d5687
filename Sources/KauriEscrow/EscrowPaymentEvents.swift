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
        if case .refund(let refund) = data, type == "refund.failed" {
            try await self.refundFailed(refund, on: connection)
            return
        }
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

    /// The gateway refused an escrow's refund: its money is back in escrow holding (the payments module voided the
    /// reservation). The escrow forgets that refund, so the next settlement pass makes a new one, until
    /// `Escrows.refundAttemptsMax` were refused; each refusal is on the escrow's timeline.
    private func refundFailed(_ refund: Refund, on connection: any SQLDatabase) async throws {
        let database = self.transitions.database
        // Found by its payment, and matched by the attempt's key: the escrow may not have recorded the refund's id
        // yet when the refusal comes back this fast.
        guard
            var escrow = try await EscrowStore.escrow(
                paymentID: refund.paymentID.description, lock: true, kind: database.kind, on: connection),
            escrow.refundAmount > 0, refund.idempotencyKey == Escrows.refundKey(escrow)
        else { return }
        escrow.refundID = nil
        escrow.refundAttempts += 1
        escrow.updatedAt = self.clock.now()
        let failure = refund.failure.map { "\($0.code): \($0.message)" } ?? "refused"
        let last = escrow.refundAttempts >= Escrows.refundAttemptsMax
        try await EscrowStore.update(escrow, on: connection)
        try await EscrowStore.insertTransition(
            escrowID: escrow.id, from: escrow.status, to: escrow.status, event: "refund_failed", actor: "gateway",
            reason: "\(refund.id) (attempt \(escrow.refundAttempts)): \(failure)"
                + (last ? "; no more attempts, the money stays in escrow holding for an operator" : ""),
            at: escrow.updatedAt, on: connection)
        if last {
            self.logger.error(
                "escrow refund refused too often; an operator must act",
                metadata: ["escrow.id": "\(escrow.id)", "refund.id": "\(refund.id)"])
        } else {
            self.logger.warning(
                "escrow refund refused; another is made next settlement pass",
                metadata: ["escrow.id": "\(escrow.id)", "refund.id": "\(refund.id)"])
        }
    }

    public func notifyCommitted() {
        self.transitions.notifyCommitted()
    }
}
