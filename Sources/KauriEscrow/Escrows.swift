import KauriCore
import KauriDatabase
import KauriLedger
import KauriMessaging
import KauriPayments
import Logging
import SQLKit
import Synchronization

/// Payment links and escrows (origin S4): a seller's link, a buyer's payment held by the platform, and its
/// release to the seller once the buyer has the goods — or when the inspection window ends.
public final class Escrows: Sendable {
    public struct Configuration: Sendable {
        /// The platform's fee on each escrow.
        public var fees: EscrowFees
        /// How long a buyer has after the seller marks an escrow delivered, before it is released.
        public var inspectionWindowMilliseconds: UInt64
        /// Escrows released per settlement transaction.
        public var releaseBatchSize: Int
        /// Gateways tried for a checkout that names none, in order, among those that take the currency.
        public var gatewayPreference: [GatewayName]
        /// The checkout risk check's rules.
        public var risk = RiskRules()
        /// How long a session's money is held after it took place (the client's time to rate).
        public var sessionHoldMilliseconds: UInt64 = 24 * 3_600_000
        /// How a session's money is split by its rating.
        public var sessionShares = SessionShares.standard
        /// Whether released money is paid out to the seller's destination at once.
        public var automaticPayouts = false

        public init(
            fees: EscrowFees = EscrowFees(), inspectionWindowMilliseconds: UInt64 = 72 * 3_600_000,
            releaseBatchSize: Int = 100, gatewayPreference: [GatewayName] = [.mpesa, .payhero, .paystack]
        ) {
            // Each release in a batch is a few bound values in a few multi-row statements: 500 stays well inside
            // SQLite's 32 766 bound parameters per statement.
            precondition((1...500).contains(releaseBatchSize), "a settlement pass releases 1 to 500 escrows")
            self.fees = fees
            self.inspectionWindowMilliseconds = inspectionWindowMilliseconds
            self.releaseBatchSize = releaseBatchSize
            self.gatewayPreference = gatewayPreference
        }
    }

    /// The payment metadata key naming the escrow a payment funds.
    public static let metadataKey = "escrow_id"

    let database: Database
    let ledger: Ledger
    let outbox: Outbox
    let payments: Payments
    let parties: any EscrowParties
    let clock: any WallClock
    let ids: IDGenerator
    let logger: Logger
    public let configuration: Configuration
    let transitions: EscrowTransitions
    /// Sellers and currencies whose ledger accounts are known to exist (accounts are never deleted).
    private let ensuredAccounts = Mutex<Set<String>>([])
    static let ensuredAccountsMax = 10_000
    /// Refunds of an escrow the gateway may refuse before no more are made (an operator then acts).
    public static let refundAttemptsMax = 3

    /// The Idempotency-Key of the escrow's current refund attempt: `escrow-refund:<esc>`, then `…:<n>` after n
    /// refusals, so a retry after a crash finds its refund and a refused one is followed by a new one.
    static func refundKey(_ escrow: Escrow) -> String {
        "escrow-refund:\(escrow.id)" + (escrow.refundAttempts > 0 ? ":\(escrow.refundAttempts)" : "")
    }
    /// How far a session's refund is rounded down to find an amount its gateway can move (minor units per unit).
    static let refundRoundingStepsMax = 1_000

    public init(
        database: Database, ledger: Ledger, outbox: Outbox, payments: Payments, parties: any EscrowParties,
        transitions: EscrowTransitions, clock: any WallClock, ids: IDGenerator, logger: Logger,
        configuration: Configuration
    ) {
        self.database = database
        self.ledger = ledger
        self.outbox = outbox
        self.payments = payments
        self.parties = parties
        self.transitions = transitions
        self.clock = clock
        self.ids = ids
        self.logger = logger
        self.configuration = configuration
    }

    // MARK: Payment links

    /// What a seller asks for when creating a link.
    public struct NewPaymentLink: Sendable, Hashable {
        public var title: String
        public var description: String?
        public var price: Money
        public var quantity: Int?
        public var expiresAt: Timestamp?
        /// `.session`: a partner's session offer (S1).
        public var kind: EscrowKind
        public var durationMinutes: Int?

        public init(
            title: String, description: String?, price: Money, quantity: Int?, expiresAt: Timestamp?,
            kind: EscrowKind = .goods, durationMinutes: Int? = nil
        ) {
            self.kind = kind
            self.durationMinutes = durationMinutes
            self.title = title
            self.description = description
            self.price = price
            self.quantity = quantity
            self.expiresAt = expiresAt
        }
    }

