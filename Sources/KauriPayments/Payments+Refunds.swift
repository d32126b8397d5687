import KauriCore
import KauriDatabase
import KauriLedger
import SQLKit

extension Payments {
    /// Refunds all (`amount` nil) or part of a succeeded payment.
    ///
    /// The amount is reserved at once — a pending ledger transfer from the account the payment credited back to
    /// gateway clearing, and the payment's `amount_refund_pending` — so concurrent refunds can never return more
    /// than was paid, then posted when the gateway confirms or voided when it refuses.
    /// - Parameter ownerReference: The caller; nil for an admin acting on anyone's payment.
    public func refund(
        paymentID: Payment.ID, amount: Int64?, reason: String?, ownerReference: String?, idempotencyKey: String?,
        allowManaged: Bool = false
    ) async throws -> Refund {
        guard let payment = try await self.payment(paymentID, ownerReference: ownerReference) else {
            throw PaymentError.paymentNotFound
        }
        // A payment that credited another module's account (an escrow's holding) is refunded by that module, which
        // knows whether the money is still there to return; the owner's refund would take it from everyone's.
        if !allowManaged,
            payment.creditAccountID
                != (try Self.payableAccountID(owner: payment.ownerReference, currency: payment.amount.currency))
                .rawValue
        {
            throw PaymentError.refundManaged
        }
        let gateway = try self.gateway(payment.gateway)
        guard gateway.capabilities.contains(.refund) else { throw PaymentError.refundNotSupported(gateway.name) }
        let owner = ownerReference ?? payment.ownerReference
        if let idempotencyKey,
            let existing = try await self.database.withConnection({ connection in
                try await PaymentStore.refund(ownerReference: owner, idempotencyKey: idempotencyKey, on: connection)
            })
        {
            guard existing.gatewayCall == .pending else { return existing }
            return try await self.startRefund(existing, gateway: gateway, resuming: true)
        }
        if let amount, amount <= 0 { throw PaymentError.amountNotPositive }
        let now = self.clock.now()
        let id = self.ids.make(RefundIDKind.self)
        let refund = try await self.database.transaction { connection -> Refund in
            guard
                var locked = try await PaymentStore.payment(
                    id: paymentID, lock: true, kind: self.database.kind, on: connection)
            else { throw PaymentError.paymentNotFound }
            guard locked.status == .succeeded else { throw PaymentError.refundNotAllowed(status: locked.status) }
            let refundable = locked.amountRefundable
            let value = amount ?? refundable
            guard value > 0, value <= refundable else {
                throw PaymentError.refundExceedsPayment(refundable: refundable)
            }
            let refund = Refund(
                id: id, paymentID: paymentID, amount: Money(minorUnits: value, currency: locked.amount.currency),
                status: .pending, reason: reason, gatewayReference: Self.gatewayReference(id.description),
                providerReference: nil, failure: nil, gatewayCall: .pending, idempotencyKey: idempotencyKey,
                ownerReference: owner, checkAttempts: 0,
                nextCheckAt: now.adding(milliseconds: self.configuration.checkDelaysMilliseconds[0]), createdAt: now,
                updatedAt: now)
            try await PaymentStore.insert(refund, on: connection)
            locked.amountRefundPending += value
            locked.updatedAt = now
            try await PaymentStore.update(locked, on: connection)
            try await self.reserve(refund, of: locked, on: connection)
            return refund
        }
        self.logger.info(
            "refund created", metadata: ["refund.id": "\(refund.id)", "payment.id": "\(paymentID)"])
        return try await self.startRefund(refund, gateway: gateway, resuming: false)
    }

    /// Sends the refund to the gateway (outside any transaction) and records the answer. On a resumed refund
    /// the gateway is asked first whether it already has it.
    func startRefund(_ refund: Refund, gateway: any PaymentGateway, resuming: Bool) async throws -> Refund {
        guard let payment = try await self.payment(refund.paymentID, ownerReference: nil) else {
            throw PaymentError.paymentNotFound
        }
        let request = GatewayRefundRequest(
            reference: refund.gatewayReference, paymentReference: payment.gatewayReference,
            paymentProviderTransactionID: payment.providerTransactionID, amount: refund.amount,
            phone: payment.method.phone, callbackURL: self.callbackURL(for: refund.id.description))
        var answer: Result<GatewayRefundStatus, GatewayError>
        do {
            if resuming, let found = try await gateway.findRefund(request) {
                answer = .success(found)
            } else {
                answer = .success(try await gateway.refund(request))
            }
        } catch let error as GatewayError {
            answer = .failure(error)
        } catch {
            answer = .failure(.outcomeUnknown(String(describing: error)))
        }
        switch answer {
        case .success(let status):
            return try await self.applyRefund(status, to: refund.id, markSent: true)
        case .failure(let error):
            switch error {
            case .declined(let code, let message):
                return try await self.applyRefund(
                    GatewayRefundStatus(
                        reference: refund.gatewayReference, paymentReference: nil, providerReference: nil,
                        outcome: .failed(code: code, message: message), amount: nil), to: refund.id, markSent: true)
            case .invalidRequest(let message), .authenticationFailed(let message), .notSupported(let message):
                return try await self.applyRefund(
                    GatewayRefundStatus(
                        reference: refund.gatewayReference, paymentReference: nil, providerReference: nil,
                        outcome: .failed(code: "gateway_error", message: message), amount: nil), to: refund.id,
                    markSent: true)
            case .duplicateReference, .timedOut, .outcomeUnknown, .unavailable, .rateLimited:
                self.logger.warning(
                    "gateway gave no usable answer to a refund; it stays pending until reconciled",
                    metadata: ["refund.id": "\(refund.id)", "gateway.error": "\(Self.describe(error))"])
                return try await self.markRefundUnknown(refund.id)
            }
        }
    }

