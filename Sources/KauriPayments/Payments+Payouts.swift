import KauriCore
import KauriDatabase
import KauriLedger
import SQLKit

extension Payments {
    /// The platform's account for money on its way out to providers, in `currency`.
    static func inTransitAccount(_ currency: Currency) -> LedgerAccount.ID {
        guard let id = LedgerAccount.ID.derived(code: .payoutsInTransit, owner: "platform", currency: currency) else {
            preconditionFailure("the platform's account ids are valid")
        }
        return id
    }

    /// Registers (or replaces) where `ownerReference`'s payouts in `currency` go.
    /// - Throws: `PaymentError.gatewayNotConfigured`, `.payoutNotSupported`, `.currencyNotSupported`.
    public func setPayoutDestination(
        ownerReference: String, currency: Currency, gateway name: GatewayName, destination: PayoutDestination
    ) async throws -> PayoutDestinationRecord {
        let gateway = try self.gateway(name)
        guard gateway.capabilities.contains(.payout) else { throw PaymentError.payoutNotSupported(name) }
        guard gateway.currencies.contains(currency) else {
            throw PaymentError.currencyNotSupported(gateway: name, currency: currency)
        }
        let record = PayoutDestinationRecord(
            ownerReference: ownerReference, currency: currency, gateway: name, destination: destination,
            updatedAt: self.clock.now())
        try await self.database.transaction { connection in
            try await PaymentStore.upsert(record, on: connection)
        }
        return record
    }

    public func payoutDestination(ownerReference: String, currency: Currency) async throws -> PayoutDestinationRecord? {
        try await self.database.withConnection { connection in
            try await PaymentStore.destination(ownerReference: ownerReference, currency: currency, on: connection)
        }
    }

    /// Pays `amount` out of the owner's payable to their registered destination.
    ///
    /// The amount moves payable → payouts in transit in the payout's own transaction (so it can never be paid out
    /// twice), then the provider is asked with our payout id as its idempotency key; its answer (now, or by
    /// webhook/callback) moves it on to gateway clearing, or back to the payable on failure.
    /// - Throws: `PaymentError.payoutDestinationMissing`, `.payoutExceedsBalance`, `.amountNotPositive`,
    ///   `.amountNotRepresentable`.
    public func createPayout(ownerReference: String, amount: Money, idempotencyKey: String?) async throws -> Payout {
        if let idempotencyKey,
            let existing = try await self.database.withConnection({ connection in
                try await PaymentStore.payout(
                    ownerReference: ownerReference, idempotencyKey: idempotencyKey, on: connection)
            })
        {
            guard existing.gatewayCall == .pending else { return existing }
            return try await self.sendPayout(existing)
        }
        guard amount.isPositive else { throw PaymentError.amountNotPositive }
        guard
            let record = try await self.payoutDestination(ownerReference: ownerReference, currency: amount.currency)
        else { throw PaymentError.payoutDestinationMissing(amount.currency) }
        let gateway = try self.gateway(record.gateway)
        do {
            try gateway.validate(amount)
        } catch {
            throw PaymentError.amountNotRepresentable(gateway: gateway.name, detail: Self.describe(error))
        }
        let payable = try Self.payableAccountID(owner: ownerReference, currency: amount.currency)
        let inTransit = Self.inTransitAccount(amount.currency)
        let clearing = try Self.clearingAccount(gateway: gateway.name, currency: amount.currency)
        for result in try await self.ledger.createAccounts([
            NewAccount(id: inTransit, currency: amount.currency, code: .payoutsInTransit, ownerReference: "platform"),
            NewAccount(
                id: clearing, currency: amount.currency, code: .gatewayClearing, ownerReference: gateway.name.rawValue),
        ]) {
            if case .failed(let error) = result { throw PaymentServiceError.ledgerRefused("account: \(error)") }
        }
        let now = self.clock.now()
        let payout = Payout(
            id: self.ids.make(PayoutIDKind.self), ownerReference: ownerReference, amount: amount,
            gateway: gateway.name, destination: record.destination, status: .pending, gatewayCall: .pending,
            providerReference: nil, failure: nil, idempotencyKey: idempotencyKey, createdAt: now, updatedAt: now)
        do {
            try await self.database.transaction { connection in
                try await PaymentStore.insert(payout, on: connection)
                try await self.movePayout(payout, "out", debit: payable, credit: inTransit, on: connection)
                try await self.publisher?.publish(type: "payout.created", data: .payout(payout), on: connection)
            }
            self.publisher?.notifyCommitted()
        } catch let error as PaymentError {
            throw error
        } catch {
            // A concurrent request with the same key won the insert: answer with its payout.
            if let idempotencyKey,
                let existing = try? await self.database.withConnection({ connection in
                    try await PaymentStore.payout(
                        ownerReference: ownerReference, idempotencyKey: idempotencyKey, on: connection)
                })
            {
                return existing
            }
            throw error
        }
        self.logger.info(
            "payout created", metadata: ["payout.id": "\(payout.id)", "payout.amount": "\(amount)"])
        return try await self.sendPayout(payout)
    }