    /// Creates a link for the seller `sellerReference`, opening the ledger accounts its escrows will use.
    /// - Throws: `EscrowError.priceBelowFee`, `.noGateway`.
    public func createLink(_ request: NewPaymentLink, sellerReference: String) async throws -> PaymentLink {
        let currency = request.price.currency
        let fee = self.configuration.fees.fee(on: request.price)
        guard fee.minorUnits < request.price.minorUnits else { throw EscrowError.priceBelowFee(fee: fee) }
        guard !self.payments.gateways(taking: currency, with: .mobileMoney).isEmpty else {
            throw EscrowError.noGateway(currency: currency)
        }
        try await self.ensureAccounts(seller: sellerReference, currency: currency)
        let now = self.clock.now()
        let link = PaymentLink(
            id: self.ids.make(PaymentLinkIDKind.self), kind: request.kind, durationMinutes: request.durationMinutes,
            sellerReference: sellerReference,
            title: request.title,
            description: request.description, price: request.price, quantityAvailable: request.quantity,
            quantitySold: 0, status: .active, expiresAt: request.expiresAt, createdAt: now, updatedAt: now)
        try await self.database.execute(EscrowStore.insertStatement(link))
        self.logger.info(
            "payment link created", metadata: ["link.id": "\(link.id)", "link.price": "\(link.price)"])
        return link
    }

    public func link(_ id: PaymentLink.ID) async throws -> PaymentLink? {
        try await self.database.withConnection { connection in
            try await EscrowStore.link(id: id, lock: false, kind: self.database.kind, on: connection)
        }
    }

    public func links(sellerReference: String, before: PaymentLink.ID?, limit: Int) async throws -> [PaymentLink] {
        try await self.database.withConnection { connection in
            try await EscrowStore.links(sellerReference: sellerReference, before: before, limit: limit, on: connection)
        }
    }

    /// Closes a link: no more payments through it. Escrows already opened go on.
    public func closeLink(_ id: PaymentLink.ID, sellerReference: String) async throws -> PaymentLink {
        try await self.database.transaction { connection in
            guard var link = try await EscrowStore.link(id: id, lock: true, kind: self.database.kind, on: connection),
                link.sellerReference == sellerReference
            else { throw EscrowError.linkNotFound }
            guard link.status != .closed else { return link }
            link.status = .closed
            link.updatedAt = self.clock.now()
            try await EscrowStore.update(link, on: connection)
            return link
        }
    }

    // MARK: Checkout

    /// A buyer's checkout on a link.
    public struct Checkout: Sendable, Hashable {
        public var phone: PhoneNumber
        public var name: String
        public var email: String?
        public var gateway: GatewayName?
        public var provider: MobileMoneyProvider?
        /// The signed-in user booking (`POST /v1/sessions`); nil for a public checkout.
        public var buyerReference: String?

        public init(
            phone: PhoneNumber, name: String, email: String?, gateway: GatewayName?, provider: MobileMoneyProvider?,
            buyerReference: String? = nil
        ) {
            self.buyerReference = buyerReference
            self.phone = phone
            self.name = name
            self.email = email
            self.gateway = gateway
            self.provider = provider
        }
    }

    /// Opens an escrow on the link and asks the buyer's phone for the money (STK push or the gateway's equivalent).
    ///
    /// The escrow (and the unit it takes from the link) is committed before the gateway is called, so news of the
    /// payment always finds it; a retry with the same `idempotencyKey` resumes instead of charging again.
    /// - Throws: `EscrowError.linkNotFound`, `.linkClosed`, `.linkExpired`, `.linkSoldOut`, `.noGateway`, and
    ///   `PaymentError` when the gateway cannot take the payment (the escrow is then cancelled).
    public func checkout(
        linkID: PaymentLink.ID, _ request: Checkout, idempotencyKey: String?
    ) async throws -> (Escrow, Payment) {
        if let idempotencyKey, let existing = try await self.escrow(linkID: linkID, checkoutKey: idempotencyKey) {
            return try await self.resume(existing, request)
        }
        guard let link = try await self.link(linkID) else { throw EscrowError.linkNotFound }
        let now = self.clock.now()
        try Self.checkPayable(link, now: now)
        let gateway = try self.chooseGateway(for: link.price.currency, request)
        let risk = try await self.assessRisk(link, request, now: now)
        var opened = Escrow(
            id: self.ids.make(EscrowIDKind.self), kind: link.kind, linkID: link.id,
            sellerReference: link.sellerReference,
            sellerPhone: try await self.parties.phone(of: link.sellerReference), buyerPhone: request.phone,
            buyerName: request.name, title: link.title,
            amount: link.price, fee: self.configuration.fees.fee(on: link.price), status: .pending, paymentID: nil,
            gateway: gateway.rawValue, shipping: nil, releaseDueAt: nil, createdAt: now, updatedAt: now)
        if risk.outcome == .hold { opened.reviewReason = "risk: " + risk.reasons.joined(separator: ",") }
        opened.buyerReference = request.buyerReference
        let escrow = opened
        do {
            try await self.database.transaction { connection in
                guard
                    var locked = try await EscrowStore.link(
                        id: linkID, lock: true, kind: self.database.kind, on: connection)
                else { throw EscrowError.linkNotFound }
                try Self.checkPayable(locked, now: now)
                locked.quantityAvailable = locked.quantityAvailable.map { $0 - 1 }
                locked.quantitySold += 1
                locked.updatedAt = now
                try await EscrowStore.update(locked, on: connection)
                try await EscrowStore.insert(escrow, checkoutKey: idempotencyKey, on: connection)
                try await EscrowStore.insertRiskDecision(
                    risk, linkID: link.id, escrowID: escrow.id, sellerReference: link.sellerReference,
                    phone: request.phone, amount: link.price, at: now, on: connection)
                try await EscrowStore.insertTransition(
                    escrowID: escrow.id, from: nil, to: .pending, event: "checkout",
                    actor: EscrowTransitions.Actor.buyer.rawValue, reason: nil, at: now, on: connection)
            }
        } catch {
            // A concurrent checkout with the same key won the insert: answer with its escrow.
            if let idempotencyKey,
                let existing = try? await self.escrow(linkID: linkID, checkoutKey: idempotencyKey)
            {
                return try await self.resume(existing, request)
            }
            throw error
        }
        return try await self.startPayment(escrow, request)
    }