    private func markRefundUnknown(_ id: Refund.ID) async throws -> Refund {
        let now = self.clock.now()
        return try await self.database.transaction { connection in
            guard
                var refund = try await PaymentStore.refund(id: id, lock: true, kind: self.database.kind, on: connection)
            else { throw PaymentError.refundNotFound }
            guard refund.gatewayCall == .pending else { return refund }
            refund.gatewayCall = .unknown
            refund.updatedAt = now
            try await PaymentStore.update(refund, on: connection)
            return refund
        }
    }

    /// Applies a gateway's report about a refund: posts or voids its reservation exactly once.
    @discardableResult
    func applyRefund(_ status: GatewayRefundStatus, to id: Refund.ID, markSent: Bool = false) async throws -> Refund {
        let now = self.clock.now()
        let (refund, published) = try await self.database.transaction { connection -> (Refund, Bool) in
            guard
                var refund = try await PaymentStore.refund(id: id, lock: true, kind: self.database.kind, on: connection)
            else { throw PaymentError.refundNotFound }
            let before = refund
            if markSent || status.outcome != .pending { refund.gatewayCall = .sent }
            if refund.providerReference == nil { refund.providerReference = status.providerReference }
            let next: Refund.Status
            var failure: PaymentFailure?
            switch status.outcome {
            case .pending: next = .pending
            case .succeeded: next = .succeeded
            case .failed(let code, let message):
                next = .failed
                failure = PaymentFailure(code: code, message: message)
            }
            guard let moved = refund.status.applying(next) else {
                if refund != before {
                    refund.updatedAt = now
                    try await PaymentStore.update(refund, on: connection)
                }
                return (refund, false)
            }
            guard
                var payment = try await PaymentStore.payment(
                    id: refund.paymentID, lock: true, kind: self.database.kind, on: connection)
            else { throw PaymentError.paymentNotFound }
            refund.status = moved
            refund.failure = failure
            refund.nextCheckAt = nil
            refund.updatedAt = now
            payment.amountRefundPending -= refund.amount.minorUnits
            if moved == .succeeded { payment.amountRefunded += refund.amount.minorUnits }
            payment.updatedAt = now
            try await self.settle(refund, succeeded: moved == .succeeded, on: connection)
            try await PaymentStore.update(refund, on: connection)
            try await PaymentStore.update(payment, on: connection)
            try await self.publisher?.publish(type: "refund.\(moved.rawValue)", data: .refund(refund), on: connection)
            self.logger.info("refund \(moved.rawValue)", metadata: ["refund.id": "\(refund.id)"])
            return (refund, self.publisher != nil)
        }
        if published { self.publisher?.notifyCommitted() }
        return refund
    }

    /// Reserves a refund's amount: pending transfer credit account → gateway clearing.
    private func reserve(_ refund: Refund, of payment: Payment, on connection: any SQLDatabase) async throws {
        let clearing = try Self.clearingAccount(gateway: payment.gateway, currency: payment.amount.currency)
        guard let debit = LedgerAccount.ID(payment.creditAccountID),
            let holdID = LedgerTransfer.ID("\(refund.id).hold")
        else { preconditionFailure("refund ids and stored account ids are valid ledger ids") }
        let results = try await self.ledger.apply(
            [
                [
                    NewTransfer(
                        id: holdID,
                        operation: .pending(debit: debit, credit: clearing, amount: refund.amount, timeoutSeconds: nil),
                        code: "refund_reserved", reference: refund.id.description)
                ]
            ], on: connection)
        switch results[0][0] {
        case .created, .exists: return
        case .failed(.exceedsCredits): throw PaymentError.insufficientBalance
        case .failed(let error): throw PaymentServiceError.ledgerRefused("refund hold of \(refund.id): \(error)")
        }
    }

    /// Posts (succeeded) or voids (failed) a refund's reservation.
    private func settle(_ refund: Refund, succeeded: Bool, on connection: any SQLDatabase) async throws {
        guard let holdID = LedgerTransfer.ID("\(refund.id).hold"),
            let id = LedgerTransfer.ID("\(refund.id).\(succeeded ? "settled" : "released")")
        else { preconditionFailure("refund ids are valid ledger ids") }
        let operation: NewTransfer.Operation =
            succeeded ? .post(pendingID: holdID, amount: nil) : .void(pendingID: holdID)
        let results = try await self.ledger.apply(
            [
                [
                    NewTransfer(
                        id: id, operation: operation, code: succeeded ? "refund_paid" : "refund_released",
                        reference: refund.id.description)
                ]
            ], on: connection)
        if let error = results[0][0].error {
            throw PaymentServiceError.ledgerRefused("refund \(refund.id): \(error)")
        }
    }
}

extension Payment.Method {
    /// The payer's phone, for mobile-money payments.
    var phone: PhoneNumber? {
        switch self {
        case .redirect: nil
        case .mobileMoney(let phone, _): phone
        }
    }
}
