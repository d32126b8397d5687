import KauriCore
import KauriDatabase
import KauriLedger
import KauriMessaging
import Logging
import SQLKit

/// Carries out one escrow transition inside the caller's transaction: the status, the log entry, the ledger
/// transfers it implies, and the SMS notices — all committed together or not at all.
public struct EscrowTransitions: Sendable {
    let database: Database
    let ledger: Ledger
    let outbox: Outbox
    let logger: Logger
    let inspectionWindowMilliseconds: UInt64
    let sessionHoldMilliseconds: UInt64
    /// The operator's webhook events; nil: none.
    let events: (any EscrowEventSink)?
    /// Whether released money is paid out to the seller's destination at once.
    let automaticPayouts: Bool

    public init(
        database: Database, ledger: Ledger, outbox: Outbox, logger: Logger, inspectionWindowMilliseconds: UInt64,
        sessionHoldMilliseconds: UInt64 = 24 * 3_600_000, events: (any EscrowEventSink)? = nil,
        automaticPayouts: Bool = false
    ) {
        self.events = events
        self.automaticPayouts = automaticPayouts
        self.database = database
        self.ledger = ledger
        self.outbox = outbox
        self.logger = logger
        self.inspectionWindowMilliseconds = inspectionWindowMilliseconds
        self.sessionHoldMilliseconds = sessionHoldMilliseconds
    }

    /// Who moved an escrow.
    public enum Actor: String, Sendable {
        case buyer, seller, admin, system, gateway
    }

    /// The platform's account holding escrowed money in `currency`.
    public static func holdingAccount(_ currency: Currency) -> LedgerAccount.ID {
        guard let id = LedgerAccount.ID.derived(code: .escrowHolding, owner: "platform", currency: currency) else {
            preconditionFailure("the platform's account ids are valid")
        }
        return id
    }

    /// The platform's revenue account in `currency` (fees).
    public static func revenueAccount(_ currency: Currency) -> LedgerAccount.ID {
        guard let id = LedgerAccount.ID.derived(code: .platformRevenue, owner: "platform", currency: currency) else {
            preconditionFailure("the platform's account ids are valid")
        }
        return id
    }

    /// A seller's payable in `currency` (the account payments credit by default).
    public static func payableAccount(seller: String, currency: Currency) throws -> LedgerAccount.ID {
        guard let id = LedgerAccount.ID.derived(code: .sellerPayable, owner: seller, currency: currency) else {
            throw EscrowServiceError.ledgerRefused("owner reference \(seller) is too long for a ledger account id")
        }
        return id
    }

    /// Applies `event` to `loaded` (read with its row lock in this transaction) and returns the escrow as written.
    /// - Throws: `EscrowError.invalidTransition` / `.notFunded` when the event is not allowed now; nothing written.
    /// - Parameter sellerGross: On release, how much of the amount goes the seller's way (before the fee); nil: all.
    ///   A dispute's split releases part.
    func apply(
        _ event: EscrowEvent, to loaded: Escrow, actor: Actor, reason: String?, now: Timestamp,
        sellerGross: Int64? = nil, on connection: any SQLDatabase
    ) async throws -> Escrow {
        let planned = try self.plan(
            event, to: loaded, actor: actor, reason: reason, now: now, sellerGross: sellerGross)
        try await self.postTransfers([planned], on: connection)
        try await EscrowStore.update(planned.escrow, on: connection)
        try await EscrowStore.insertTransitions([planned.logEntry], on: connection)
        try await self.outbox.enqueue(Self.notices(for: planned.escrow, event: event), on: connection)
        try await self.events?.publish(
            type: "escrow.\(planned.escrow.status.rawValue)", data: [EscrowEventData(escrow: planned.escrow)],
            on: connection)
        self.logger.info(
            "escrow \(planned.escrow.status.rawValue)",
            metadata: ["escrow.id": "\(loaded.id)", "escrow.event": "\(event.rawValue)", "actor": "\(actor.rawValue)"])
        return planned.escrow
    }

