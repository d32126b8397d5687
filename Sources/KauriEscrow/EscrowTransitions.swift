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

    public init(
        database: Database, ledger: Ledger, outbox: Outbox, logger: Logger, inspectionWindowMilliseconds: UInt64
    ) {
        self.database = database
        self.ledger = ledger
        self.outbox = outbox
        self.logger = logger
        self.inspectionWindowMilliseconds = inspectionWindowMilliseconds
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
    public static func payableAccount(seller: String, currency: Currency) throws(EscrowError) -> LedgerAccount.ID {
        guard let id = LedgerAccount.ID.derived(code: .sellerPayable, owner: seller, currency: currency) else {
            throw .sellerOnly
        }
        return id
    }

    /// Applies `event` to `loaded` (read with its row lock in this transaction) and returns the escrow as written.
    /// - Throws: `EscrowError.invalidTransition` / `.notFunded` when the event is not allowed now; nothing written.
    func apply(
        _ event: EscrowEvent, to loaded: Escrow, actor: Actor, reason: String?, now: Timestamp,
        on connection: any SQLDatabase
    ) async throws -> Escrow {
        guard let next = loaded.status.applying(event) else {
            if loaded.status == .pending, [.ship, .deliver, .confirm, .autoRelease, .openDispute].contains(event) {
                throw EscrowError.notFunded
            }
            throw EscrowError.invalidTransition(status: loaded.status, event: event)
        }
        var escrow = loaded
        escrow.status = next
        escrow.updatedAt = now
        escrow.releaseDueAt =
            next == .delivered ? now.adding(milliseconds: self.inspectionWindowMilliseconds) : nil
        if next == .completed {
            try await self.release(escrow, on: connection)
        }
        try await EscrowStore.update(escrow, on: connection)
        try await EscrowStore.insertTransition(
            escrowID: escrow.id, from: loaded.status, to: next, event: event.rawValue, actor: actor.rawValue,
            reason: reason, at: now, on: connection)
        for message in Self.notices(for: escrow, event: event) {
            _ = try await self.outbox.enqueue(message, on: connection)
        }
        self.logger.info(
            "escrow \(next.rawValue)",
            metadata: ["escrow.id": "\(escrow.id)", "escrow.event": "\(event.rawValue)", "actor": "\(actor.rawValue)"])
        return escrow
    }

    /// Escrow holding → the seller's payable (amount − fee) and → platform revenue (fee), linked, with ids derived
    /// from the escrow's so a retry can never release twice.
    private func release(_ escrow: Escrow, on connection: any SQLDatabase) async throws {
        let currency = escrow.amount.currency
        let holding = Self.holdingAccount(currency)
        let payable = try Self.payableAccount(seller: escrow.sellerReference, currency: currency)
        guard let releaseID = LedgerTransfer.ID("\(escrow.id).release"),
            let feeID = LedgerTransfer.ID("\(escrow.id).fee")
        else { preconditionFailure("escrow ids make valid transfer ids") }
        var chain = [
            NewTransfer(
                id: releaseID, operation: .single(debit: holding, credit: payable, amount: escrow.sellerAmount),
                code: "escrow_released", reference: escrow.id.description)
        ]
        if escrow.fee.isPositive {
            chain.append(
                NewTransfer(
                    id: feeID,
                    operation: .single(debit: holding, credit: Self.revenueAccount(currency), amount: escrow.fee),
                    code: "escrow_fee", reference: escrow.id.description))
        }
        let results = try await self.ledger.apply([chain], on: connection)
        if let error = results[0].lazy.compactMap(\.error).first {
            throw EscrowServiceError.ledgerRefused("release of \(escrow.id): \(error)")
        }
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
        case .confirm, .autoRelease, .resolveRelease:
            toSeller("\(escrow.sellerAmount) for \(title) (\(escrow.id)) was released to your balance.")
            toBuyer("\(title) (\(escrow.id)) is complete. Thank you.")
        case .openDispute:
            toSeller("a dispute was opened on \(title) (\(escrow.id)); the money is frozen until it is resolved.")
            toBuyer("a dispute was opened on \(title) (\(escrow.id)); the money is frozen until it is resolved.")
        case .resolveRefund:
            toBuyer("\(escrow.amount) for \(title) (\(escrow.id)) is being refunded to you.")
            toSeller("the dispute on \(title) (\(escrow.id)) was resolved with a refund to the buyer.")
        }
        return messages
    }
}

/// Failures that are not the caller's fault: the ledger refused what a valid transition implies.
public enum EscrowServiceError: Error, Sendable, Hashable {
    case ledgerRefused(String)
}
