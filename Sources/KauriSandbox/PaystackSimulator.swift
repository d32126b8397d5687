import Foundation
import Hummingbird
import KauriCore
import Synchronization

/// Paystack under `/paystack`: `POST /transaction/initialize` (hosted checkout), `GET /transaction/verify/{ref}`,
/// `POST /charge` (mobile money), `POST /refund`, `GET /refund?transaction=`, `POST /transferrecipient`,
/// `POST /transfer` and `GET /transfer/verify/{ref}`, with `Authorization: Bearer <secret key>` and Paystack's
/// `{"status", "message", "data"}` envelope. Webhooks go to the configured webhook URL, signed with
/// `x-paystack-signature` = hex HMAC-SHA512(secret key, raw body).
final class PaystackSimulator: Sendable {
    /// Where the simulator is mounted.
    static let pathPrefix = "/paystack"
    /// The longest transaction or transfer reference accepted.
    static let referenceCharacterCountMax = 100
    /// The largest amount accepted, in subunits.
    static let amountSubunitsMax: Int64 = 1_000_000_000_000
    /// The currencies in Paystack's API specification.
    static let currencies: Set<String> = ["GHS", "KES", "NGN", "ZAR", "USD"]
    /// The currency of a transaction that names none: the simulated merchant is Nigerian.
    static let currencyDefault = "NGN"
    /// The simulated fee, in hundredths of a percent of the amount.
    static let feeBasisPoints: Int64 = 195
    /// A refund fails when the refunded transaction's customer email starts with this.
    static let refundFailureEmailPrefix = "refund-fail"
    /// The simulated integration (merchant account) id.
    static let integrationID: Int64 = 412_829
    /// The first id handed out to transactions, refunds, recipients and transfers.
    static let firstID: Int64 = 3_100_000_000
    /// The length of generated references and access codes.
    static let generatedCodeLength = 15
    /// Ghana's mobile-money provider codes [C3], Kenya's M-Pesa ones [C].
    static let ghanaMobileMoneyProviders: Set<String> = ["mtn", "atl", "tgo", "vod"]
    /// Kenya's M-Pesa STK provider codes; `mptill` pays a till `account` instead of a phone.
    static let kenyaMobileMoneyProviders: Set<String> = ["mpesa", "mpesa_offline", "mptill"]
    /// The transfer recipient types Paystack knows.
    static let recipientTypes: Set<String> = [
        "nuban", "ghipss", "mobile_money", "basa", "authorization", "mobile_money_business",
    ]

    /// A transaction's state as Paystack's verify answers it.
    enum TransactionStatus: String, Sendable {
        /// Initialized; the customer has not completed the checkout.
        case abandoned
        /// A charge waiting for the customer's authorisation.
        case ongoing
        /// Paid.
        case success
        /// Declined or failed.
        case failed
    }

    /// A transaction created by initialize or charge.
    struct Transaction: Sendable {
        var id: Int64
        var reference: String
        var accessCode: String
        var email: String
        var amount: Int64
        var currency: String
        var callbackURL: String?
        var channel: String
        var mobileMoneyProvider: String?
        var phone: String?
        var status: TransactionStatus
        var gatewayResponse: String
        var createdAt: Timestamp
        var paidAt: Timestamp?
        var amountRefundable: Int64
        var customerID: Int64
        var customerCode: String
        var authorizationCode: String
        var recordID: UInt64
    }

    /// A refund of part or all of a transaction.
    struct Refund: Sendable {
        var id: Int64
        var transactionID: Int64
        var transactionReference: String
        var amount: Int64
        var currency: String
        var status: String
        var refundReference: String?
        var customerNote: String?
        var merchantNote: String?
        var createdAt: Timestamp
        var updatedAt: Timestamp
        var recordID: UInt64
    }

    /// A transfer recipient.
    struct Recipient: Sendable {
        var id: Int64
        var code: String
        var type: String
        var name: String
        var accountNumber: String
        var bankCode: String
        var currency: String
        var description: String?
        var createdAt: Timestamp
    }

    /// A transfer to a recipient.
    struct Transfer: Sendable {
        var id: Int64
        var reference: String
        var transferCode: String
        var amount: Int64
        var currency: String
        var reason: String?
        var recipientCode: String
        var status: String
        var gatewayResponse: String?
        var createdAt: Timestamp
        var updatedAt: Timestamp
        var transferredAt: Timestamp?
        var recordID: UInt64
    }

    private struct State {
        var transactions: [String: Transaction] = [:]
        var referenceByAccessCode: [String: String] = [:]
        var refunds: [Refund] = []
        var recipients: [String: Recipient] = [:]
        var transfers: [String: Transfer] = [:]
        var nextID = PaystackSimulator.firstID
    }

    /// Shared payment state, callbacks and faults.
    let core: SandboxPaymentCore
    private let state = Mutex(State())

    /// A simulator on `core`.
    init(core: SandboxPaymentCore) {
        self.core = core
    }