    public func payout(_ id: Payout.ID, ownerReference: String?) async throws -> Payout? {
        let payout = try await self.database.withConnection { connection in
            try await PaymentStore.payout(id: id, lock: false, kind: self.database.kind, on: connection)
        }
        guard let payout, ownerReference == nil || payout.ownerReference == ownerReference else { return nil }
        return payout
    }

    public func payouts(ownerReference: String?, before: Payout.ID?, limit: Int) async throws -> [Payout] {
        try await self.database.withConnection { connection in
            try await PaymentStore.payouts(ownerReference: ownerReference, before: before, limit: limit, on: connection)
        }
    }

    /// Per currency, the owner's payouts sent but not confirmed yet.
    public func payoutsInTransit(ownerReference: String) async throws -> [Currency: Int64] {
        try await self.database.withConnection { connection in
            let rows = try await connection.raw(
                """
                SELECT currency, CAST(SUM(amount) AS BIGINT) AS total FROM payouts
                WHERE owner_reference = \(bind: ownerReference) AND status = 'pending' GROUP BY currency
                """
            ).all()
            var totals: [Currency: Int64] = [:]
            for row in rows {
                if let currency = Currency(code: try row.decode(column: "currency", as: String.self)) {
                    totals[currency] = try row.decode(column: "total", as: Int64.self)
                }
            }
            return totals
        }
    }

    /// Sends a payout again that its provider never received (reconciliation), with the same reference.
    func resendPayout(_ payout: Payout) async throws -> Payout {
        try await self.sendPayout(payout)
    }

    /// Asks the provider (outside any transaction) and records its answer.
    private func sendPayout(_ payout: Payout) async throws -> Payout {
        let gateway = try self.gateway(payout.gateway)
        let request = GatewayPayoutRequest(
            reference: Self.gatewayReference(payout.id.description), amount: payout.amount,
            destination: payout.destination, reason: "Kauri payout \(payout.id)",
            callbackURL: self.callbackURL(for: payout.id.description))
        do {
            return try await self.applyPayout(try await gateway.payout(request), to: payout.id, markSent: true)
        } catch let error as GatewayError {
            switch error {
            case .declined(let code, let message):
                return try await self.applyPayout(
                    GatewayPayoutStatus(
                        reference: request.reference, providerReference: nil,
                        outcome: .failed(code: code, message: message), amount: nil), to: payout.id, markSent: true)
            case .invalidRequest(let message), .authenticationFailed(let message), .notSupported(let message):
                return try await self.applyPayout(
                    GatewayPayoutStatus(
                        reference: request.reference, providerReference: nil,
                        outcome: .failed(code: "gateway_error", message: message), amount: nil), to: payout.id,
                    markSent: true)
            case .duplicateReference, .timedOut, .outcomeUnknown, .unavailable, .rateLimited:
                // Never assumed failed: the money may be on its way. The result callback or webhook settles it.
                self.logger.warning(
                    "gateway gave no usable answer to a payout; it stays pending",
                    metadata: ["payout.id": "\(payout.id)", "gateway.error": "\(Self.describe(error))"])
                return try await self.database.transaction { connection in
                    guard
                        var current = try await PaymentStore.payout(
                            id: payout.id, lock: true, kind: self.database.kind, on: connection)
                    else { throw PaymentError.payoutNotFound }
                    guard current.gatewayCall == .pending else { return current }
                    current.gatewayCall = .unknown
                    current.updatedAt = self.clock.now()
                    try await PaymentStore.update(current, on: connection)
                    return current
                }
            }
        }
    }