    /// Runs the risk rules on a checkout. A refusal is recorded (and logged) here and thrown; other outcomes are
    /// recorded with the escrow they open.
    private func assessRisk(_ link: PaymentLink, _ request: Checkout, now: Timestamp) async throws -> RiskDecision {
        let facts = try await self.database.withConnection { connection in
            try await EscrowStore.riskFacts(
                phone: request.phone, sellerReference: link.sellerReference, currency: link.price.currency, now: now,
                on: connection)
        }
        let decision = self.configuration.risk.decide(amount: link.price, phone: request.phone, facts: facts, now: now)
        if decision.outcome != .allow {
            self.logger.warning(
                "checkout risk: \(decision.outcome.rawValue)",
                metadata: [
                    "link.id": "\(link.id)", "risk.score": "\(decision.score)",
                    "risk.reasons": "\(decision.reasons.joined(separator: ","))",
                ])
        }
        if decision.outcome == .refuse {
            try await self.database.transaction { connection in
                try await EscrowStore.insertRiskDecision(
                    decision, linkID: link.id, escrowID: nil, sellerReference: link.sellerReference,
                    phone: request.phone, amount: link.price, at: now, on: connection)
            }
            throw EscrowError.checkoutRefused(reasons: decision.reasons)
        }
        return decision
    }

    private func resume(_ escrow: Escrow, _ request: Checkout) async throws -> (Escrow, Payment) {
        // The key is scoped by link, not by caller (the checkout is public): a retry must be the same buyer's.
        guard escrow.buyerPhone == request.phone, escrow.buyerReference == request.buyerReference else {
            throw EscrowError.checkoutKeyReused
        }
        if let paymentID = escrow.paymentID.flatMap(Payment.ID.init),
            let payment = try await self.payments.payment(paymentID, ownerReference: nil)
        {
            return (escrow, payment)
        }
        return try await self.startPayment(escrow, request)
    }

    /// Creates the escrow's payment (idempotent by the escrow's id) and records it on the escrow.
    private func startPayment(_ escrow: Escrow, _ request: Checkout) async throws -> (Escrow, Payment) {
        let currency = escrow.amount.currency
        let provider = request.provider ?? Self.defaultProvider(for: currency)
        let payment: Payment
        do {
            payment = try await self.payments.create(
                Payments.NewPayment(
                    amount: escrow.amount, gateway: GatewayName(rawValue: escrow.gateway),
                    method: .mobileMoney(phone: escrow.buyerPhone, provider: provider),
                    customerEmail: request.email, customerName: escrow.buyerName, reference: escrow.id.description,
                    metadata: [Self.metadataKey: escrow.id.description],
                    creditAccountID: EscrowTransitions.holdingAccount(currency)),
                ownerReference: escrow.sellerReference, idempotencyKey: "escrow:\(escrow.id)")
        } catch let error as PaymentError {
            // Refused before anything reached the gateway: this escrow can never be paid.
            try await self.cancelUnpaid(escrow.id, reason: "payment refused: \(error)")
            throw error
        }
        let recorded = try await self.database.transaction { connection -> Escrow in
            guard
                var current = try await EscrowStore.escrow(
                    id: escrow.id, lock: true, kind: self.database.kind, on: connection)
            else { preconditionFailure("an escrow is never deleted") }
            if current.paymentID == nil {
                current.paymentID = payment.id.description
                try await EscrowStore.update(current, on: connection)
            }
            return current
        }
        return (recorded, payment)
    }

    /// Cancels an escrow whose payment could not even start, and gives its unit back to the link.
    private func cancelUnpaid(_ id: Escrow.ID, reason: String) async throws {
        let now = self.clock.now()
        try await self.database.transaction { connection in
            guard
                let escrow = try await EscrowStore.escrow(id: id, lock: true, kind: self.database.kind, on: connection),
                escrow.status == .pending
            else { return }
            _ = try await self.transitions.apply(
                .paymentFailed, to: escrow, actor: .system, reason: reason, now: now, on: connection)
            try await EscrowStore.returnUnit(of: escrow, now: now, kind: self.database.kind, on: connection)
        }
        self.transitions.notifyCommitted()
    }

