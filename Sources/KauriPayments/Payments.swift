import Crypto
import Foundation
import KauriCore
import KauriDatabase
import KauriLedger
import Logging
import SQLKit
import Synchronization

/// The payments service: payment intents and refunds through any configured gateway, the webhook inbox, and
/// reconciliation by the gateways' status APIs.
///
/// Money moves in the ledger exactly once per payment and refund, however the news arrives (webhook, callback,
/// return redirect, status poll), in any order, any number of times: every change is a conditional transition
/// of a locked row committed in the same transaction as ledger transfers whose ids derive from ours.
///
/// Calls to a gateway never happen inside a database transaction. Each create call is bracketed by two
/// transactions: the first records the intent with `gateway_call = pending` (a recovery point), the second the
/// answer. A retry of the same request after a crash finds the first and resumes rather than charging again.
public final class Payments: Sendable {
    /// Named limits and schedules.
    public struct Configuration: Sendable {
        /// This server's public root, e.g. `https://pay.example.com`: callback and return URLs hang off it.
        public var publicURL: String
        /// Keys the per-payment callback path tokens (HMAC-SHA256).
        public var callbackKey: SymmetricKey
        /// How long a payment waits for the customer before it expires.
        public var paymentLifetimeMilliseconds: UInt64
        /// Delays between status checks of a payment or refund still waiting, by attempt; the last repeats.
        public var checkDelaysMilliseconds: [UInt64]
        /// Most inbox events claimed in one pass.
        public var inboxBatchSize: Int
        /// Most inbox events (signed news of one payment each) applied in one transaction.
        public var inboxApplyChunkSize = 25
        /// Most claimed inbox events applied at once (each in its own transaction; the payment row lock orders
        /// events about one payment).
        public var inboxConcurrency: Int
        /// Attempts to apply an inbox event before it is marked failed.
        public var inboxAttemptsMax: Int
        /// How long a claimed inbox event is reserved for one worker.
        public var inboxLeaseMilliseconds: UInt64
        /// Most payments and refunds checked in one reconciliation pass.
        public var reconcileBatchSize: Int
        /// How long a create call may stay unanswered (`gateway_call = pending`) before reconciliation treats
        /// its outcome as unknown: the server that made it died.
        public var pendingCallGraceMilliseconds: UInt64

        public init(
            publicURL: String, callbackKey: SymmetricKey, paymentLifetimeMilliseconds: UInt64 = 3_600_000,
            checkDelaysMilliseconds: [UInt64] = [
                15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000,
            ],
            inboxBatchSize: Int = 100, inboxConcurrency: Int = 32, inboxAttemptsMax: Int = 12,
            inboxLeaseMilliseconds: UInt64 = 60_000, reconcileBatchSize: Int = 100,
            pendingCallGraceMilliseconds: UInt64 = 120_000
        ) {
            precondition(inboxConcurrency >= 1, "the inbox applies at least one event at a time")
            precondition(!checkDelaysMilliseconds.isEmpty, "reconciliation needs at least one delay")
            self.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
            self.callbackKey = callbackKey
            self.paymentLifetimeMilliseconds = paymentLifetimeMilliseconds
            self.checkDelaysMilliseconds = checkDelaysMilliseconds
            self.inboxBatchSize = inboxBatchSize
            self.inboxConcurrency = inboxConcurrency
            self.inboxAttemptsMax = inboxAttemptsMax
            self.inboxLeaseMilliseconds = inboxLeaseMilliseconds
            self.reconcileBatchSize = reconcileBatchSize
            self.pendingCallGraceMilliseconds = pendingCallGraceMilliseconds
        }
    }

    let database: Database
    let ledger: Ledger
    let gateways: PaymentGateways
    let publisher: (any PaymentEventPublisher)?
    let clock: any WallClock
    let ids: IDGenerator
    let logger: Logger
    let configuration: Configuration
    let inboxWake: WakeSignal
    private let publicURLOverride = Mutex<String?>(nil)
    /// Ledger accounts known to exist (accounts are never deleted), so a payment does not ask again.
    private let ensuredAccounts = Mutex<Set<String>>([])
    /// The most account ids remembered; beyond it the set starts over (it only saves round trips).
    static let ensuredAccountsMax = 10_000