    /// Releases many delivered escrows in one transaction with a few statements in all, whatever their number: one
    /// ledger batch, one UPDATE, one INSERT each for the log, the notices and the events. Each element is an
    /// escrow (read with its row lock) with its event — `.autoRelease`, or `.ratingSplit` with the seller's gross —
    /// and reason. Throws, writing nothing, if any of them may not move or the ledger refuses any release.
    func releaseAll(
        _ releases: [(escrow: Escrow, event: EscrowEvent, sellerGross: Int64?, reason: String)], now: Timestamp,
        on connection: any SQLDatabase
    ) async throws -> [Escrow] {
        guard !releases.isEmpty else { return [] }
        let plans = try releases.map { release in
            precondition(release.event == .autoRelease || release.event == .ratingSplit, "releaseAll releases")
            return try self.plan(
                release.event, to: release.escrow, actor: .system, reason: release.reason, now: now,
                sellerGross: release.sellerGross)
        }
        try await self.postTransfers(plans, on: connection)
        try await EscrowStore.updateReleased(plans.map(\.escrow), on: connection)
        try await EscrowStore.insertTransitions(plans.map(\.logEntry), on: connection)
        try await self.outbox.enqueue(
            plans.flatMap { Self.notices(for: $0.escrow, event: $0.event) }, on: connection)
        try await self.events?.publish(
            type: "escrow.completed", data: plans.map { EscrowEventData(escrow: $0.escrow) }, on: connection)
        self.logger.info("escrows released", metadata: ["escrow.count": "\(plans.count)"])
        return plans.map(\.escrow)
    }

    /// A transition worked out in memory: the escrow as it will be, its log entry, the transfers it posts.
    struct Planned {
        var escrow: Escrow
        var event: EscrowEvent
        var logEntry: EscrowStore.NewTransition
        var chain: [NewTransfer]
    }

    /// Works out `event` on `loaded` without writing anything.
    func plan(
        _ event: EscrowEvent, to loaded: Escrow, actor: Actor, reason: String?, now: Timestamp, sellerGross: Int64?
    ) throws -> Planned {
        guard loaded.kind.accepts(event), let next = loaded.status.applying(event) else {
            if loaded.status == .pending, loaded.kind.accepts(event),
                [.ship, .deliver, .confirm, .complete, .autoRelease, .openDispute].contains(event)
            {
                throw EscrowError.notFunded
            }
            throw EscrowError.invalidTransition(status: loaded.status, event: event)
        }
        if next == .completed, event == .confirm || event == .autoRelease, loaded.reviewReason != nil {
            throw EscrowError.underReview
        }
        var escrow = loaded
        escrow.status = next
        escrow.updatedAt = now
        let hold = escrow.kind == .session ? self.sessionHoldMilliseconds : self.inspectionWindowMilliseconds
        escrow.releaseDueAt = next == .delivered ? now.adding(milliseconds: hold) : nil
        var chain: [NewTransfer] = []
        if next == .completed {
            let net: Int64
            (chain, net) = try Self.releaseChain(escrow, gross: sellerGross ?? escrow.amount.minorUnits)
            if self.automaticPayouts { escrow.payoutOwed = net }
        }
        return Planned(
            escrow: escrow, event: event,
            logEntry: EscrowStore.NewTransition(
                escrowID: escrow.id, from: loaded.status, to: next, event: event.rawValue, actor: actor.rawValue,
                reason: reason, at: now),
            chain: chain)
    }

    /// Posts the plans' transfers as one ledger batch (each plan's chain linked); throws if any is refused.
    private func postTransfers(_ plans: [Planned], on connection: any SQLDatabase) async throws {
        let posting = plans.filter { !$0.chain.isEmpty }
        guard !posting.isEmpty else { return }
        let results = try await self.ledger.apply(posting.map(\.chain), on: connection)
        for (plan, result) in zip(posting, results) {
            if let error = result.lazy.compactMap(\.error).first {
                throw EscrowServiceError.ledgerRefused("release of \(plan.escrow.id): \(error)")
            }
        }
    }

    /// Escrow holding → the seller's payable (`gross` less its share of the fee) and → platform revenue (that
    /// share), linked, with ids derived from the escrow's so a retry can never release twice.
    /// - Returns: The chain, and what the seller's payable receives.
    private static func releaseChain(_ escrow: Escrow, gross: Int64) throws -> ([NewTransfer], Int64) {
        precondition(gross > 0 && gross <= escrow.amount.minorUnits, "a release is part or all of the amount")
        let currency = escrow.amount.currency
        let fee = Self.feeShare(of: escrow, gross: gross)
        let holding = Self.holdingAccount(currency)
        let payable = try Self.payableAccount(seller: escrow.sellerReference, currency: currency)
        guard let releaseID = LedgerTransfer.ID("\(escrow.id).release"),
            let feeID = LedgerTransfer.ID("\(escrow.id).fee")
        else { preconditionFailure("escrow ids make valid transfer ids") }
        var chain: [NewTransfer] = []
        if gross - fee > 0 {
            chain.append(
                NewTransfer(
                    id: releaseID,
                    operation: .single(
                        debit: holding, credit: payable, amount: Money(minorUnits: gross - fee, currency: currency)),
                    code: "escrow_released", reference: escrow.id.description))
        }
        if fee > 0 {
            chain.append(
                NewTransfer(
                    id: feeID,
                    operation: .single(
                        debit: holding, credit: Self.revenueAccount(currency),
                        amount: Money(minorUnits: fee, currency: currency)),
                    code: "escrow_fee", reference: escrow.id.description))
        }
        return (chain, gross - fee)
    }