    private func escrow(linkID: PaymentLink.ID, checkoutKey: String) async throws -> Escrow? {
        try await self.database.withConnection { connection in
            try await EscrowStore.escrow(linkID: linkID, checkoutKey: checkoutKey, on: connection)
        }
    }

    static func checkPayable(_ link: PaymentLink, now: Timestamp) throws(EscrowError) {
        guard link.status == .active else { throw .linkClosed }
        if let expiresAt = link.expiresAt, now >= expiresAt { throw .linkExpired }
        if let available = link.quantityAvailable, available <= 0 { throw .linkSoldOut }
    }

    private func chooseGateway(for currency: Currency, _ request: Checkout) throws(EscrowError) -> GatewayName {
        let candidates = self.payments.gateways(taking: currency, with: .mobileMoney).filter {
            request.email != nil || !self.payments.gatewayRequiresEmail($0)
        }
        if let asked = request.gateway {
            guard candidates.contains(asked) else { throw .noGateway(currency: currency) }
            return asked
        }
        let preferred = self.configuration.gatewayPreference.first(where: candidates.contains)
        guard let chosen = preferred ?? candidates.first else { throw .noGateway(currency: currency) }
        return chosen
    }

    /// The mobile-money network a checkout uses when it names none.
    static func defaultProvider(for currency: Currency) -> MobileMoneyProvider {
        currency == .ghs ? .mtn : .mpesa
    }

    /// Opens the accounts a link's escrows use: escrow holding and revenue (platform), the seller's payable.
    private func ensureAccounts(seller: String, currency: Currency) async throws {
        let key = "\(seller)|\(currency.code)"
        if self.ensuredAccounts.withLock({ $0.contains(key) }) { return }
        let accounts = [
            NewAccount(
                id: EscrowTransitions.holdingAccount(currency), currency: currency, code: .escrowHolding,
                ownerReference: "platform", flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: EscrowTransitions.revenueAccount(currency), currency: currency, code: .platformRevenue,
                ownerReference: "platform", flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: try EscrowTransitions.payableAccount(seller: seller, currency: currency), currency: currency,
                code: .sellerPayable, ownerReference: seller, flags: [.debitsMustNotExceedCredits, .history]),
        ]
        for result in try await self.ledger.createAccounts(accounts) {
            if case .failed(let error) = result {
                throw EscrowServiceError.ledgerRefused("account: \(error)")
            }
        }
        self.ensuredAccounts.withLock { known in
            if known.count >= Self.ensuredAccountsMax { known.removeAll(keepingCapacity: true) }
            known.insert(key)
        }
    }

    // MARK: Escrows

    /// Who is asking about an escrow.
    public struct Party: Sendable, Hashable {
        public var ownerReference: String
        public var isAdmin: Bool

        public init(ownerReference: String, isAdmin: Bool) {
            self.ownerReference = ownerReference
            self.isAdmin = isAdmin
        }
    }

    /// A party's part in an escrow.
    public enum Role: String, Sendable, Hashable {
        case seller, buyer, admin
    }

    /// The escrow and its log, with the asker's part in it; nil when it does not exist or the asker is no party.
    public func escrow(_ id: Escrow.ID, for party: Party) async throws -> (Escrow, [EscrowTransition], Role)? {
        let found = try await self.database.withConnection { connection -> (Escrow, [EscrowTransition])? in
            guard
                let escrow = try await EscrowStore.escrow(id: id, lock: false, kind: self.database.kind, on: connection)
            else { return nil }
            return (escrow, try await EscrowStore.transitions(escrowID: id, on: connection))
        }
        guard let (escrow, log) = found, let role = try await self.role(of: party, in: escrow) else { return nil }
        return (escrow, log, role)
    }

    /// The escrow and its log for the public tracking page (whoever holds the id; phones are shown masked).
    public func trackedEscrow(_ id: Escrow.ID) async throws -> (Escrow, [EscrowTransition])? {
        try await self.database.withConnection { connection in
            guard
                let escrow = try await EscrowStore.escrow(id: id, lock: false, kind: self.database.kind, on: connection)
            else { return nil }
            return (escrow, try await EscrowStore.transitions(escrowID: id, on: connection))
        }
    }

    /// The escrows where the asker is the seller or the buyer, newest first.
    public func escrows(for party: Party, before: Escrow.ID?, limit: Int) async throws -> [Escrow] {
        let phone = try await self.parties.phone(of: party.ownerReference)
        return try await self.database.withConnection { connection in
            try await EscrowStore.escrows(
                sellerReference: party.ownerReference, buyerPhone: phone, before: before, limit: limit,
                on: connection)
        }
    }