    /// Applies a provider's report about a payout: in transit → clearing (succeeded) or → back to the payable
    /// (failed), exactly once.
    @discardableResult
    func applyPayout(_ status: GatewayPayoutStatus, to id: Payout.ID, markSent: Bool = false) async throws -> Payout {
        let now = self.clock.now()
        let (payout, published) = try await self.database.transaction { connection -> (Payout, Bool) in
            guard
                var payout = try await PaymentStore.payout(id: id, lock: true, kind: self.database.kind, on: connection)
            else { throw PaymentError.payoutNotFound }
            let wasPending = payout.status == .pending
            if markSent, payout.gatewayCall != .sent { payout.gatewayCall = .sent }
            if payout.providerReference == nil { payout.providerReference = status.providerReference }
            let currency = payout.amount.currency
            let inTransit = Self.inTransitAccount(currency)
            if payout.status == .pending {
                switch status.outcome {
                case .pending:
                    break
                case .succeeded:
                    payout.status = .succeeded
                    try await self.movePayout(
                        payout, "paid", debit: inTransit,
                        credit: try Self.clearingAccount(gateway: payout.gateway, currency: currency), on: connection)
                case .failed(let code, let message):
                    payout.status = .failed
                    payout.failure = PaymentFailure(code: "\(payout.gateway).\(code)", message: message)
                    try await self.movePayout(
                        payout, "returned", debit: inTransit,
                        credit: try Self.payableAccountID(owner: payout.ownerReference, currency: currency),
                        on: connection)
                }
            }
            payout.updatedAt = now
            try await PaymentStore.update(payout, on: connection)
            guard wasPending, payout.status != .pending else { return (payout, false) }
            try await self.publisher?.publish(
                type: "payout.\(payout.status.rawValue)", data: .payout(payout), on: connection)
            self.logger.info(
                "payout \(payout.status.rawValue)",
                metadata: ["payout.id": "\(payout.id)", "gateway.name": "\(payout.gateway)"])
            return (payout, true)
        }
        if published { self.publisher?.notifyCommitted() }
        return payout
    }

    /// One leg of a payout's money, with an id derived from the payout's so it lands once.
    private func movePayout(
        _ payout: Payout, _ leg: String, debit: LedgerAccount.ID, credit: LedgerAccount.ID,
        on connection: any SQLDatabase
    ) async throws {
        guard let id = LedgerTransfer.ID("\(payout.id).\(leg)") else {
            preconditionFailure("payout ids make valid transfer ids")
        }
        let results = try await self.ledger.apply(
            [
                [
                    NewTransfer(
                        id: id, operation: .single(debit: debit, credit: credit, amount: payout.amount),
                        code: "payout_\(leg)", reference: payout.id.description)
                ]
            ], on: connection)
        switch results[0][0] {
        case .created, .exists: return
        case .failed(.exceedsCredits), .failed(.debitAccountNotFound):
            throw PaymentError.payoutExceedsBalance
        case .failed(let error):
            throw PaymentServiceError.ledgerRefused("payout \(leg) of \(payout.id): \(error)")
        }
    }
}
