import Foundation
import KauriCore
import KauriDatabase
import SQLKit

/// The payments module's SQL. Every function takes the connection it runs on, so callers choose the transaction.
enum PaymentStore {
    // MARK: Payments

    static func insert(_ payment: Payment, on connection: any SQLDatabase) async throws {
        let method = Self.methodColumns(payment.method)
        let action = Self.nextActionColumns(payment.nextAction)
        try await connection.raw(
            """
            INSERT INTO payments (id, owner_reference, idempotency_key, gateway, amount, currency, method, phone,
                mobile_provider, status, customer_email, customer_name, reference, metadata, return_url,
                next_action_type, next_action_value, gateway_reference, gateway_call, provider_reference,
                provider_transaction_id, failure_code, failure_message, review_reason, credit_account_id,
                amount_refunded, amount_refund_pending, check_attempts, next_check_at, created_at, updated_at,
                succeeded_at, expires_at)
            VALUES (\(bind: payment.id.description), \(bind: payment.ownerReference), \(bind: payment.idempotencyKey),
                \(bind: payment.gateway.rawValue), \(bind: payment.amount.minorUnits),
                \(bind: payment.amount.currency.code), \(bind: method.0), \(bind: method.1), \(bind: method.2),
                \(bind: payment.status.rawValue), \(bind: payment.customerEmail), \(bind: payment.customerName),
                \(bind: payment.reference), \(bind: Self.encodeMetadata(payment.metadata)), \(bind: payment.returnURL),
                \(bind: action.0), \(bind: action.1), \(bind: payment.gatewayReference.value),
                \(bind: payment.gatewayCall.rawValue), \(bind: payment.providerReference),
                \(bind: payment.providerTransactionID), \(bind: payment.failure?.code),
                \(bind: payment.failure?.message), \(bind: payment.reviewReason?.rawValue),
                \(bind: payment.creditAccountID), \(bind: payment.amountRefunded),
                \(bind: payment.amountRefundPending), \(bind: payment.checkAttempts),
                \(bind: payment.nextCheckAt.map(Self.millis)), \(bind: Self.millis(payment.createdAt)),
                \(bind: Self.millis(payment.updatedAt)), \(bind: payment.succeededAt.map(Self.millis)),
                \(bind: Self.millis(payment.expiresAt)))
            """
        ).run()
    }

    /// Writes every mutable field of `payment`.
    static func update(_ payment: Payment, on connection: any SQLDatabase) async throws {
        let action = Self.nextActionColumns(payment.nextAction)
        try await connection.raw(
            """
            UPDATE payments SET status = \(bind: payment.status.rawValue), next_action_type = \(bind: action.0),
                next_action_value = \(bind: action.1), gateway_call = \(bind: payment.gatewayCall.rawValue),
                provider_reference = \(bind: payment.providerReference),
                provider_transaction_id = \(bind: payment.providerTransactionID),
                failure_code = \(bind: payment.failure?.code), failure_message = \(bind: payment.failure?.message),
                review_reason = \(bind: payment.reviewReason?.rawValue),
                amount_refunded = \(bind: payment.amountRefunded),
                amount_refund_pending = \(bind: payment.amountRefundPending),
                check_attempts = \(bind: payment.checkAttempts),
                next_check_at = \(bind: payment.nextCheckAt.map(Self.millis)),
                updated_at = \(bind: Self.millis(payment.updatedAt)),
                succeeded_at = \(bind: payment.succeededAt.map(Self.millis))
            WHERE id = \(bind: payment.id.description)
            """
        ).run()
    }