    /// The seller ships (`.ship`) or marks delivered (`.deliver`); the buyer confirms (`.confirm`), which releases.
    /// - Throws: `EscrowError.escrowNotFound` (no such escrow, or the asker is no party), `.sellerOnly`,
    ///   `.buyerOnly`, `.invalidTransition`, `.notFunded`.
    public func act(
        _ event: EscrowEvent, on id: Escrow.ID, by party: Party, shipping: Escrow.Shipping? = nil
    ) async throws -> Escrow {
        let now = self.clock.now()
        let phone = try await self.parties.phone(of: party.ownerReference)
        let escrow = try await self.database.transaction { connection -> Escrow in
            guard
                var escrow = try await EscrowStore.escrow(id: id, lock: true, kind: self.database.kind, on: connection),
                let role = Self.role(of: party, phone: phone, in: escrow)
            else { throw EscrowError.escrowNotFound }
            let actor: EscrowTransitions.Actor
            switch event {
            case .ship, .deliver:
                guard role == .seller || role == .admin else { throw EscrowError.sellerOnly }
                actor = role == .admin ? .admin : .seller
            case .confirm:
                guard role == .buyer else { throw EscrowError.buyerOnly }
                actor = .buyer
            default:
                preconditionFailure("act takes ship, deliver or confirm (sessions: completeSession)")
            }
            if event == .ship, let shipping { escrow.shipping = shipping }
            return try await self.transitions.apply(
                event, to: escrow, actor: actor, reason: nil, now: now, on: connection)
        }
        self.transitions.notifyCommitted()
        return await self.payOutOwed(escrow)
    }

    // MARK: Sessions

    /// The phone on a user's account, if any (a client booking a session pays with it by default).
    public func phone(of ownerReference: String) async throws -> PhoneNumber? {
        try await self.parties.phone(of: ownerReference)
    }

    /// A party says a session took place, and the client may rate it (1–5). The partner (or an admin) completes
    /// without a rating; the client completes with one, or rates a completed session while its hold runs — once.
    /// Completion starts the hold; when it ends the settlement pass splits the money by the rating.
    /// - Throws: `EscrowError.escrowNotFound` (no such session, or the asker is no party), `.ratingByClientOnly`,
    ///   `.ratingRequired`, `.alreadyRated`, `.invalidTransition`, `.notFunded`.
    public func completeSession(
        _ id: Escrow.ID, by party: Party, rating: Int?, comment: String?
    ) async throws -> Escrow {
        let now = self.clock.now()
        let phone = try await self.parties.phone(of: party.ownerReference)
        let escrow = try await self.database.transaction { connection -> Escrow in
            guard
                var escrow = try await EscrowStore.escrow(id: id, lock: true, kind: self.database.kind, on: connection),
                escrow.kind == .session, let role = Self.role(of: party, phone: phone, in: escrow)
            else { throw EscrowError.escrowNotFound }
            if role != .buyer, rating != nil { throw EscrowError.ratingByClientOnly }
            if role == .buyer, rating == nil { throw EscrowError.ratingRequired }
            if let rating {
                guard escrow.rating == nil else { throw EscrowError.alreadyRated }
                guard escrow.status == .paid || escrow.status == .delivered else {
                    throw EscrowError.invalidTransition(status: escrow.status, event: .complete)
                }
                escrow.rating = rating
                escrow.ratingComment = comment
            }
            if let rating, escrow.status == .delivered {
                // Rated while the hold runs: no status change, one log entry.
                escrow.updatedAt = now
                try await EscrowStore.update(escrow, on: connection)
                try await EscrowStore.insertTransition(
                    escrowID: id, from: .delivered, to: .delivered, event: "rate", actor: "buyer",
                    reason: "rated \(rating)", at: now, on: connection)
                return escrow
            }
            let actor: EscrowTransitions.Actor = role == .buyer ? .buyer : (role == .admin ? .admin : .seller)
            return try await self.transitions.apply(
                .complete, to: escrow, actor: actor, reason: rating.map { "rated \($0)" }, now: now, on: connection)
        }
        self.transitions.notifyCommitted()
        return escrow
    }

    /// Releases delivered escrows whose inspection window ended, one batch in one transaction; returns how many.
    /// Safe with many instances on one PostgreSQL: each escrow row is taken by one (`SKIP LOCKED`).
    ///
    /// Should the batch fail (the ledger refusing one release), its escrows are released one per transaction
    /// instead, so one bad escrow is logged and skipped rather than holding up every other.
    @discardableResult
    public func releaseDue() async throws -> Int {
        let now = self.clock.now()
        do {
            let released = try await self.database.transaction { connection -> Int in
                let due = try await EscrowStore.dueForRelease(
                    now: now, limit: self.configuration.releaseBatchSize, lock: true, kind: self.database.kind,
                    on: connection)
                // One ledger batch and a handful of statements for the whole batch.
                return try await self.transitions.releaseAll(due.map(self.releasePlan), now: now, on: connection).count
            }
            if released > 0 { self.transitions.notifyCommitted() }
            return released
        } catch {
            self.logger.warning(
                "escrow settlement batch failed; releasing one at a time", metadata: ["error": "\(error)"])
        }
        let due = try await self.database.withConnection { connection in
            try await EscrowStore.dueForRelease(
                now: now, limit: self.configuration.releaseBatchSize, lock: false, kind: self.database.kind,
                on: connection)
        }
        var released = 0
        for candidate in due {
            do {
                let done = try await self.database.transaction { connection -> Bool in
                    guard
                        let escrow = try await EscrowStore.escrow(
                            id: candidate.id, lock: true, kind: self.database.kind, on: connection),
                        escrow.status == .delivered
                    else { return false }
                    _ = try await self.autoRelease(escrow, now: now, on: connection)
                    return true
                }
                if done { released += 1 }
            } catch {
                self.logger.error(
                    "escrow could not be released; it stays delivered",
                    metadata: ["escrow.id": "\(candidate.id)", "error": "\(error)"])
            }
        }
        if released > 0 { self.transitions.notifyCommitted() }
        return released
    }