    /// The service. Migrations (`PaymentMigrations.all`, after the ledger's) must have run.
    public init(
        database: Database, ledger: Ledger, gateways: PaymentGateways, publisher: (any PaymentEventPublisher)?,
        clock: any WallClock, ids: IDGenerator, logger: Logger, configuration: Configuration
    ) {
        self.database = database
        self.ledger = ledger
        self.gateways = gateways
        self.publisher = publisher
        self.clock = clock
        self.ids = ids
        self.logger = logger
        self.configuration = configuration
        self.inboxWake = WakeSignal()
    }

    /// The configured gateways.
    public var gatewayNames: [GatewayName] { self.gateways.names }

    /// The configured gateways that take `currency` and have every capability in `capabilities`, by name.
    public func gateways(taking currency: Currency, with capabilities: GatewayCapabilities) -> [GatewayName] {
        self.gateways.names.filter { name in
            guard let gateway = self.gateways[name] else { return false }
            return gateway.currencies.contains(currency) && gateway.capabilities.isSuperset(of: capabilities)
        }
    }

    /// Whether the gateway named needs the customer's email address.
    public func gatewayRequiresEmail(_ name: GatewayName) -> Bool {
        self.gateways[name]?.capabilities.contains(.requiresCustomerEmail) ?? false
    }

    /// Whether the gateway `name` can move `amount` (M-Pesa: whole shillings); false when it is not configured.
    public func gateway(_ name: GatewayName, represents amount: Money) -> Bool {
        guard let gateway = self.gateways[name] else { return false }
        return (try? gateway.validate(amount)) != nil
    }

    /// The country whose mobile numbers pay in `currency`, for numbers given without a country code.
    public static func phoneCountry(of currency: Currency) -> PhoneNumber.Country? {
        CreatePaymentRequest.country(of: currency)
    }

    /// Replaces the configured public URL once the server knows its address (a server bound to port 0).
    public func setPublicURL(_ url: String) {
        self.publicURLOverride.withLock { $0 = url.hasSuffix("/") ? String(url.dropLast()) : url }
    }

    /// The root of callback and return URLs.
    var publicURL: String { self.publicURLOverride.withLock { $0 } ?? self.configuration.publicURL }

    /// This API's public root (callbacks, hosted pages): the configured URL, else where the server listens.
    public var publicBaseURL: String { self.publicURL }

    // MARK: Creating

    /// A payment to create.
    public struct NewPayment: Sendable, Hashable {
        public var amount: Money
        public var gateway: GatewayName
        public var method: Payment.Method
        public var customerEmail: String?
        public var customerName: String?
        public var reference: String?
        public var metadata: [String: String]
        public var returnURL: String?
        /// The ledger account credited on success; nil: the owner's seller payable in the payment's currency.
        public var creditAccountID: LedgerAccount.ID?

        public init(
            amount: Money, gateway: GatewayName, method: Payment.Method, customerEmail: String? = nil,
            customerName: String? = nil, reference: String? = nil, metadata: [String: String] = [:],
            returnURL: String? = nil, creditAccountID: LedgerAccount.ID? = nil
        ) {
            self.amount = amount
            self.gateway = gateway
            self.method = method
            self.customerEmail = customerEmail
            self.customerName = customerName
            self.reference = reference
            self.metadata = metadata
            self.returnURL = returnURL
            self.creditAccountID = creditAccountID
        }
    }

