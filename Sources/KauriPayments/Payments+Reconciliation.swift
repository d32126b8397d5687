import KauriCore
import KauriDatabase
import SQLKit

extension Payments {
    /// Checks payments and refunds still waiting whose check is due, through the gateways' status APIs.
    ///
    /// A timeout or 5xx from the provider changes nothing but the next check time: a payment is never assumed
    /// paid or failed. A payment still not final when its lifetime ends (after one last check) expires.
    /// - Returns: How many payments and refunds were checked.
    @discardableResult
    public func reconcileDue() async throws -> Int {
        let now = self.clock.now()
        let payoutsBefore = Timestamp(
            unixMilliseconds: now.unixMilliseconds - min(now.unixMilliseconds, Self.payoutCheckAfterMilliseconds))
        // One connection for the three queues.
        let (paymentIDs, refundIDs, payouts) = try await self.database.withConnection { connection in
            (
                try await PaymentStore.duePaymentIDs(
                    now: now, limit: self.configuration.reconcileBatchSize, on: connection),
                try await PaymentStore.dueRefundIDs(
                    now: now, limit: self.configuration.reconcileBatchSize, on: connection),
                try await PaymentStore.stalePayouts(
                    before: payoutsBefore, limit: self.configuration.reconcileBatchSize, on: connection)
            )
        }
        for id in paymentIDs {
            await self.reconcile(id)
        }
        for id in refundIDs {
            await self.reconcileRefund(id)
        }
        var checked = 0
        for payout in payouts where await self.reconcilePayout(payout) {
            checked += 1
        }
        return paymentIDs.count + refundIDs.count + checked
    }

    /// How long a payout may stay pending without news before its gateway is asked (and again after each check).
    static let payoutCheckAfterMilliseconds: UInt64 = 60_000

    /// Asks the gateway about a payout still pending: applies its answer, or — when the provider has no such payout
    /// and our call never got an answer — sends it again with the same reference. Gateways that cannot look
    /// payouts up (Daraja, PayHero: results only by callback) are left alone. Returns whether it asked.
    private func reconcilePayout(_ payout: Payout) async -> Bool {
        do {
            let gateway = try self.gateway(payout.gateway)
            let request = GatewayPayoutRequest(
                reference: Self.gatewayReference(payout.id.description), amount: payout.amount,
                destination: payout.destination, reason: "Kauri payout \(payout.id)",
                callbackURL: self.callbackURL(for: payout.id.description))
            let found: GatewayPayoutStatus?
            do {
                found = try await gateway.findPayout(request)
            } catch GatewayError.notSupported {
                return false
            }
            if let found {
                try await self.applyPayout(found, to: payout.id, markSent: true)
            } else if payout.gatewayCall != .sent {
                // Never reached the provider (or it kept nothing): the reference makes a second send safe.
                self.logger.info(
                    "payout unknown to its gateway; sending it again", metadata: ["payout.id": "\(payout.id)"])
                _ = try await self.resendPayout(payout)
            } else {
                try await self.touchPayout(payout.id)
            }
            return true
        } catch {
            self.logger.warning(
                "payout check failed; retrying later", metadata: ["payout.id": "\(payout.id)", "error": "\(error)"])
            try? await self.touchPayout(payout.id)
            return true
        }
    }

    /// Moves a payout's `updated_at` to now: its next check is a full interval away.
    private func touchPayout(_ id: Payout.ID) async throws {
        let now = self.clock.now()
        try await self.database.transaction { connection in
            guard
                var payout = try await PaymentStore.payout(id: id, lock: true, kind: self.database.kind, on: connection)
            else { return }
            payout.updatedAt = now
            try await PaymentStore.update(payout, on: connection)
        }
    }