    /// Releases a delivered escrow whose window ended: all of it to the seller, or for a session, the partner's
    /// share by the client's rating (the client's share is refunded through the payment, after the commit).
    private func autoRelease(_ escrow: Escrow, now: Timestamp, on connection: any SQLDatabase) async throws -> Escrow {
        try await self.transitions.releaseAll([self.releasePlan(escrow)], now: now, on: connection)[0]
    }

    /// How a due escrow is released: wholly (`.autoRelease`), or for a rated session split by its rating.
    private func releasePlan(
        _ escrow: Escrow
    ) -> (escrow: Escrow, event: EscrowEvent, sellerGross: Int64?, reason: String) {
        guard escrow.kind == .session else { return (escrow, .autoRelease, nil, "inspection window ended") }
        var (partner, client) = self.configuration.sessionShares.split(escrow.amount.minorUnits, rating: escrow.rating)
        // The client's share goes back through the payment's gateway: rounded down to what it can refund (M-Pesa
        // moves whole shillings), the rest to the partner.
        let gateway = GatewayName(rawValue: escrow.gateway)
        var steps = 0
        while client > 0, steps < Self.refundRoundingStepsMax,
            !self.payments.gateway(gateway, represents: Money(minorUnits: client, currency: escrow.amount.currency))
        {
            client -= 1
            partner += 1
            steps += 1
        }
        let rated = escrow.rating.map { "rated \($0)" } ?? "not rated"
        guard client > 0 else { return (escrow, .autoRelease, nil, "session hold ended, \(rated)") }
        var split = escrow
        split.refundAmount = client
        return (
            split, .ratingSplit, partner,
            "session hold ended, \(rated): \(partner) to the partner, \(client) back to the client"
        )
    }

    /// Per currency, what is held in escrow for the seller `sellerReference` (their part, after the fee).
    public func heldAmounts(sellerReference: String) async throws -> [Currency: Int64] {
        try await self.database.withConnection { connection in
            try await EscrowStore.held(sellerReference: sellerReference, on: connection)
        }
    }

    /// An admin clears an escrow the risk check held: it may be released as usual from now on.
    public func clearReview(of id: Escrow.ID, admin: String, note: String?) async throws -> Escrow {
        let now = self.clock.now()
        return try await self.database.transaction { connection in
            guard
                var escrow = try await EscrowStore.escrow(id: id, lock: true, kind: self.database.kind, on: connection)
            else { throw EscrowError.escrowNotFound }
            guard escrow.reviewReason != nil else { return escrow }
            escrow.reviewReason = nil
            escrow.updatedAt = now
            try await EscrowStore.update(escrow, on: connection)
            try await EscrowStore.insertTransition(
                escrowID: id, from: escrow.status, to: escrow.status, event: "review_cleared",
                actor: EscrowTransitions.Actor.admin.rawValue, reason: note ?? admin, at: now, on: connection)
            return escrow
        }
    }

    // MARK: Disputes

    /// What a party says when opening a dispute.
    public struct NewDispute: Sendable, Hashable {
        public var reason: String
        public var evidence: String?
        public var evidenceLinks: [String]

        public init(reason: String, evidence: String?, evidenceLinks: [String]) {
            self.reason = reason
            self.evidence = evidence
            self.evidenceLinks = evidenceLinks
        }
    }

    /// The buyer or the seller disputes a paid, shipped or delivered escrow: its money is frozen (no release, the
    /// inspection window stops) until an admin resolves it.
    /// - Throws: `EscrowError.escrowNotFound`, `.invalidTransition` (e.g. already completed), `.notFunded`.
    public func openDispute(_ request: NewDispute, on id: Escrow.ID, by party: Party) async throws
        -> (Escrow, EscrowDispute)
    {
        let now = self.clock.now()
        let phone = try await self.parties.phone(of: party.ownerReference)
        let result = try await self.database.transaction { connection -> (Escrow, EscrowDispute) in
            guard
                let escrow = try await EscrowStore.escrow(id: id, lock: true, kind: self.database.kind, on: connection),
                let role = Self.role(of: party, phone: phone, in: escrow), role != .admin
            else { throw EscrowError.escrowNotFound }
            let moved = try await self.transitions.apply(
                .openDispute, to: escrow, actor: role == .seller ? .seller : .buyer, reason: request.reason, now: now,
                on: connection)
            let dispute = EscrowDispute(
                id: self.ids.make(EscrowDisputeIDKind.self), escrowID: id, openedBy: role.rawValue,
                reason: request.reason, evidence: request.evidence, evidenceLinks: request.evidenceLinks,
                status: .open, outcome: nil, sellerAmount: nil, refundAmount: nil, resolutionNote: nil,
                resolvedBy: nil, createdAt: now, resolvedAt: nil)
            try await EscrowStore.insert(dispute, on: connection)
            try await self.transitions.events?.publish(
                type: "dispute.opened", data: [EscrowEventData(escrow: moved, dispute: dispute)], on: connection)
            return (moved, dispute)
        }
        self.transitions.notifyCommitted()
        return result
    }