    /// Creates a payment and starts it at the gateway.
    ///
    /// With an `idempotencyKey`, a repeat of the same request by the same owner returns the payment the first
    /// one created, resuming it if the first died while the gateway call was in flight.
    /// - Throws: `PaymentError` for requests that cannot be made; database errors.
    public func create(
        _ request: NewPayment, ownerReference: String, idempotencyKey: String?
    ) async throws -> Payment {
        let gateway = try self.gateway(request.gateway)
        try Self.check(request, against: gateway)
        if let idempotencyKey,
            let existing = try await self.database.withConnection({ connection in
                try await PaymentStore.payment(
                    ownerReference: ownerReference, idempotencyKey: idempotencyKey, on: connection)
            })
        {
            return try await self.resume(existing, gateway: gateway)
        }
        let currency = request.amount.currency
        let clearing = try Self.clearingAccount(gateway: gateway.name, currency: currency)
        let credit = try request.creditAccountID ?? Self.payableAccountID(owner: ownerReference, currency: currency)
        try await self.ensureAccounts(
            gateway: gateway.name, clearing: clearing, credit: credit, owner: ownerReference, currency: currency)

        let now = self.clock.now()
        let id = self.ids.make(PaymentIDKind.self)
        let payment = Payment(
            id: id, ownerReference: ownerReference, gateway: gateway.name, amount: request.amount,
            method: request.method, status: .processing, customerEmail: request.customerEmail,
            customerName: request.customerName, reference: request.reference, metadata: request.metadata,
            returnURL: request.returnURL, nextAction: nil, gatewayReference: Self.gatewayReference(id.description),
            providerReference: nil, providerTransactionID: nil, failure: nil, reviewReason: nil,
            creditAccountID: credit.rawValue, amountRefunded: 0, amountRefundPending: 0, createdAt: now,
            updatedAt: now, succeededAt: nil,
            expiresAt: now.adding(milliseconds: self.configuration.paymentLifetimeMilliseconds),
            gatewayCall: .pending, idempotencyKey: idempotencyKey, checkAttempts: 0,
            nextCheckAt: now.adding(milliseconds: self.configuration.checkDelaysMilliseconds[0]))
        do {
            try await self.database.transaction { connection in
                try await PaymentStore.insert(payment, on: connection)
            }
        } catch {
            // A concurrent request with the same key won the insert: answer with its payment.
            if let idempotencyKey,
                let existing = try? await self.database.withConnection({ connection in
                    try await PaymentStore.payment(
                        ownerReference: ownerReference, idempotencyKey: idempotencyKey, on: connection)
                })
            {
                return try await self.resume(existing, gateway: gateway)
            }
            throw error
        }
        self.logger.info(
            "payment created",
            metadata: [
                "payment.id": "\(id)", "gateway.name": "\(gateway.name)", "payment.amount": "\(request.amount)",
            ])
        return try await self.start(payment, gateway: gateway)
    }

    /// Checks what can be checked before anything is written or sent.
    static func check(_ request: NewPayment, against gateway: any PaymentGateway) throws(PaymentError) {
        guard request.amount.isPositive else { throw .amountNotPositive }
        guard gateway.currencies.contains(request.amount.currency) else {
            throw .currencyNotSupported(gateway: gateway.name, currency: request.amount.currency)
        }
        switch request.method {
        case .redirect:
            guard gateway.capabilities.contains(.hostedCheckout) else {
                throw .methodNotSupported(gateway: gateway.name, method: "redirect")
            }
        case .mobileMoney:
            guard gateway.capabilities.contains(.mobileMoney) else {
                throw .methodNotSupported(gateway: gateway.name, method: "mobile_money")
            }
        }
        if gateway.capabilities.contains(.requiresCustomerEmail), request.customerEmail == nil {
            throw .customerEmailRequired(gateway: gateway.name)
        }
        do {
            try gateway.validate(request.amount)
        } catch {
            throw .amountNotRepresentable(gateway: gateway.name, detail: Self.describe(error))
        }
    }

    /// Resumes a payment found by its idempotency key.
    private func resume(_ payment: Payment, gateway: any PaymentGateway) async throws -> Payment {
        guard payment.gatewayCall == .pending else { return payment }
        if gateway.capabilities.contains(.idempotentCharges) {
            // The gateway refuses a second charge with the same reference, so asking again is safe: either it
            // starts now, or it answers `duplicateReference` and reconciliation looks the first one up.
            self.logger.notice(
                "resuming a payment whose gateway call was interrupted", metadata: ["payment.id": "\(payment.id)"])
            return try await self.start(payment, gateway: gateway)
        }
        // Without provider-side idempotency a second push could charge twice: never resend. The callback (its
        // URL carries this payment's token) or reconciliation settles it; else it expires.
        return try await self.recordStart(
            payment.id, outcome: .failure(.outcomeUnknown("interrupted before the answer")))
    }

    private enum StartOutcome: Sendable {
        case checkout(CheckoutStarted)
        case charge(ChargeStarted)
        case failure(GatewayError)
    }