    /// The platform's fee on releasing `gross` of the escrow: all of it on the whole amount, else its proportional
    /// share, rounded down (so a split never charges more than the whole would).
    static func feeShare(of escrow: Escrow, gross: Int64) -> Int64 {
        let amount = escrow.amount.minorUnits
        if gross == amount { return escrow.fee.minorUnits }
        let product = escrow.fee.minorUnits.multipliedFullWidth(by: gross)
        return amount.dividingFullWidth(product).quotient
    }

    /// The SMS each party gets when `escrow` has just moved by `event`.
    static func notices(for escrow: Escrow, event: EscrowEvent) -> [SmsMessage] {
        let title = "\u{201C}\(escrow.title)\u{201D}"
        var messages: [SmsMessage] = []
        func toBuyer(_ text: String) { messages.append(SmsMessage(to: escrow.buyerPhone.e164, body: "Kauri: " + text)) }
        func toSeller(_ text: String) {
            if let phone = escrow.sellerPhone { messages.append(SmsMessage(to: phone.e164, body: "Kauri: " + text)) }
        }
        switch event {
        case .paymentSucceeded:
            toSeller(
                "\(escrow.buyerName) paid \(escrow.amount) for \(title) (\(escrow.id)). We hold it until delivery: ship now."
            )
            toBuyer("we hold your \(escrow.amount) for \(title) (\(escrow.id)) until you confirm delivery.")
        case .paymentFailed, .paymentExpired:
            toBuyer("your payment for \(title) (\(escrow.id)) did not complete; no money is held.")
        case .ship:
            var text = "\(title) (\(escrow.id)) was shipped"
            if let carrier = escrow.shipping?.carrier { text += " by \(carrier)" }
            if let tracking = escrow.shipping?.trackingNumber { text += ", tracking \(tracking)" }
            toBuyer(text + ".")
        case .deliver:
            toBuyer(
                "the seller says \(title) (\(escrow.id)) was delivered. Confirm it, or open a dispute before "
                    + "\(escrow.releaseDueAt?.rfc3339 ?? "the window ends"); after that the seller is paid.")
        case .complete:
            toSeller(
                "the session \(title) (\(escrow.id)) is complete. \(escrow.sellerAmount) is held until "
                    + "\(escrow.releaseDueAt?.rfc3339 ?? "the hold ends"), then paid to you as the client's rating allows."
            )
            toBuyer(
                "the session \(title) (\(escrow.id)) is complete. Rate it (1–5) before "
                    + "\(escrow.releaseDueAt?.rfc3339 ?? "the hold ends"); a low rating returns part of your money.")
        case .ratingSplit:
            let refund = Money(minorUnits: escrow.refundAmount, currency: escrow.amount.currency)
            toSeller("the hold on \(title) (\(escrow.id)) ended; by the client's rating, part was released to you.")
            toBuyer("by your rating of \(title) (\(escrow.id)), \(refund) is being refunded to you.")
        case .confirm, .autoRelease, .resolveRelease:
            toSeller("\(escrow.sellerAmount) for \(title) (\(escrow.id)) was released to your balance.")
            toBuyer("\(title) (\(escrow.id)) is complete. Thank you.")
        case .openDispute:
            toSeller("a dispute was opened on \(title) (\(escrow.id)); the money is frozen until it is resolved.")
            toBuyer("a dispute was opened on \(title) (\(escrow.id)); the money is frozen until it is resolved.")
        case .resolveSplit:
            toSeller("the dispute on \(title) (\(escrow.id)) was resolved: part was released to your balance.")
            toBuyer(
                "the dispute on \(title) (\(escrow.id)) was resolved: "
                    + "\(Money(minorUnits: escrow.refundAmount, currency: escrow.amount.currency)) is being refunded to you."
            )
        case .resolveRefund:
            toBuyer("\(escrow.amount) for \(title) (\(escrow.id)) is being refunded to you.")
            toSeller("the dispute on \(title) (\(escrow.id)) was resolved with a refund to the buyer.")
        }
        return messages
    }
}

extension EscrowTransitions {
    /// Wakes what delivers the notices and events a committed transaction wrote.
    func notifyCommitted() {
        self.outbox.notifyCommitted()
        self.events?.notifyCommitted()
    }
}

/// Failures that are not the caller's fault: the ledger refused what a valid transition implies.
public enum EscrowServiceError: Error, Sendable, Hashable {
    case ledgerRefused(String)
}