    /// Adds the API and checkout routes to `router`.
    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        let prefix = Self.pathPrefix
        router.post("\(prefix)/transaction/initialize") { request, _ in
            try await self.initialize(request)
        }
        router.get("\(prefix)/transaction/verify/:reference") { request, context in
            try await self.verify(request, reference: context.parameters.get("reference") ?? "")
        }
        router.post("\(prefix)/charge") { request, _ in
            try await self.charge(request)
        }
        router.post("\(prefix)/refund") { request, _ in
            try await self.createRefund(request)
        }
        router.get("\(prefix)/refund") { request, _ in
            try await self.listRefunds(request)
        }
        router.post("\(prefix)/transferrecipient") { request, _ in
            try await self.createRecipient(request)
        }
        router.post("\(prefix)/transfer") { request, _ in
            try await self.createTransfer(request)
        }
        router.get("\(prefix)/transfer/verify/:reference") { request, context in
            try await self.verifyTransfer(request, reference: context.parameters.get("reference") ?? "")
        }
        router.get("\(prefix)/checkout/:accessCode") { _, context in
            self.checkoutPage(accessCode: context.parameters.get("accessCode") ?? "")
        }
        router.post("\(prefix)/checkout/:accessCode") { request, context in
            try await self.submitCheckout(request, accessCode: context.parameters.get("accessCode") ?? "")
        }
    }

    // MARK: - Transactions

    private struct InitializeRequest: Decodable {
        var email: String?
        var amount: SandboxLenientValue?
        var currency: String?
        var reference: String?
        var callback_url: String?
        var channels: [String]?
    }

    private func initialize(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(InitializeRequest.self, from: request) else {
            return Self.failure(400, "Invalid request body")
        }
        let validated = self.validateTransaction(
            email: body.email, amount: body.amount, currency: body.currency, reference: body.reference)
        guard case .success(let fields) = validated else { return validated.refusal }
        if let callbackURL = body.callback_url, !Self.isHTTPURL(callbackURL) {
            return Self.failure(400, "Invalid callback_url")
        }
        let accessCode = SandboxPaymentCore.randomString(
            Self.generatedCodeLength, from: SandboxPaymentCore.lowercaseAlphabet)
        let created = self.create(
            fields, kind: .checkout, accessCode: accessCode, callbackURL: body.callback_url, channel: "card",
            provider: nil, phone: nil)
        guard created else {
            return Self.failure(400, "Duplicate Transaction Reference")
        }
        let authorizationURL = "\(self.core.baseURL)\(Self.pathPrefix)/checkout/\(accessCode)"
        return Self.success(
            "Authorization URL created",
            .object([
                ("authorization_url", .string(authorizationURL)), ("access_code", .string(accessCode)),
                ("reference", .string(fields.reference)),
            ]))
    }

    private struct ChargeRequest: Decodable {
        struct MobileMoney: Decodable {
            var phone: String?
            var account: String?
            var provider: String?
        }
        var email: String?
        var amount: SandboxLenientValue?
        var currency: String?
        var reference: String?
        var mobile_money: MobileMoney?
    }

    private func charge(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(ChargeRequest.self, from: request) else {
            return Self.failure(400, "Invalid request body")
        }
        let validated = self.validateTransaction(
            email: body.email, amount: body.amount, currency: body.currency, reference: body.reference)
        guard case .success(let fields) = validated else { return validated.refusal }
        guard let mobileMoney = body.mobile_money else {
            return Self.failure(400, "The sandbox simulates mobile_money charges only")
        }
        let provider = (mobileMoney.provider ?? "").lowercased()
        let payer: String
        switch fields.currency {
        case "GHS":
            guard Self.ghanaMobileMoneyProviders.contains(provider) else {
                return Self.failure(400, "Invalid mobile money provider")
            }
            guard let phone = mobileMoney.phone, Self.isGhanaPhone(phone) else {
                return Self.failure(400, "Invalid phone number")
            }
            payer = phone
        case "KES":
            guard Self.kenyaMobileMoneyProviders.contains(provider) else {
                return Self.failure(400, "Invalid mobile money provider")
            }
            if provider == "mptill" {
                guard let account = mobileMoney.account, (5...7).contains(account.count),
                    account.allSatisfy({ $0.isASCII && $0.isNumber })
                else {
                    return Self.failure(400, "Invalid till number")
                }
                payer = account
            } else {
                guard let phone = mobileMoney.phone, Self.isKenyaPhone(phone) else {
                    return Self.failure(400, "Invalid phone number")
                }
                payer = phone
            }
        default:
            return Self.failure(400, "Mobile money is not available for \(fields.currency)")
        }
        let accessCode = SandboxPaymentCore.randomString(
            Self.generatedCodeLength, from: SandboxPaymentCore.lowercaseAlphabet)
        guard
            self.create(
                fields, kind: .charge, accessCode: accessCode, callbackURL: nil, channel: "mobile_money",
                provider: provider, phone: payer)
        else {
            return Self.failure(400, "Duplicate Transaction Reference")
        }
        let outcome = SandboxPhoneOutcome.forPayer(payer)
        self.core.afterCallbackDelay {
            await self.finishCharge(reference: fields.reference, outcome: outcome)
        }
        return Self.success(
            "Charge attempted",
            .object([
                ("reference", .string(fields.reference)), ("status", .string("pay_offline")),
                ("display_text", .string("Please complete authorization process on your mobile phone")),
            ]))
    }

    private func verify(_ request: Request, reference: String) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let transaction = self.state.withLock({ $0.transactions[reference] }) else {
            return Self.failure(400, "Transaction reference not found")
        }
        return Self.success("Verification successful", self.transactionJSON(transaction))
    }

    /// Completes a hosted checkout as the customer's click on Pay or Decline does. Returns the transaction, or `nil`
    /// when there is no checkout with that reference; a checkout already completed stays as it is.
    @discardableResult
    func completeCheckout(reference: String, succeed: Bool) -> Transaction? {
        let now = self.core.clock.now()
        let (transaction, changed) = self.state.withLock { state -> (Transaction?, Bool) in
            guard var transaction = state.transactions[reference], transaction.channel == "card" else {
                return (nil, false)
            }
            guard transaction.status == .abandoned else { return (transaction, false) }
            transaction.status = succeed ? .success : .failed
            transaction.gatewayResponse = succeed ? "Successful" : "Declined"
            transaction.paidAt = succeed ? now : nil
            transaction.amountRefundable = succeed ? transaction.amount : 0
            state.transactions[reference] = transaction
            return (transaction, true)
        }
        guard let transaction, changed else { return transaction }
        self.core.update(record: transaction.recordID, status: succeed ? .succeeded : .failed)
        if succeed {
            self.core.afterCallbackDelay {
                await self.sendWebhooks([self.event("charge.success", self.transactionJSON(transaction))])
            }
        }
        return transaction
    }

    /// The transaction behind a checkout's access code.
    func transaction(accessCode: String) -> Transaction? {
        self.state.withLock { state in
            state.referenceByAccessCode[accessCode].flatMap { state.transactions[$0] }
        }
    }

    /// Ends a mobile-money charge as the payer's phone number scripts it.
    private func finishCharge(reference: String, outcome: SandboxPhoneOutcome) async {
        let now = self.core.clock.now()
        let finished = self.state.withLock { state -> Transaction? in
            guard var transaction = state.transactions[reference], transaction.status == .ongoing else { return nil }
            switch outcome {
            case .success, .successWithoutCallback:
                transaction.status = .success
                transaction.gatewayResponse = "Approved"
                transaction.paidAt = now
                transaction.amountRefundable = transaction.amount
            case .insufficientFunds:
                transaction.status = .failed
                transaction.gatewayResponse = "Insufficient funds"
            case .cancelledByUser:
                transaction.status = .failed
                transaction.gatewayResponse = "Transaction cancelled by user"
            case .neverCompletes:
                return nil
            }
            state.transactions[reference] = transaction
            return transaction
        }
        guard let finished else { return }
        self.core.update(record: finished.recordID, status: finished.status == .success ? .succeeded : .failed)
        if outcome == .success {
            await self.sendWebhooks([self.event("charge.success", self.transactionJSON(finished))])
        }
    }

    /// The fields initialize and charge share, validated.
    private struct TransactionFields {
        var email: String
        var amount: Int64
        var currency: String
        var reference: String
    }

    private func validateTransaction(
        email: String?, amount: SandboxLenientValue?, currency: String?, reference: String?
    ) -> Validation<TransactionFields> {
        guard let email, Self.isEmail(email) else {
            return .failure(Self.failure(400, "Invalid Email Address Passed"))
        }
        guard let amount = amount?.wholeNumber, (1...Self.amountSubunitsMax).contains(amount) else {
            return .failure(Self.failure(400, "Invalid Amount Sent"))
        }
        let currency = (currency ?? Self.currencyDefault).uppercased()
        guard Self.currencies.contains(currency) else {
            return .failure(Self.failure(400, "Currency not supported by merchant"))
        }
        let reference =
            reference
            ?? SandboxPaymentCore.randomString(Self.generatedCodeLength, from: SandboxPaymentCore.lowercaseAlphabet)
        guard Self.isTransactionReference(reference) else {
            return .failure(
                Self.failure(400, "Invalid transaction reference. Only -, ., = and alphanumeric characters allowed."))
        }
        return .success(TransactionFields(email: email, amount: amount, currency: currency, reference: reference))
    }

    /// Stores a new transaction; `false` when the reference is taken.
    private func create(
        _ fields: TransactionFields, kind: SandboxPaymentRecord.Kind, accessCode: String, callbackURL: String?,
        channel: String, provider: String?, phone: String?
    ) -> Bool {
        let now = self.core.clock.now()
        let reserved = self.state.withLock { state -> (id: Int64, customerID: Int64)? in
            guard state.transactions[fields.reference] == nil else { return nil }
            let ids = (state.nextID, state.nextID + 1)
            state.nextID += 2
            return ids
        }
        guard let reserved else { return false }
        let recordID = self.core.record(
            .paystack, kind, reference: fields.reference,
            providerReference: kind == .checkout ? accessCode : String(reserved.id), amount: fields.amount,
            currency: fields.currency, phone: phone)
        let transaction = Transaction(
            id: reserved.id, reference: fields.reference, accessCode: accessCode, email: fields.email,
            amount: fields.amount, currency: fields.currency, callbackURL: callbackURL, channel: channel,
            mobileMoneyProvider: provider, phone: phone, status: kind == .checkout ? .abandoned : .ongoing,
            gatewayResponse: kind == .checkout ? "The transaction was not completed" : "Charge attempted",
            createdAt: now, paidAt: nil, amountRefundable: 0, customerID: reserved.customerID,
            customerCode: "CUS_" + SandboxPaymentCore.randomString(15, from: SandboxPaymentCore.lowercaseAlphabet),
            authorizationCode: "AUTH_"
                + SandboxPaymentCore.randomString(10, from: SandboxPaymentCore.lowercaseAlphabet),
            recordID: recordID)
        return self.state.withLock { state in
            // A concurrent request may have taken the reference between the check and now.
            guard state.transactions[fields.reference] == nil else { return false }
            state.transactions[fields.reference] = transaction
            state.referenceByAccessCode[accessCode] = fields.reference
            return true
        }
    }

    // MARK: - Refunds

    private struct RefundRequest: Decodable {
        var transaction: SandboxLenientValue?
        var amount: SandboxLenientValue?
        var currency: String?
        var customer_note: String?
        var merchant_note: String?
    }

    private func createRefund(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(RefundRequest.self, from: request) else {
            return Self.failure(400, "Invalid request body")
        }
        guard let identifier = body.transaction?.text, !identifier.isEmpty else {
            return Self.failure(400, "Transaction reference or id is required")
        }
        if let amount = body.amount, amount.wholeNumber == nil || amount.wholeNumber! <= 0 {
            return Self.failure(400, "Invalid Amount Sent")
        }
        let now = self.core.clock.now()
        enum Outcome {
            case refused(Response)
            case created(Refund, Transaction)
        }
        let outcome = self.state.withLock { state -> Outcome in
            guard
                var transaction = state.transactions[identifier]
                    ?? state.transactions.values.first(where: { String($0.id) == identifier })
            else {
                return .refused(Self.failure(404, "Transaction not found"))
            }
            guard transaction.status == .success else {
                return .refused(Self.failure(400, "Transaction has not been completed"))
            }
            if let currency = body.currency, currency.uppercased() != transaction.currency {
                return .refused(Self.failure(400, "Currency does not match the transaction's currency"))
            }
            let amount = body.amount?.wholeNumber ?? transaction.amountRefundable
            guard amount > 0, amount <= transaction.amountRefundable else {
                return .refused(
                    Self.failure(400, "Refund amount cannot be more than the unrefunded transaction amount"))
            }
            transaction.amountRefundable -= amount
            state.transactions[transaction.reference] = transaction
            let refund = Refund(
                id: state.nextID, transactionID: transaction.id, transactionReference: transaction.reference,
                amount: amount, currency: transaction.currency, status: "pending", refundReference: nil,
                customerNote: body.customer_note, merchantNote: body.merchant_note, createdAt: now, updatedAt: now,
                recordID: 0)
            state.nextID += 1
            return .created(refund, transaction)
        }
        guard case .created(var refund, let transaction) = outcome else {
            if case .refused(let response) = outcome { return response }
            preconditionFailure("a refund outcome is refused or created")
        }
        refund.recordID = self.core.record(
            .paystack, .refund, reference: transaction.reference, providerReference: String(refund.id),
            amount: refund.amount, currency: refund.currency, phone: transaction.phone)
        self.state.withLock { $0.refunds.append(refund) }
        let fails = transaction.email.lowercased().hasPrefix(Self.refundFailureEmailPrefix)
        let refundID = refund.id
        self.core.afterCallbackDelay {
            await self.finishRefund(id: refundID, fails: fails)
        }
        return Self.success("Refund has been queued for processing", self.refundJSON(refund, transaction: transaction))
    }

    private func finishRefund(id: Int64, fails: Bool) async {
        let now = self.core.clock.now()
        let finished = self.state.withLock { state -> (pending: Refund, final: Refund, Transaction)? in
            guard let index = state.refunds.firstIndex(where: { $0.id == id }),
                var transaction = state.transactions[state.refunds[index].transactionReference]
            else { return nil }
            let pending = state.refunds[index]
            state.refunds[index].status = fails ? "failed" : "processed"
            state.refunds[index].refundReference = fails ? nil : SandboxPaymentCore.randomDigits(12)
            state.refunds[index].updatedAt = now
            if fails {
                transaction.amountRefundable += pending.amount
                state.transactions[transaction.reference] = transaction
            }
            return (pending, state.refunds[index], transaction)
        }
        guard let (pending, final, transaction) = finished else { return }
        self.core.update(record: final.recordID, status: fails ? .failed : .succeeded)
        await self.sendWebhooks([
            self.event("refund.pending", self.refundEventJSON(pending, transaction: transaction)),
            self.event(
                fails ? "refund.failed" : "refund.processed", self.refundEventJSON(final, transaction: transaction)),
        ])
    }

    private func listRefunds(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        let filter = request.uri.queryParameters.get("transaction")
        let refunds = self.state.withLock { state in
            state.refunds.filter { refund in
                guard let filter else { return true }
                return refund.transactionReference == filter || String(refund.transactionID) == filter
            }
        }
        return SandboxHTTP.document(
            200,
            .object([
                ("status", .bool(true)), ("message", .string("Refunds retrieved")),
                ("data", .array(refunds.map(self.refundListJSON))),
                (
                    "meta",
                    .object([
                        ("total", .integer(Int64(refunds.count))), ("skipped", .integer(0)),
                        ("perPage", .integer(Int64(max(refunds.count, 1)))), ("page", .integer(1)),
                        ("pageCount", .integer(1)),
                    ])
                ),
            ]))
    }

    // MARK: - Transfers

    private struct RecipientRequest: Decodable {
        var type: String?
        var name: String?
        var account_number: String?
        var bank_code: String?
        var currency: String?
        var description: String?
    }

    private func createRecipient(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(RecipientRequest.self, from: request) else {
            return Self.failure(400, "Invalid request body")
        }
        guard let type = body.type, Self.recipientTypes.contains(type) else {
            return Self.failure(400, "Invalid recipient type", code: "invalid_params")
        }
        guard let name = body.name, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            return Self.failure(400, "Name is required", code: "invalid_params")
        }
        guard let accountNumber = body.account_number, !accountNumber.isEmpty,
            accountNumber.allSatisfy({ $0.isASCII && $0.isNumber })
        else {
            return Self.failure(400, "Account number is invalid", code: "invalid_params")
        }
        guard let bankCode = body.bank_code, !bankCode.isEmpty else {
            return Self.failure(400, "Bank code is required", code: "invalid_params")
        }
        let currency = (body.currency ?? Self.currencyDefault).uppercased()
        guard Self.currencies.contains(currency) else {
            return Self.failure(400, "Currency not supported by merchant")
        }
        let recipient = self.state.withLock { state in
            let recipient = Recipient(
                id: state.nextID,
                code: "RCP_" + SandboxPaymentCore.randomString(15, from: SandboxPaymentCore.lowercaseAlphabet),
                type: type, name: name, accountNumber: accountNumber, bankCode: bankCode, currency: currency,
                description: body.description, createdAt: self.core.clock.now())
            state.nextID += 1
            state.recipients[recipient.code] = recipient
            return recipient
        }
        return Self.success("Transfer recipient created successfully", self.recipientJSON(recipient), status: 201)
    }

    private struct TransferRequest: Decodable {
        var source: String?
        var amount: SandboxLenientValue?
        var recipient: String?
        var reference: String?
        var reason: String?
        var currency: String?
    }

    private func createTransfer(_ request: Request) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        guard let body = try await self.decode(TransferRequest.self, from: request) else {
            return Self.failure(400, "Invalid request body")
        }
        guard body.source == "balance" else {
            return Self.failure(400, "Invalid transfer source", code: "invalid_params")
        }
        guard let amount = body.amount?.wholeNumber, (1...Self.amountSubunitsMax).contains(amount) else {
            return Self.failure(400, "Invalid Amount Sent", code: "invalid_params")
        }
        guard let reference = body.reference, Self.isTransferReference(reference) else {
            return Self.failure(
                400, "Invalid transfer reference. Only -, _ and alphanumeric characters allowed.",
                code: "invalid_params")
        }
        let now = self.core.clock.now()
        enum Outcome {
            case refused(Response)
            case created(Transfer, Recipient)
        }
        let outcome = self.state.withLock { state -> Outcome in
            guard let code = body.recipient, let recipient = state.recipients[code] else {
                return .refused(
                    Self.failure(
                        400, "Recipient specified is invalid", code: "invalid_transfer_recipient",
                        nextStep:
                            "Provide a valid recipient. Ensure you are passing the recipient code in the "
                            + "recipient param"
                    ))
            }
            if let currency = body.currency, currency.uppercased() != recipient.currency {
                return .refused(
                    Self.failure(400, "Currency does not match the recipient's currency", code: "invalid_params"))
            }
            guard state.transfers[reference] == nil else {
                return .refused(Self.failure(400, "Duplicate Transfer Reference", code: "duplicate_reference"))
            }
            let transfer = Transfer(
                id: state.nextID, reference: reference,
                transferCode: "TRF_" + SandboxPaymentCore.randomString(16, from: SandboxPaymentCore.lowercaseAlphabet),
                amount: amount, currency: recipient.currency, reason: body.reason, recipientCode: recipient.code,
                status: "pending", gatewayResponse: nil, createdAt: now, updatedAt: now, transferredAt: nil,
                recordID: 0)
            state.nextID += 1
            state.transfers[reference] = transfer
            return .created(transfer, recipient)
        }
        guard case .created(var transfer, let recipient) = outcome else {
            if case .refused(let response) = outcome { return response }
            preconditionFailure("a transfer outcome is refused or created")
        }
        transfer.recordID = self.core.record(
            .paystack, .payout, reference: reference, providerReference: transfer.transferCode, amount: amount,
            currency: transfer.currency, phone: recipient.accountNumber)
        self.state.withLock { $0.transfers[reference]?.recordID = transfer.recordID }
        let fails = SandboxPhoneOutcome.payoutFails(to: recipient.accountNumber)
        self.core.afterCallbackDelay {
            await self.finishTransfer(reference: reference, fails: fails)
        }
        return Self.success("Transfer has been queued", self.transferJSON(transfer, recipient: nil))
    }

    private func finishTransfer(reference: String, fails: Bool) async {
        let now = self.core.clock.now()
        let finished = self.state.withLock { state -> (Transfer, Recipient)? in
            guard var transfer = state.transfers[reference], transfer.status == "pending",
                let recipient = state.recipients[transfer.recipientCode]
            else { return nil }
            transfer.status = fails ? "failed" : "success"
            transfer.gatewayResponse = fails ? "Account could not be credited" : "Approved"
            transfer.transferredAt = fails ? nil : now
            transfer.updatedAt = now
            state.transfers[reference] = transfer
            return (transfer, recipient)
        }
        guard let (transfer, recipient) = finished else { return }
        self.core.update(record: transfer.recordID, status: fails ? .failed : .succeeded)
        await self.sendWebhooks([
            self.event(
                fails ? "transfer.failed" : "transfer.success", self.transferJSON(transfer, recipient: recipient))
        ])
    }

    private func verifyTransfer(_ request: Request, reference: String) async throws -> Response {
        if let refusal = try await self.authorize(request) { return refusal }
        let found = self.state.withLock { state -> (Transfer, Recipient?)? in
            guard let transfer = state.transfers[reference] else { return nil }
            return (transfer, state.recipients[transfer.recipientCode])
        }
        guard let (transfer, recipient) = found else {
            return Self.failure(404, "Transfer not found", code: "not_found")
        }
        return Self.success("Transfer retrieved", self.transferJSON(transfer, recipient: recipient))
    }

    // MARK: - Webhooks

    /// A webhook body `{"event", "data"}`.
    private func event(_ name: String, _ data: SandboxJSON) -> (String, SandboxJSON) {
        (name, .object([("event", .string(name)), ("data", data)]))
    }

    /// Sends events as one batch to the configured webhook URL, signed with the secret key.
    private func sendWebhooks(_ events: [(String, SandboxJSON)]) async {
        guard let url = self.core.paystackWebhookURL else {
            self.core.logger.debug("sandbox has no Paystack webhook URL; webhooks not sent")
            return
        }
        let callbacks = events.map { name, body in
            SandboxCallback(
                url: url, body: body.bytes, paystackSigningKey: self.core.credentials.paystackSecretKey, label: name)
        }
        await self.core.sender.deliver(callbacks, for: .paystack)
    }

    // MARK: - JSON

    private func transactionJSON(_ transaction: Transaction) -> SandboxJSON {
        let paidAt = SandboxJSON.optionalString(transaction.paidAt?.rfc3339)
        return .object([
            ("id", .integer(transaction.id)), ("domain", .string("test")),
            ("status", .string(transaction.status.rawValue)), ("reference", .string(transaction.reference)),
            ("amount", .integer(transaction.amount)), ("message", .null),
            ("gateway_response", .string(transaction.gatewayResponse)), ("paid_at", paidAt),
            ("created_at", .string(transaction.createdAt.rfc3339)), ("channel", .string(transaction.channel)),
            ("currency", .string(transaction.currency)), ("ip_address", .null), ("metadata", .string("")),
            ("log", .null),
            (
                "fees",
                transaction.status == .success ? .integer(transaction.amount * Self.feeBasisPoints / 10_000) : .null
            ),
            ("fees_split", .null), ("authorization", self.authorizationJSON(transaction)),
            (
                "customer",
                .object([
                    ("id", .integer(transaction.customerID)), ("first_name", .null), ("last_name", .null),
                    ("email", .string(transaction.email)), ("customer_code", .string(transaction.customerCode)),
                    ("phone", .null), ("metadata", .null), ("risk_action", .string("default")),
                ])
            ),
            ("plan", .object([])), ("subaccount", .object([])), ("paidAt", paidAt),
            ("createdAt", .string(transaction.createdAt.rfc3339)), ("requested_amount", .integer(transaction.amount)),
        ])
    }

    private func authorizationJSON(_ transaction: Transaction) -> SandboxJSON {
        guard transaction.status == .success else { return .object([]) }
        if transaction.channel == "card" {
            return .object([
                ("authorization_code", .string(transaction.authorizationCode)), ("bin", .string("408408")),
                ("last4", .string("4081")), ("exp_month", .string("12")), ("exp_year", .string("2030")),
                ("channel", .string("card")), ("card_type", .string("visa ")), ("bank", .string("TEST BANK")),
                ("country_code", .string("NG")), ("brand", .string("visa")), ("reusable", .bool(true)),
                ("signature", .string("SIG_" + transaction.authorizationCode.dropFirst(5))), ("account_name", .null),
            ])
        }
        let digits = (transaction.phone ?? "").filter { $0.isASCII && $0.isNumber }
        return .object([
            ("authorization_code", .string(transaction.authorizationCode)),
            ("bin", .string(String(digits.prefix(3)) + "XXX")), ("last4", .string("X" + String(digits.suffix(3)))),
            ("exp_month", .string("12")), ("exp_year", .string("9999")), ("channel", .string("mobile_money")),
            ("card_type", .string("")), ("bank", .string(Self.mobileMoneyBankName(transaction.mobileMoneyProvider))),
            ("country_code", .string(transaction.currency == "KES" ? "KE" : "GH")),
            ("brand", .string(Self.mobileMoneyBankName(transaction.mobileMoneyProvider))), ("reusable", .bool(false)),
            ("signature", .null), ("account_name", .null),
        ])
    }

    private func refundJSON(_ refund: Refund, transaction: Transaction) -> SandboxJSON {
        .object([
            (
                "transaction",
                .object([
                    ("id", .integer(transaction.id)), ("domain", .string("test")),
                    ("reference", .string(transaction.reference)), ("amount", .integer(transaction.amount)),
                    ("paid_at", .optionalString(transaction.paidAt?.rfc3339)),
                    ("channel", .string(transaction.channel)), ("currency", .string(transaction.currency)),
                ])
            ),
            ("integration", .integer(Self.integrationID)), ("deducted_amount", .integer(0)), ("channel", .null),
            ("merchant_note", .optionalString(refund.merchantNote)),
            ("customer_note", .optionalString(refund.customerNote)), ("status", .string(refund.status)),
            ("refunded_by", .string("sandbox@kauri.dev")),
            ("expected_at", .string(refund.createdAt.adding(milliseconds: 86_400_000).rfc3339)),
            ("currency", .string(refund.currency)), ("domain", .string("test")), ("amount", .integer(refund.amount)),
            ("fully_deducted", .bool(false)), ("id", .integer(refund.id)),
            ("createdAt", .string(refund.createdAt.rfc3339)), ("updatedAt", .string(refund.updatedAt.rfc3339)),
        ])
    }

    private func refundListJSON(_ refund: Refund) -> SandboxJSON {
        .object([
            ("id", .integer(refund.id)), ("integration", .integer(Self.integrationID)),
            ("transaction", .integer(refund.transactionID)), ("dispute", .null), ("settlement", .null),
            ("domain", .string("test")), ("amount", .integer(refund.amount)), ("deducted_amount", .integer(0)),
            ("fully_deducted", .bool(false)), ("currency", .string(refund.currency)), ("channel", .null),
            ("status", .string(refund.status)), ("refunded_by", .string("sandbox@kauri.dev")),
            ("refunded_at", refund.status == "processed" ? .string(refund.updatedAt.rfc3339) : .null),
            ("expected_at", .string(refund.createdAt.adding(milliseconds: 86_400_000).rfc3339)),
            ("customer_note", .optionalString(refund.customerNote)),
            ("merchant_note", .optionalString(refund.merchantNote)),
            ("createdAt", .string(refund.createdAt.rfc3339)), ("updatedAt", .string(refund.updatedAt.rfc3339)),
        ])
    }

    private func refundEventJSON(_ refund: Refund, transaction: Transaction) -> SandboxJSON {
        .object([
            ("status", .string(refund.status)), ("transaction_reference", .string(refund.transactionReference)),
            ("refund_reference", .optionalString(refund.refundReference)), ("amount", .string(String(refund.amount))),
            ("currency", .string(refund.currency)), ("processor", .string("sandbox")),
            (
                "customer",
                .object([("first_name", .null), ("last_name", .null), ("email", .string(transaction.email))])
            ),
            ("integration", .integer(Self.integrationID)), ("domain", .string("test")),
        ])
    }

    private func recipientJSON(_ recipient: Recipient) -> SandboxJSON {
        .object([
            ("active", .bool(true)), ("createdAt", .string(recipient.createdAt.rfc3339)),
            ("currency", .string(recipient.currency)), ("description", .optionalString(recipient.description)),
            ("domain", .string("test")), ("email", .null), ("id", .integer(recipient.id)),
            ("integration", .integer(Self.integrationID)), ("metadata", .null), ("name", .string(recipient.name)),
            ("recipient_code", .string(recipient.code)), ("type", .string(recipient.type)),
            ("updatedAt", .string(recipient.createdAt.rfc3339)), ("is_deleted", .bool(false)),
            (
                "details",
                .object([
                    ("authorization_code", .null), ("account_number", .string(recipient.accountNumber)),
                    ("account_name", .null), ("bank_code", .string(recipient.bankCode)),
                    ("bank_name", .string(Self.mobileMoneyBankName(recipient.bankCode.lowercased()))),
                ])
            ),
        ])
    }

    /// A transfer as initiate answers it (`recipient` is the recipient's id) or as verify and the webhooks carry it
    /// (`recipient` is the recipient object).
    private func transferJSON(_ transfer: Transfer, recipient: Recipient?) -> SandboxJSON {
        let recipientID = self.state.withLock { $0.recipients[transfer.recipientCode]?.id } ?? 0
        return .object([
            ("amount", .integer(transfer.amount)), ("currency", .string(transfer.currency)),
            ("domain", .string("test")), ("failures", .null), ("id", .integer(transfer.id)),
            (
                "integration",
                recipient == nil
                    ? .integer(Self.integrationID)
                    : .object([
                        ("id", .integer(Self.integrationID)), ("is_live", .bool(false)),
                        ("business_name", .string("Kauri Sandbox")),
                    ])
            ),
            ("reason", .optionalString(transfer.reason)), ("reference", .string(transfer.reference)),
            ("source", .string("balance")), ("source_details", .null), ("status", .string(transfer.status)),
            ("titan_code", .null), ("transfer_code", .string(transfer.transferCode)),
            ("transferred_at", .optionalString(transfer.transferredAt?.rfc3339)),
            ("recipient", recipient.map(self.recipientJSON) ?? .integer(recipientID)),
            ("session", .object([("provider", .null), ("id", .null)])),
            ("gateway_response", .optionalString(transfer.gatewayResponse)),
            ("createdAt", .string(transfer.createdAt.rfc3339)), ("updatedAt", .string(transfer.updatedAt.rfc3339)),
        ])
    }

    // MARK: - Helpers

    /// Applies the next fault, then checks the Bearer secret key; a response means the request is refused.
    private func authorize(_ request: Request) async throws -> Response? {
        if let response = try await SandboxHTTP.applyFault(
            self.core.faults, .paystack, errorResponse: { Self.failure($0, "Sandbox fault: HTTP \($0)") })
        {
            return response
        }
        guard SandboxHTTP.matches(SandboxHTTP.bearerToken(of: request), self.core.credentials.paystackSecretKey) else {
            return Self.failure(401, "Invalid key")
        }
        return nil
    }

    private func decode<Body: Decodable>(_ type: Body.Type, from request: Request) async throws -> Body? {
        let body = try await SandboxHTTP.body(of: request)
        guard SandboxHTTP.hasContentType(request, "application/json") else { return nil }
        return try? JSONDecoder().decode(type, from: Data(body))
    }

    /// Paystack's success envelope.
    private static func success(_ message: String, _ data: SandboxJSON, status: Int = 200) -> Response {
        SandboxHTTP.document(status, .object([("status", .bool(true)), ("message", .string(message)), ("data", data)]))
    }

    /// Paystack's error envelope, with `type`, `code` and `meta.nextStep` when given.
    static func failure(_ status: Int, _ message: String, code: String? = nil, nextStep: String? = nil) -> Response {
        var members: [(String, SandboxJSON)] = [("status", .bool(false)), ("message", .string(message))]
        if let nextStep {
            members.append(("meta", .object([("nextStep", .string(nextStep))])))
        }
        if let code {
            members.append(("type", .string(status == 401 ? "authentication_error" : "validation_error")))
            members.append(("code", .string(code)))
        }
        return SandboxHTTP.document(status, .object(members))
    }

    private static func isTransactionReference(_ reference: String) -> Bool {
        (1...Self.referenceCharacterCountMax).contains(reference.count)
            && reference.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-.=".contains($0)) }
    }

    private static func isTransferReference(_ reference: String) -> Bool {
        (1...Self.referenceCharacterCountMax).contains(reference.count)
            && reference.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) }
    }

    private static func isEmail(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !email.contains(" ")
    }

    /// Ghana's local (`0551234987`) or international (`233551234987`) mobile number.
    private static func isGhanaPhone(_ phone: String) -> Bool {
        let digits = phone.hasPrefix("+") ? String(phone.dropFirst()) : phone
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return (digits.count == 10 && digits.hasPrefix("0")) || (digits.count == 12 && digits.hasPrefix("233"))
    }

    /// Kenya's `254700000000` form (local `0700000000` also accepted).
    private static func isKenyaPhone(_ phone: String) -> Bool {
        let digits = phone.hasPrefix("+") ? String(phone.dropFirst()) : phone
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        return (digits.count == 12 && (digits.hasPrefix("2547") || digits.hasPrefix("2541")))
            || (digits.count == 10 && (digits.hasPrefix("07") || digits.hasPrefix("01")))
    }

    static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), url.host != nil else { return false }
        return scheme == "http" || scheme == "https"
    }

    private static func mobileMoneyBankName(_ provider: String?) -> String {
        switch provider {
        case "mtn": "MTN Mobile Money"
        case "vod": "Telecel Cash"
        case "atl", "tgo": "AirtelTigo Money"
        case "mpesa", "mpesa_offline", "mptill": "M-PESA"
        default: "Sandbox Bank"
        }
    }
}

/// A validated value, or the provider's refusal.
enum Validation<Value> {
    /// The request passed.
    case success(Value)
    /// The response refusing the request.
    case failure(Response)

    /// The refusal; only valid on `.failure`.
    var refusal: Response {
        guard case .failure(let response) = self else { preconditionFailure("a successful validation has no refusal") }
        return response
    }
}