    /// One payment; `lock` takes its row lock until the transaction ends (PostgreSQL; SQLite serialises writers).
    static func payment(
        id: Payment.ID, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> Payment? {
        let suffix = lock && kind == .postgres ? " FOR UPDATE" : ""
        return try await connection.raw(
            "SELECT * FROM payments WHERE id = \(bind: id.description)\(unsafeRaw: suffix)"
        ).first().map(Self.decodePayment)
    }

    static func payment(
        ownerReference: String, idempotencyKey: String, on connection: any SQLDatabase
    ) async throws -> Payment? {
        try await connection.raw(
            """
            SELECT * FROM payments WHERE owner_reference = \(bind: ownerReference)
                AND idempotency_key = \(bind: idempotencyKey)
            """
        ).first().map(Self.decodePayment)
    }

    /// The payment a gateway's news is about: by our reference, else by the gateway's id of the attempt.
    static func paymentID(
        gateway: GatewayName, reference: GatewayReference?, providerReference: String?, on connection: any SQLDatabase
    ) async throws -> Payment.ID? {
        if let reference {
            let row = try await connection.raw(
                "SELECT id FROM payments WHERE gateway_reference = \(bind: reference.value)"
            ).first()
            if let row { return Payment.ID(try row.decode(column: "id", as: String.self)) }
        }
        if let providerReference, !providerReference.isEmpty {
            let row = try await connection.raw(
                """
                SELECT id FROM payments WHERE gateway = \(bind: gateway.rawValue)
                    AND provider_reference = \(bind: providerReference)
                """
            ).first()
            if let row { return Payment.ID(try row.decode(column: "id", as: String.self)) }
        }
        return nil
    }

    /// The payments whose gateway reference is one of `references` (our own references, unique).
    static func payments(
        gatewayReferences references: [String], lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> [Payment] {
        guard !references.isEmpty else { return [] }
        // Locked in id order, as every transaction that locks several payments does: no deadlocks.
        return try await connection.raw(
            """
            SELECT * FROM payments WHERE gateway_reference IN (\(binds: references)) ORDER BY id\(
                unsafeRaw: lock && kind == .postgres ? " FOR UPDATE" : "")
            """
        ).all().map(Self.decodePayment)
    }

    /// A page of an owner's payments, newest first, before `beforeID`.
    static func payments(
        ownerReference: String?, beforeID: String?, limit: Int, on connection: any SQLDatabase
    ) async throws -> [Payment] {
        var query = SQLQueryString("SELECT * FROM payments WHERE 1 = 1")
        if let ownerReference {
            query.appendInterpolation(unsafeRaw: " AND owner_reference = ")
            query.appendInterpolation(bind: ownerReference)
        }
        if let beforeID {
            query.appendInterpolation(unsafeRaw: " AND id < ")
            query.appendInterpolation(bind: beforeID)
        }
        query.appendInterpolation(unsafeRaw: " ORDER BY id DESC LIMIT \(limit)")
        return try await connection.raw(query).all().map(Self.decodePayment)
    }

    /// Payments whose status check is due, oldest due first.
    static func duePaymentIDs(now: Timestamp, limit: Int, on connection: any SQLDatabase) async throws -> [Payment.ID] {
        try await connection.raw(
            """
            SELECT id FROM payments WHERE status IN ('requires_action', 'processing') AND review_reason IS NULL
                AND next_check_at <= \(bind: Self.millis(now))
            ORDER BY next_check_at LIMIT \(unsafeRaw: String(limit))
            """
        ).all().compactMap { Payment.ID(try $0.decode(column: "id", as: String.self)) }
    }

    static func decodePayment(_ row: any SQLRow) throws -> Payment {
        let idText = try row.decode(column: "id", as: String.self)
        guard let id = Payment.ID(idText) else { throw PaymentStoreError.unreadable("payment id \(idText)") }
        let currencyCode = try row.decode(column: "currency", as: String.self)
        guard let currency = Currency(code: currencyCode) else {
            throw PaymentStoreError.unreadable("currency \(currencyCode)")
        }
        let method: Payment.Method
        if try row.decode(column: "method", as: String.self) == "mobile_money" {
            let phoneText = try row.decode(column: "phone", as: String?.self) ?? ""
            guard let phone = try? PhoneNumber(parsing: phoneText),
                let provider = MobileMoneyProvider(
                    rawValue: try row.decode(column: "mobile_provider", as: String?.self) ?? "")
            else { throw PaymentStoreError.unreadable("mobile money method of \(idText)") }
            method = .mobileMoney(phone: phone, provider: provider)
        } else {
            method = .redirect
        }
        let statusText = try row.decode(column: "status", as: String.self)
        guard let status = PaymentStatus(rawValue: statusText) else {
            throw PaymentStoreError.unreadable("status \(statusText)")
        }
        let failureCode = try row.decode(column: "failure_code", as: String?.self)
        let failureMessage = try row.decode(column: "failure_message", as: String?.self)
        return Payment(
            id: id,
            ownerReference: try row.decode(column: "owner_reference", as: String.self),
            gateway: GatewayName(rawValue: try row.decode(column: "gateway", as: String.self)),
            amount: Money(minorUnits: try row.decode(column: "amount", as: Int64.self), currency: currency),
            method: method,
            status: status,
            customerEmail: try row.decode(column: "customer_email", as: String?.self),
            customerName: try row.decode(column: "customer_name", as: String?.self),
            reference: try row.decode(column: "reference", as: String?.self),
            metadata: Self.decodeMetadata(try row.decode(column: "metadata", as: String.self)),
            returnURL: try row.decode(column: "return_url", as: String?.self),
            nextAction: Self.decodeNextAction(
                type: try row.decode(column: "next_action_type", as: String?.self),
                value: try row.decode(column: "next_action_value", as: String?.self)),
            gatewayReference: GatewayReference(try row.decode(column: "gateway_reference", as: String.self)),
            providerReference: try row.decode(column: "provider_reference", as: String?.self),
            providerTransactionID: try row.decode(column: "provider_transaction_id", as: String?.self),
            failure: failureCode.map { PaymentFailure(code: $0, message: failureMessage ?? "") },
            reviewReason: try row.decode(column: "review_reason", as: String?.self).flatMap(
                Payment.ReviewReason.init(rawValue:)),
            creditAccountID: try row.decode(column: "credit_account_id", as: String.self),
            amountRefunded: try row.decode(column: "amount_refunded", as: Int64.self),
            amountRefundPending: try row.decode(column: "amount_refund_pending", as: Int64.self),
            createdAt: Self.timestamp(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Self.timestamp(try row.decode(column: "updated_at", as: Int64.self)),
            succeededAt: try row.decode(column: "succeeded_at", as: Int64?.self).map(Self.timestamp),
            expiresAt: Self.timestamp(try row.decode(column: "expires_at", as: Int64.self)),
            gatewayCall: GatewayCallState(rawValue: try row.decode(column: "gateway_call", as: String.self))
                ?? .unknown,
            idempotencyKey: try row.decode(column: "idempotency_key", as: String?.self),
            checkAttempts: try row.decode(column: "check_attempts", as: Int.self),
            nextCheckAt: try row.decode(column: "next_check_at", as: Int64?.self).map(Self.timestamp))
    }

    // MARK: Refunds

    static func insert(_ refund: Refund, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            INSERT INTO payment_refunds (id, payment_id, owner_reference, idempotency_key, amount, currency, status,
                reason, gateway_reference, gateway_call, provider_reference, failure_code, failure_message,
                check_attempts, next_check_at, created_at, updated_at)
            VALUES (\(bind: refund.id.description), \(bind: refund.paymentID.description),
                \(bind: refund.ownerReference), \(bind: refund.idempotencyKey), \(bind: refund.amount.minorUnits),
                \(bind: refund.amount.currency.code), \(bind: refund.status.rawValue), \(bind: refund.reason),
                \(bind: refund.gatewayReference.value), \(bind: refund.gatewayCall.rawValue),
                \(bind: refund.providerReference), \(bind: refund.failure?.code), \(bind: refund.failure?.message),
                \(bind: refund.checkAttempts), \(bind: refund.nextCheckAt.map(Self.millis)),
                \(bind: Self.millis(refund.createdAt)), \(bind: Self.millis(refund.updatedAt)))
            """
        ).run()
    }

    static func update(_ refund: Refund, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            UPDATE payment_refunds SET status = \(bind: refund.status.rawValue),
                gateway_call = \(bind: refund.gatewayCall.rawValue),
                provider_reference = \(bind: refund.providerReference), failure_code = \(bind: refund.failure?.code),
                failure_message = \(bind: refund.failure?.message), check_attempts = \(bind: refund.checkAttempts),
                next_check_at = \(bind: refund.nextCheckAt.map(Self.millis)),
                updated_at = \(bind: Self.millis(refund.updatedAt))
            WHERE id = \(bind: refund.id.description)
            """
        ).run()
    }

    static func refund(
        id: Refund.ID, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> Refund? {
        let suffix = lock && kind == .postgres ? " FOR UPDATE" : ""
        return try await connection.raw(
            "SELECT * FROM payment_refunds WHERE id = \(bind: id.description)\(unsafeRaw: suffix)"
        ).first().map(Self.decodeRefund)
    }

    static func refund(
        ownerReference: String, idempotencyKey: String, on connection: any SQLDatabase
    ) async throws -> Refund? {
        try await connection.raw(
            """
            SELECT * FROM payment_refunds WHERE owner_reference = \(bind: ownerReference)
                AND idempotency_key = \(bind: idempotencyKey)
            """
        ).first().map(Self.decodeRefund)
    }

    static func refunds(paymentID: Payment.ID, on connection: any SQLDatabase) async throws -> [Refund] {
        try await connection.raw(
            "SELECT * FROM payment_refunds WHERE payment_id = \(bind: paymentID.description) ORDER BY id"
        ).all().map(Self.decodeRefund)
    }

    /// The refund a gateway's news is about: by our reference, the gateway's refund id, or — when the gateway
    /// names only the payment — the oldest pending refund of that payment with the reported amount.
    static func refundID(
        gateway: GatewayName, status: GatewayRefundStatus, on connection: any SQLDatabase
    ) async throws -> Refund.ID? {
        if let reference = status.reference {
            if let row = try await connection.raw(
                "SELECT id FROM payment_refunds WHERE gateway_reference = \(bind: reference.value)"
            ).first() {
                return Refund.ID(try row.decode(column: "id", as: String.self))
            }
        }
        if let providerReference = status.providerReference, !providerReference.isEmpty {
            if let row = try await connection.raw(
                """
                SELECT r.id FROM payment_refunds r JOIN payments p ON p.id = r.payment_id
                WHERE p.gateway = \(bind: gateway.rawValue) AND r.provider_reference = \(bind: providerReference)
                """
            ).first() {
                return Refund.ID(try row.decode(column: "id", as: String.self))
            }
        }
        if let paymentReference = status.paymentReference {
            var query = SQLQueryString(
                """
                SELECT r.id FROM payment_refunds r JOIN payments p ON p.id = r.payment_id
                WHERE p.gateway_reference = 
                """)
            query.appendInterpolation(bind: paymentReference.value)
            query.appendInterpolation(unsafeRaw: " AND r.status = 'pending'")
            if let amount = status.amount {
                query.appendInterpolation(unsafeRaw: " AND r.amount = ")
                query.appendInterpolation(bind: amount.minorUnits)
            }
            query.appendInterpolation(unsafeRaw: " ORDER BY r.id LIMIT 1")
            if let row = try await connection.raw(query).first() {
                return Refund.ID(try row.decode(column: "id", as: String.self))
            }
        }
        return nil
    }

    static func dueRefundIDs(now: Timestamp, limit: Int, on connection: any SQLDatabase) async throws -> [Refund.ID] {
        try await connection.raw(
            """
            SELECT id FROM payment_refunds WHERE status = 'pending' AND next_check_at <= \(bind: Self.millis(now))
            ORDER BY next_check_at LIMIT \(unsafeRaw: String(limit))
            """
        ).all().compactMap { Refund.ID(try $0.decode(column: "id", as: String.self)) }
    }

    static func decodeRefund(_ row: any SQLRow) throws -> Refund {
        let idText = try row.decode(column: "id", as: String.self)
        let paymentText = try row.decode(column: "payment_id", as: String.self)
        guard let id = Refund.ID(idText), let paymentID = Payment.ID(paymentText) else {
            throw PaymentStoreError.unreadable("refund id \(idText)")
        }
        let currencyCode = try row.decode(column: "currency", as: String.self)
        guard let currency = Currency(code: currencyCode) else {
            throw PaymentStoreError.unreadable("currency \(currencyCode)")
        }
        let failureCode = try row.decode(column: "failure_code", as: String?.self)
        return Refund(
            id: id, paymentID: paymentID,
            amount: Money(minorUnits: try row.decode(column: "amount", as: Int64.self), currency: currency),
            status: Refund.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .pending,
            reason: try row.decode(column: "reason", as: String?.self),
            gatewayReference: GatewayReference(try row.decode(column: "gateway_reference", as: String.self)),
            providerReference: try row.decode(column: "provider_reference", as: String?.self),
            failure: failureCode.map {
                PaymentFailure(code: $0, message: (try? row.decode(column: "failure_message", as: String?.self)) ?? "")
            },
            gatewayCall: GatewayCallState(rawValue: try row.decode(column: "gateway_call", as: String.self))
                ?? .unknown,
            idempotencyKey: try row.decode(column: "idempotency_key", as: String?.self),
            ownerReference: try row.decode(column: "owner_reference", as: String.self),
            checkAttempts: try row.decode(column: "check_attempts", as: Int.self),
            nextCheckAt: try row.decode(column: "next_check_at", as: Int64?.self).map(Self.timestamp),
            createdAt: Self.timestamp(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Self.timestamp(try row.decode(column: "updated_at", as: Int64.self)))
    }

    // MARK: Inbox

    /// Stores an event unless one with the same digest is stored; returns whether it was new.
    static func insertEvent(_ event: InboxEvent, on connection: any SQLDatabase) async throws -> Bool {
        let rows = try await connection.raw(
            """
            INSERT INTO payment_webhook_events (id, gateway, digest, target_id, headers, body, state, attempts,
                next_attempt_at, received_at)
            VALUES (\(bind: event.id), \(bind: event.gateway.rawValue), \(bind: event.digest),
                \(bind: event.targetID), \(bind: Self.encodeMetadata(event.headers)), \(bind: event.body), 'pending', 0,
                \(bind: Self.millis(event.receivedAt)), \(bind: Self.millis(event.receivedAt)))
            ON CONFLICT (gateway, digest) DO NOTHING
            RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    /// Claims up to `limit` due events for `leaseMilliseconds`, oldest first; another worker skips them.
    static func claimDueEvents(
        now: Timestamp, limit: Int, leaseMilliseconds: UInt64, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> [InboxEvent] {
        let lock = kind == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let rows = try await connection.raw(
            """
            SELECT * FROM payment_webhook_events WHERE state = 'pending'
                AND next_attempt_at <= \(bind: Self.millis(now))
            ORDER BY next_attempt_at, id LIMIT \(unsafeRaw: String(limit))\(unsafeRaw: lock)
            """
        ).all()
        let events = try rows.map(Self.decodeEvent)
        guard !events.isEmpty else { return [] }
        let leaseEnd = Self.millis(now.adding(milliseconds: leaseMilliseconds))
        var update = SQLQueryString("UPDATE payment_webhook_events SET next_attempt_at = ")
        update.appendInterpolation(bind: leaseEnd)
        update.appendInterpolation(unsafeRaw: ", attempts = attempts + 1 WHERE id IN (")
        for (index, event) in events.enumerated() {
            if index > 0 { update.appendInterpolation(unsafeRaw: ", ") }
            update.appendInterpolation(bind: event.id)
        }
        update.appendInterpolation(unsafeRaw: ")")
        try await connection.raw(update).run()
        return events.map {
            var event = $0
            event.attempts += 1
            return event
        }
    }

    /// Records what applying an event did.
    static func finishEvent(
        id: String, state: InboxEvent.State, error: String?, nextAttemptAt: Timestamp?, now: Timestamp,
        on connection: any SQLDatabase
    ) async throws {
        try await connection.raw(
            """
            UPDATE payment_webhook_events SET state = \(bind: state.rawValue), last_error = \(bind: error),
                next_attempt_at = \(bind: Self.millis(nextAttemptAt ?? now)),
                applied_at = \(bind: state == .pending ? nil : Self.millis(now))
            WHERE id = \(bind: id)
            """
        ).run()
    }

    static func event(id: String, on connection: any SQLDatabase) async throws -> InboxEvent? {
        try await connection.raw("SELECT * FROM payment_webhook_events WHERE id = \(bind: id)").first()
            .map(Self.decodeEvent)
    }

    static func decodeEvent(_ row: any SQLRow) throws -> InboxEvent {
        InboxEvent(
            id: try row.decode(column: "id", as: String.self),
            gateway: GatewayName(rawValue: try row.decode(column: "gateway", as: String.self)),
            digest: try row.decode(column: "digest", as: String.self),
            targetID: try row.decode(column: "target_id", as: String?.self),
            headers: Self.decodeMetadata(try row.decode(column: "headers", as: String.self)),
            body: try row.decode(column: "body", as: String.self),
            state: InboxEvent.State(rawValue: try row.decode(column: "state", as: String.self)) ?? .failed,
            attempts: try row.decode(column: "attempts", as: Int.self),
            lastError: try row.decode(column: "last_error", as: String?.self),
            receivedAt: Self.timestamp(try row.decode(column: "received_at", as: Int64.self)))
    }

    // MARK: Columns

    static func millis(_ time: Timestamp) -> Int64 { Int64(time.unixMilliseconds) }

    static func timestamp(_ millis: Int64) -> Timestamp { Timestamp(unixMilliseconds: UInt64(max(0, millis))) }

    static func encodeMetadata(_ metadata: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(metadata)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decodeMetadata(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }

    private static func methodColumns(_ method: Payment.Method) -> (String, String?, String?) {
        switch method {
        case .redirect: ("redirect", nil, nil)
        case .mobileMoney(let phone, let provider): ("mobile_money", phone.e164, provider.rawValue)
        }
    }

    private static func nextActionColumns(_ action: Payment.NextAction?) -> (String?, String?) {
        switch action {
        case nil: (nil, nil)
        case .redirect(let url): ("redirect", url)
        case .confirmOnPhone(let text): ("confirm_on_phone", text)
        }
    }

    private static func decodeNextAction(type: String?, value: String?) -> Payment.NextAction? {
        switch (type, value) {
        case ("redirect", let url?): .redirect(url: url)
        case ("confirm_on_phone", let text?): .confirmOnPhone(displayText: text)
        default: nil
        }
    }
}

/// A stored row that does not decode (a bug or manual edits).
enum PaymentStoreError: Error, CustomStringConvertible {
    case unreadable(String)

    var description: String {
        switch self {
        case .unreadable(let what): "unreadable payments row: \(what)"
        }
    }
}

/// A webhook or callback in the inbox.
struct InboxEvent: Sendable, Hashable {
    /// Where an event is in its life.
    enum State: String, Sendable, Hashable {
        /// Waiting to be applied (or to be retried).
        case pending
        /// Applied (or found to change nothing).
        case applied
        /// Authentic but about nothing we know (another integration's payment).
        case ignored
        /// Not credited: held for an operator (amount or currency mismatch).
        case flagged
        /// Given up after too many attempts.
        case failed
    }

    var id: String
    var gateway: GatewayName
    var digest: String
    /// The payment or refund a per-payment callback path named.
    var targetID: String?
    var headers: [String: String]
    var body: String
    var state: State
    var attempts: Int
    var lastError: String?
    var receivedAt: Timestamp
}