    /// The escrow's dispute, if one was opened.
    public func dispute(of id: Escrow.ID) async throws -> EscrowDispute? {
        try await self.database.withConnection { connection in
            try await EscrowStore.dispute(escrowID: id, on: connection)
        }
    }

    /// An admin ends a dispute: release to the seller, refund to the buyer, or split. The release part posts in the
    /// same transaction; the refund part goes to the buyer through the payment's gateway (a refund of the payment,
    /// reserved from escrow holding), created right after the commit — or by the next settlement pass after a crash.
    /// - Throws: `EscrowError.escrowNotFound`, `.invalidTransition` (not disputed), `.splitInvalid`.
    public func resolveDispute(
        of id: Escrow.ID, _ resolution: EscrowDispute.Resolution, note: String?, admin: String
    ) async throws -> (Escrow, EscrowDispute) {
        let now = self.clock.now()
        let (escrow, dispute) = try await self.database.transaction { connection -> (Escrow, EscrowDispute) in
            guard
                var escrow = try await EscrowStore.escrow(id: id, lock: true, kind: self.database.kind, on: connection)
            else { throw EscrowError.escrowNotFound }
            let amount = escrow.amount.minorUnits
            let event: EscrowEvent
            var sellerGross: Int64?
            switch resolution {
            case .release:
                event = .resolveRelease
            case .refund:
                event = .resolveRefund
                escrow.refundAmount = amount
            case .split(let sellerAmount):
                guard sellerAmount > 0, sellerAmount < amount else { throw EscrowError.splitInvalid(amount: amount) }
                event = .resolveSplit
                sellerGross = sellerAmount
                escrow.refundAmount = amount - sellerAmount
            }
            guard var dispute = try await EscrowStore.dispute(escrowID: id, on: connection), dispute.status == .open,
                escrow.status == .disputed
            else { throw EscrowError.invalidTransition(status: escrow.status, event: event) }
            let moved = try await self.transitions.apply(
                event, to: escrow, actor: .admin, reason: note ?? resolution.name, now: now, sellerGross: sellerGross,
                on: connection)
            dispute.status = .resolved
            dispute.outcome = resolution.name
            dispute.sellerAmount = amount - escrow.refundAmount
            dispute.refundAmount = escrow.refundAmount
            dispute.resolutionNote = note
            dispute.resolvedBy = admin
            dispute.resolvedAt = now
            try await EscrowStore.resolve(dispute, on: connection)
            try await self.transitions.events?.publish(
                type: "dispute.resolved", data: [EscrowEventData(escrow: moved, dispute: dispute)], on: connection)
            return (moved, dispute)
        }
        self.transitions.notifyCommitted()
        let paid = await self.payOutOwed(escrow)
        guard paid.refundAmount > 0 else { return (paid, dispute) }
        return (try await self.refundOwed(paid), dispute)
    }

    /// Asks the payments module for the refund a resolution owes (idempotent by the escrow's id) and records it.
    private func refundOwed(_ escrow: Escrow) async throws -> Escrow {
        guard let paymentID = escrow.paymentID.flatMap(Payment.ID.init) else {
            preconditionFailure("an escrow that held money has its payment")
        }
        let refund = try await self.payments.refund(
            paymentID: paymentID, amount: escrow.refundAmount, reason: "escrow \(escrow.id) dispute",
            ownerReference: nil, idempotencyKey: Self.refundKey(escrow), allowManaged: true)
        return try await self.database.transaction { connection in
            guard
                var current = try await EscrowStore.escrow(
                    id: escrow.id, lock: true, kind: self.database.kind, on: connection)
            else { preconditionFailure("an escrow is never deleted") }
            // Unless the gateway refused that refund meanwhile (an attempt later, it has another key).
            if current.refundID == nil, Self.refundKey(current) == Self.refundKey(escrow) {
                current.refundID = refund.id.description
                try await EscrowStore.update(current, on: connection)
            }
            return current
        }
    }

    /// Creates the refunds resolutions owe that a crash left uncreated; returns how many.
    @discardableResult
    public func createOwedRefunds() async throws -> Int {
        let owed = try await self.database.withConnection { connection in
            try await EscrowStore.refundsOwed(
                limit: self.configuration.releaseBatchSize, attemptsMax: Self.refundAttemptsMax, on: connection)
        }
        var created = 0
        for escrow in owed {
            do {
                _ = try await self.refundOwed(escrow)
                created += 1
            } catch {
                self.logger.error(
                    "refund owed by a dispute could not be created; retrying next pass",
                    metadata: ["escrow.id": "\(escrow.id)", "error": "\(error)"])
            }
        }
        return created
    }