    /// Calls the gateway (outside any transaction) and records its answer.
    private func start(_ payment: Payment, gateway: any PaymentGateway) async throws -> Payment {
        let outcome: StartOutcome
        do {
            switch payment.method {
            case .redirect:
                outcome = .checkout(
                    try await gateway.startCheckout(
                        CheckoutRequest(
                            reference: payment.gatewayReference, amount: payment.amount,
                            customerEmail: payment.customerEmail ?? "", returnURL: self.returnURL(for: payment.id),
                            description: Self.description(of: payment))))
            case .mobileMoney(let phone, let provider):
                outcome = .charge(
                    try await gateway.chargeMobileMoney(
                        MobileMoneyChargeRequest(
                            reference: payment.gatewayReference, amount: payment.amount, phone: phone,
                            provider: provider, customerEmail: payment.customerEmail ?? "",
                            description: Self.description(of: payment),
                            callbackURL: self.callbackURL(for: payment.id.description))))
            }
        } catch let error as GatewayError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(.outcomeUnknown(String(describing: error)))
        }
        return try await self.recordStart(payment.id, outcome: outcome)
    }

    private func recordStart(_ id: Payment.ID, outcome: StartOutcome) async throws -> Payment {
        let now = self.clock.now()
        let (payment, published) = try await self.database.transaction { connection -> (Payment, Bool) in
            guard
                var payment = try await PaymentStore.payment(
                    id: id, lock: true, kind: self.database.kind, on: connection)
            else { throw PaymentError.paymentNotFound }
            guard payment.gatewayCall == .pending else { return (payment, false) }
            payment.updatedAt = now
            switch outcome {
            case .checkout(let started):
                payment.gatewayCall = .sent
                payment.providerReference = started.providerReference
                payment.nextAction = .redirect(url: started.redirectURL)
                payment.status = .requiresAction
                try await PaymentStore.update(payment, on: connection)
                return (payment, false)
            case .charge(let started):
                payment.gatewayCall = .sent
                payment.providerReference = started.providerReference
                payment.nextAction = .confirmOnPhone(
                    displayText: started.displayText ?? "Approve the payment on your phone to complete it.")
                payment.status = .requiresAction
                try await PaymentStore.update(payment, on: connection)
                if let status = started.immediateStatus {
                    return try await self.apply(status, to: payment, now: now, on: connection)
                }
                return (payment, false)
            case .failure(let error):
                switch error {
                case .declined(let code, let message):
                    payment.gatewayCall = .sent
                    return try await self.finish(
                        payment, as: .failed,
                        failure: PaymentFailure(code: "declined", message: "\(message) (\(code))"),
                        now: now, on: connection)
                case .invalidRequest(let message), .authenticationFailed(let message), .notSupported(let message):
                    payment.gatewayCall = .sent
                    return try await self.finish(
                        payment, as: .failed, failure: PaymentFailure(code: "gateway_error", message: message),
                        now: now, on: connection)
                case .duplicateReference:
                    payment.gatewayCall = .unknown
                    payment.nextCheckAt = now
                case .timedOut, .outcomeUnknown, .unavailable, .rateLimited:
                    payment.gatewayCall = .unknown
                }
                self.logger.warning(
                    "gateway gave no usable answer; the payment stays processing until reconciled",
                    metadata: ["payment.id": "\(payment.id)", "gateway.error": "\(Self.describe(error))"])
                try await PaymentStore.update(payment, on: connection)
                return (payment, false)
            }
        }
        if published { self.publisher?.notifyCommitted() }
        return payment
    }

    // MARK: Reading

    /// One payment; with `ownerReference`, only if it is theirs.
    public func payment(_ id: Payment.ID, ownerReference: String?) async throws -> Payment? {
        let payment = try await self.database.withConnection { connection in
            try await PaymentStore.payment(id: id, lock: false, kind: self.database.kind, on: connection)
        }
        guard let payment, ownerReference == nil || payment.ownerReference == ownerReference else { return nil }
        return payment
    }

    /// A page of payments, newest first; with `ownerReference`, only theirs.
    public func payments(ownerReference: String?, before: Payment.ID?, limit: Int) async throws -> [Payment] {
        try await self.database.withConnection { connection in
            try await PaymentStore.payments(
                ownerReference: ownerReference, beforeID: before?.description, limit: limit, on: connection)
        }
    }

    /// A payment's refunds, oldest first.
    public func refunds(of id: Payment.ID) async throws -> [Refund] {
        try await self.database.withConnection { connection in
            try await PaymentStore.refunds(paymentID: id, on: connection)
        }
    }

    /// One refund.
    public func refund(_ id: Refund.ID) async throws -> Refund? {
        try await self.database.withConnection { connection in
            try await PaymentStore.refund(id: id, lock: false, kind: self.database.kind, on: connection)
        }
    }

    // MARK: Applying news

    /// Asks the gateway for the payment's state now and applies it (the return redirect and reconciliation).
    @discardableResult
    public func refresh(_ id: Payment.ID) async throws -> Payment {
        guard let payment = try await self.payment(id, ownerReference: nil) else { throw PaymentError.paymentNotFound }
        guard !payment.status.isFinal else { return payment }
        let gateway = try self.gateway(payment.gateway)
        let status = try await gateway.verify(
            VerifyRequest(
                reference: payment.gatewayReference, providerReference: payment.providerReference,
                currency: payment.amount.currency))
        return try await self.apply(status, to: id)
    }

    /// Applies a gateway's report about a payment, in one transaction with its ledger transfer.
    @discardableResult
    func apply(_ status: GatewayPaymentStatus, to id: Payment.ID) async throws -> Payment {
        let now = self.clock.now()
        let (payment, published) = try await self.database.transaction { connection -> (Payment, Bool) in
            guard
                let payment = try await PaymentStore.payment(
                    id: id, lock: true, kind: self.database.kind, on: connection)
            else { throw PaymentError.paymentNotFound }
            return try await self.apply(status, to: payment, now: now, on: connection)
        }
        if published { self.publisher?.notifyCommitted() }
        return payment
    }

    /// The transition itself, inside the caller's transaction, `payment` loaded with its row lock.
    /// Returns the payment as written and whether an event was published.
    /// - Parameter captures: When given, a success's ledger capture is added to it instead of posted: the caller
    ///   posts every capture of a batch in one ledger call before its commit (`postCaptures`).
    func apply(
        _ status: GatewayPaymentStatus, to loaded: Payment, now: Timestamp, captures: CaptureBatch? = nil,
        on connection: any SQLDatabase
    ) async throws -> (Payment, Bool) {
        var payment = loaded
        if payment.providerReference == nil, let providerReference = status.providerReference {
            payment.providerReference = providerReference
        }
        if payment.gatewayCall != .sent, status.outcome != .pending {
            payment.gatewayCall = .sent
        }
        let event: PaymentEvent
        var failure: PaymentFailure?
        switch status.outcome {
        case .pending: event = .pending
        case .succeeded: event = .succeeded
        case .failed(let code, let message):
            event = .failed
            failure = PaymentFailure(code: "\(payment.gateway).\(code)", message: message)
        case .cancelled(let code, let message):
            event = .cancelled
            failure = PaymentFailure(code: "\(payment.gateway).\(code)", message: message)
        }
        if event == .succeeded, let reported = status.amount, reported != payment.amount {
            return try await self.flag(
                payment, reason: .amountMismatch,
                detail: "gateway reported \(reported), the payment is \(payment.amount)", now: now, on: connection)
        }
        switch payment.status.applying(event) {
        case .unchanged:
            if payment != loaded {
                payment.updatedAt = now
                try await PaymentStore.update(payment, on: connection)
            }
            return (payment, false)
        case .conflict:
            return try await self.flag(
                payment, reason: .conflictingOutcome,
                detail: "gateway reported success after \(payment.status.rawValue)", now: now, on: connection)
        case .moveTo(let next):
            if next == .succeeded {
                payment.providerTransactionID = status.providerTransactionID ?? payment.providerTransactionID
            }
            if next.isFinal {
                return try await self.finish(
                    payment, as: next, failure: failure, now: now, captures: captures, on: connection)
            }
            payment.status = next
            payment.updatedAt = now
            try await PaymentStore.update(payment, on: connection)
            return (payment, false)
        }
    }

    /// Moves a payment to a final status, posting the ledger transfer on success and publishing the event.
    private func finish(
        _ loaded: Payment, as status: PaymentStatus, failure: PaymentFailure?, now: Timestamp,
        captures: CaptureBatch? = nil, on connection: any SQLDatabase
    ) async throws -> (Payment, Bool) {
        precondition(status.isFinal, "finish needs a final status")
        var payment = loaded
        payment.status = status
        payment.failure = status == .succeeded ? nil : failure ?? PaymentFailure(code: status.rawValue, message: "")
        payment.nextAction = nil
        payment.nextCheckAt = nil
        payment.updatedAt = now
        if status == .succeeded {
            payment.succeededAt = now
            if let captures {
                captures.add(payment, chain: try Self.captureChain(of: payment))
            } else {
                try await self.postCapture(of: payment, on: connection)
            }
        }
        try await PaymentStore.update(payment, on: connection)
        try await self.publisher?.publish(type: "payment.\(status.rawValue)", data: .payment(payment), on: connection)
        self.logger.info(
            "payment \(status.rawValue)",
            metadata: ["payment.id": "\(payment.id)", "gateway.name": "\(payment.gateway)"])
        return (payment, self.publisher != nil)
    }

    /// Holds a payment for an operator: nothing is credited.
    private func flag(
        _ loaded: Payment, reason: Payment.ReviewReason, detail: String, now: Timestamp,
        on connection: any SQLDatabase
    ) async throws -> (Payment, Bool) {
        var payment = loaded
        guard payment.reviewReason == nil else { return (payment, false) }
        payment.reviewReason = reason
        payment.nextCheckAt = nil
        payment.updatedAt = now
        try await PaymentStore.update(payment, on: connection)
        try await self.publisher?.publish(type: "payment.review_required", data: .payment(payment), on: connection)
        self.logger.error(
            "payment held for review; nothing credited",
            metadata: ["payment.id": "\(payment.id)", "payment.review": "\(reason.rawValue)", "detail": "\(detail)"])
        return (payment, self.publisher != nil)
    }

    /// gateway clearing → the credit account, with an id derived from the payment's, so it lands once.
    private func postCapture(of payment: Payment, on connection: any SQLDatabase) async throws {
        let results = try await self.ledger.apply([try Self.captureChain(of: payment)], on: connection)
        if let error = results[0][0].error {
            throw PaymentServiceError.ledgerRefused("capture of \(payment.id): \(error)")
        }
    }

    private static func captureChain(of payment: Payment) throws -> [NewTransfer] {
        let clearing = try Self.clearingAccount(gateway: payment.gateway, currency: payment.amount.currency)
        guard let credit = LedgerAccount.ID(payment.creditAccountID),
            let transferID = LedgerTransfer.ID("\(payment.id).captured")
        else { preconditionFailure("payment ids and stored account ids are valid ledger ids") }
        return [
            NewTransfer(
                id: transferID, operation: .single(debit: clearing, credit: credit, amount: payment.amount),
                code: "payment_captured", reference: payment.id.description)
        ]
    }

    /// Posts a batch's collected captures in one ledger call; throws if the ledger refuses any.
    func postCaptures(_ captures: CaptureBatch, on connection: any SQLDatabase) async throws {
        let collected = captures.take()
        guard !collected.isEmpty else { return }
        let results = try await self.ledger.apply(collected.map(\.chain), on: connection)
        for (capture, result) in zip(collected, results) {
            if let error = result.lazy.compactMap(\.error).first {
                throw PaymentServiceError.ledgerRefused("capture of \(capture.payment): \(error)")
            }
        }
    }

    // MARK: Helpers

    func gateway(_ name: GatewayName) throws(PaymentError) -> any PaymentGateway {
        guard let gateway = self.gateways[name] else { throw .gatewayNotConfigured(name) }
        return gateway
    }

    /// The reference a gateway sees for one of our ids: `pay_…` → `pay-…` (letters, digits and `-` only).
    static func gatewayReference(_ id: String) -> GatewayReference {
        GatewayReference(id.replacingOccurrences(of: "_", with: "-"))
    }

    /// The unguessable callback URL of a payment or refund: `<public>/v1/callbacks/<id>/<token>`.
    func callbackURL(for id: String) -> String {
        "\(self.publicURL)/v1/callbacks/\(id)/\(self.callbackToken(for: id))"
    }

    /// HMAC-SHA256(callback key, id), base64url without padding.
    func callbackToken(for id: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(id.utf8), using: self.configuration.callbackKey)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Where a redirect checkout returns the customer: our return route, which checks and forwards.
    func returnURL(for id: Payment.ID) -> String {
        "\(self.publicURL)/v1/payments/\(id)/return"
    }

    static func description(of payment: Payment) -> String {
        payment.reference ?? "Payment \(payment.id.description.suffix(8))"
    }

    static func clearingAccount(gateway: GatewayName, currency: Currency) throws -> LedgerAccount.ID {
        guard let id = LedgerAccount.ID.derived(code: .gatewayClearing, owner: gateway.rawValue, currency: currency)
        else { throw PaymentServiceError.ledgerRefused("no clearing account id for \(gateway)") }
        return id
    }

    static func payableAccountID(owner: String, currency: Currency) throws -> LedgerAccount.ID {
        guard let id = LedgerAccount.ID.derived(code: .sellerPayable, owner: owner, currency: currency) else {
            throw PaymentError.ownerReferenceTooLong
        }
        return id
    }

    /// Creates the clearing account and, when it is the default one, the owner's payable (idempotent by id).
    private func ensureAccounts(
        gateway: GatewayName, clearing: LedgerAccount.ID, credit: LedgerAccount.ID, owner: String, currency: Currency
    ) async throws {
        let known = self.ensuredAccounts.withLock {
            $0.contains(clearing.description) && $0.contains(credit.description)
        }
        if known { return }
        var accounts = [
            NewAccount(id: clearing, currency: currency, code: .gatewayClearing, ownerReference: gateway.rawValue)
        ]
        if credit == (try Self.payableAccountID(owner: owner, currency: currency)) {
            accounts.append(
                NewAccount(
                    id: credit, currency: currency, code: .sellerPayable, ownerReference: owner,
                    flags: [.debitsMustNotExceedCredits, .history]))
        }
        for result in try await self.ledger.createAccounts(accounts) {
            if case .failed(let error) = result {
                throw PaymentServiceError.ledgerRefused("account: \(error)")
            }
        }
        if try await self.ledger.account(credit) == nil {
            throw PaymentError.creditAccountNotFound
        }
        self.ensuredAccounts.withLock { known in
            if known.count >= Self.ensuredAccountsMax { known.removeAll(keepingCapacity: true) }
            known.insert(clearing.description)
            known.insert(credit.description)
        }
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? GatewayError else { return String(describing: error) }
        switch error {
        case .declined(let code, let message): return "declined (\(code)): \(message)"
        case .invalidRequest(let message): return message
        case .authenticationFailed(let message): return "authentication failed: \(message)"
        case .rateLimited(let seconds): return "rate limited" + (seconds.map { ", retry after \($0) s" } ?? "")
        case .unavailable(let message): return "unavailable: \(message)"
        case .timedOut: return "timed out"
        case .outcomeUnknown(let message): return "outcome unknown: \(message)"
        case .notSupported(let message): return "not supported: \(message)"
        case .duplicateReference: return "duplicate reference"
        }
    }
}

/// Failures inside the service that are bugs or broken invariants, not caller mistakes (answered 500).
enum PaymentServiceError: Error, CustomStringConvertible {
    case ledgerRefused(String)

    var description: String {
        switch self {
        case .ledgerRefused(let detail): "the ledger refused a payments transfer: \(detail)"
        }
    }
}

/// The ledger captures of one inbox batch's payments, posted together before the batch commits.
final class CaptureBatch: Sendable {
    private let collected = Mutex<[(payment: Payment.ID, chain: [NewTransfer])]>([])

    func add(_ payment: Payment, chain: [NewTransfer]) {
        self.collected.withLock { $0.append((payment.id, chain)) }
    }

    func take() -> [(payment: Payment.ID, chain: [NewTransfer])] {
        self.collected.withLock { collected in
            defer { collected.removeAll() }
            return collected
        }
    }
}