    private func reconcile(_ id: Payment.ID) async {
        do {
            guard let payment = try await self.payment(id, ownerReference: nil), !payment.status.isFinal else { return }
            let now = self.clock.now()
            if payment.gatewayCall == .pending,
                now < payment.createdAt.adding(milliseconds: self.configuration.pendingCallGraceMilliseconds)
            {
                // The create call may still be in flight on some server; look again later.
                try await self.schedule(id, now: now)
                return
            }
            var checked: Payment?
            do {
                checked = try await self.refresh(id)
            } catch {
                self.logger.info(
                    "status check gave no answer; will check again",
                    metadata: ["payment.id": "\(id)", "error": "\(Self.describe(error))"])
            }
            if let checked, checked.status.isFinal || checked.reviewReason != nil { return }
            if now >= payment.expiresAt {
                try await self.expire(id)
            } else {
                try await self.schedule(id, now: now)
            }
        } catch {
            self.logger.warning(
                "reconciliation of a payment failed", metadata: ["payment.id": "\(id)", "error": "\(error)"])
        }
    }

    private func schedule(_ id: Payment.ID, now: Timestamp) async throws {
        try await self.database.transaction { connection in
            guard
                var payment = try await PaymentStore.payment(
                    id: id, lock: true, kind: self.database.kind, on: connection),
                !payment.status.isFinal
            else { return }
            payment.nextCheckAt = now.adding(milliseconds: self.checkDelay(attempt: payment.checkAttempts + 1))
            payment.checkAttempts += 1
            try await PaymentStore.update(payment, on: connection)
        }
    }

    /// Expires a payment whose lifetime ended without a final answer.
    private func expire(_ id: Payment.ID) async throws {
        let now = self.clock.now()
        let published = try await self.database.transaction { connection -> Bool in
            guard
                let payment = try await PaymentStore.payment(
                    id: id, lock: true, kind: self.database.kind, on: connection)
            else { return false }
            guard case .moveTo(.expired) = payment.status.applying(.expired) else { return false }
            var expiring = payment
            expiring.status = .expired
            expiring.failure = PaymentFailure(code: "expired", message: "no final answer before the payment expired")
            expiring.nextAction = nil
            expiring.nextCheckAt = nil
            expiring.updatedAt = now
            try await PaymentStore.update(expiring, on: connection)
            try await self.publisher?.publish(type: "payment.expired", data: .payment(expiring), on: connection)
            self.logger.info("payment expired", metadata: ["payment.id": "\(id)"])
            return self.publisher != nil
        }
        if published { self.publisher?.notifyCommitted() }
    }

    private func reconcileRefund(_ id: Refund.ID) async {
        do {
            guard let refund = try await self.refund(id), refund.status == .pending,
                let payment = try await self.payment(refund.paymentID, ownerReference: nil)
            else { return }
            let gateway = try self.gateway(payment.gateway)
            let now = self.clock.now()
            if refund.gatewayCall == .pending,
                now >= refund.createdAt.adding(milliseconds: self.configuration.pendingCallGraceMilliseconds)
            {
                // The server that sent it died before recording the answer: resume (asks the gateway first).
                _ = try await self.startRefund(refund, gateway: gateway, resuming: true)
            } else if refund.gatewayCall != .pending {
                let request = GatewayRefundRequest(
                    reference: refund.gatewayReference, paymentReference: payment.gatewayReference,
                    paymentProviderTransactionID: payment.providerTransactionID, amount: refund.amount,
                    phone: payment.method.phone, callbackURL: self.callbackURL(for: refund.id.description))
                do {
                    if let status = try await gateway.findRefund(request) {
                        try await self.applyRefund(status, to: id)
                    }
                } catch {
                    self.logger.info(
                        "refund status check gave no answer; will check again",
                        metadata: ["refund.id": "\(id)", "error": "\(Self.describe(error))"])
                }
            }
            try await self.database.transaction { connection in
                guard
                    var refund = try await PaymentStore.refund(
                        id: id, lock: true, kind: self.database.kind, on: connection),
                    refund.status == .pending
                else { return }
                refund.nextCheckAt = now.adding(milliseconds: self.checkDelay(attempt: refund.checkAttempts + 1))
                refund.checkAttempts += 1
                try await PaymentStore.update(refund, on: connection)
            }
        } catch {
            self.logger.warning(
                "reconciliation of a refund failed", metadata: ["refund.id": "\(id)", "error": "\(error)"])
        }
    }
}