    // MARK: Automatic payouts

    /// Pays released money out to the seller's destination when payouts are automatic (idempotent by the escrow's
    /// id), and records the payout on the escrow. Money stays in the payable, and the escrow says why, when the
    /// seller has no destination or the payable no longer holds it; other failures are retried by the next pass.
    /// - Returns: The escrow as it now stands.
    @discardableResult
    func payOutOwed(_ escrow: Escrow) async -> Escrow {
        guard escrow.payoutOwed > 0, escrow.payoutID == nil else { return escrow }
        let currency = escrow.amount.currency
        do {
            guard
                let destination = try await self.payments.payoutDestination(
                    ownerReference: escrow.sellerReference, currency: currency)
            else { return try await self.recordPayout(of: escrow.id, payoutID: nil, note: "no payout destination") }
            // M-Pesa pays whole shillings: what it cannot carry stays in the payable.
            var amount = escrow.payoutOwed
            var steps = 0
            while amount > 0, steps < Self.refundRoundingStepsMax,
                !self.payments.gateway(destination.gateway, represents: Money(minorUnits: amount, currency: currency))
            {
                amount -= 1
                steps += 1
            }
            guard amount > 0 else {
                return try await self.recordPayout(of: escrow.id, payoutID: nil, note: "below the gateway's unit")
            }
            let payout = try await self.payments.createPayout(
                ownerReference: escrow.sellerReference, amount: Money(minorUnits: amount, currency: currency),
                idempotencyKey: "escrow-payout:\(escrow.id)")
            return try await self.recordPayout(of: escrow.id, payoutID: payout.id.description, note: nil)
        } catch let error as PaymentError {
            switch error {
            case .payoutDestinationMissing, .payoutExceedsBalance, .amountNotRepresentable, .payoutNotSupported:
                self.logger.warning(
                    "automatic payout not made; the money stays in the payable",
                    metadata: ["escrow.id": "\(escrow.id)", "error": "\(error)"])
                return (try? await self.recordPayout(of: escrow.id, payoutID: nil, note: "\(error)")) ?? escrow
            default:
                self.logger.error(
                    "automatic payout failed; retrying next pass",
                    metadata: ["escrow.id": "\(escrow.id)", "error": "\(error)"])
                return escrow
            }
        } catch {
            self.logger.error(
                "automatic payout failed; retrying next pass",
                metadata: ["escrow.id": "\(escrow.id)", "error": "\(error)"])
            return escrow
        }
    }

    /// Ends an escrow's automatic payout: made (`payoutID`), or not made for `note`'s reason. Logged on its timeline.
    private func recordPayout(of id: Escrow.ID, payoutID: String?, note: String?) async throws -> Escrow {
        let now = self.clock.now()
        return try await self.database.transaction { connection in
            guard
                var current = try await EscrowStore.escrow(id: id, lock: true, kind: self.database.kind, on: connection)
            else { preconditionFailure("an escrow is never deleted") }
            guard current.payoutOwed > 0, current.payoutID == nil else { return current }
            if let payoutID {
                current.payoutID = payoutID
            } else {
                current.payoutOwed = 0
            }
            current.updatedAt = now
            try await EscrowStore.update(current, on: connection)
            try await EscrowStore.insertTransition(
                escrowID: id, from: current.status, to: current.status,
                event: payoutID == nil ? "payout_skipped" : "payout_created",
                actor: EscrowTransitions.Actor.system.rawValue, reason: payoutID ?? note, at: now, on: connection)
            return current
        }
    }

    /// Creates the automatic payouts released escrows owe (a crash, or a failed attempt, left them); returns how many
    /// were settled one way or the other.
    @discardableResult
    public func createOwedPayouts() async throws -> Int {
        let owed = try await self.database.withConnection { connection in
            try await EscrowStore.payoutsOwed(limit: self.configuration.releaseBatchSize, on: connection)
        }
        var settled = 0
        for escrow in owed {
            let after = await self.payOutOwed(escrow)
            if after.payoutID != nil || after.payoutOwed == 0 { settled += 1 }
        }
        return settled
    }

    private func role(of party: Party, in escrow: Escrow) async throws -> Role? {
        if party.ownerReference == escrow.sellerReference { return .seller }
        return Self.role(of: party, phone: try await self.parties.phone(of: party.ownerReference), in: escrow)
    }

    private static func role(of party: Party, phone: PhoneNumber?, in escrow: Escrow) -> Role? {
        if party.ownerReference == escrow.sellerReference { return .seller }
        if let buyer = escrow.buyerReference, buyer == party.ownerReference { return .buyer }
        if let phone, phone == escrow.buyerPhone { return .buyer }
        return party.isAdmin ? .admin : nil
    }
}
