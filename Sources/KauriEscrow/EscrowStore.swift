import Foundation
import KauriCore
import KauriDatabase
import SQLKit

/// The escrow module's SQL. Every function takes the connection it runs on, so callers choose the transaction.
enum EscrowStore {
    /// A stored row no longer decodes: a programmer error or a hand-edited database.
    struct CorruptRow: Error, CustomStringConvertible {
        let description: String
    }

    // MARK: Payment links

    /// The INSERT of a new link (one statement: `Database.execute` runs it alone).
    static func insertStatement(_ link: PaymentLink) -> SQLQueryString {
        """
            INSERT INTO payment_links (id, kind, duration_minutes, seller_reference, seller_phone, title, description,
                price, currency, quantity_available, quantity_sold, status, expires_at, created_at, updated_at)
            VALUES (\(bind: link.id.description), \(bind: link.kind.rawValue), \(bind: link.durationMinutes),
                \(bind: link.sellerReference), NULL,
                \(bind: link.title), \(bind: link.description), \(bind: link.price.minorUnits),
                \(bind: link.price.currency.code), \(bind: link.quantityAvailable), \(bind: link.quantitySold),
                \(bind: link.status.rawValue), \(bind: link.expiresAt.map(Self.millis)),
                \(bind: Self.millis(link.createdAt)), \(bind: Self.millis(link.updatedAt)))
        """
    }

    static func update(_ link: PaymentLink, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            UPDATE payment_links SET quantity_available = \(bind: link.quantityAvailable),
                quantity_sold = \(bind: link.quantitySold), status = \(bind: link.status.rawValue),
                updated_at = \(bind: Self.millis(link.updatedAt))
            WHERE id = \(bind: link.id.description)
            """
        ).run()
    }

    static func link(
        id: PaymentLink.ID, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> PaymentLink? {
        let suffix = lock && kind == .postgres ? " FOR UPDATE" : ""
        return try await connection.raw(
            "SELECT * FROM payment_links WHERE id = \(bind: id.description)\(unsafeRaw: suffix)"
        ).first().map(Self.decodeLink)
    }

    /// A seller's links, newest first, before `before`.
    static func links(
        sellerReference: String, before: PaymentLink.ID?, limit: Int, on connection: any SQLDatabase
    ) async throws -> [PaymentLink] {
        try await connection.raw(
            """
            SELECT * FROM payment_links WHERE seller_reference = \(bind: sellerReference)
                AND id < \(bind: before?.description ?? "~")
            ORDER BY id DESC LIMIT \(bind: limit)
            """
        ).all().map(Self.decodeLink)
    }

    /// Puts the unit an unpaid escrow took back on its link.
    static func returnUnit(
        of escrow: Escrow, now: Timestamp, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws {
        guard var link = try await Self.link(id: escrow.linkID, lock: true, kind: kind, on: connection) else { return }
        link.quantityAvailable = link.quantityAvailable.map { $0 + 1 }
        link.quantitySold = max(0, link.quantitySold - 1)
        link.updatedAt = now
        try await Self.update(link, on: connection)
    }

    static func decodeLink(_ row: any SQLRow) throws -> PaymentLink {
        let currencyCode = try row.decode(column: "currency", as: String.self)
        guard let id = PaymentLink.ID(try row.decode(column: "id", as: String.self)),
            let currency = Currency(code: currencyCode),
            let status = PaymentLink.Status(rawValue: try row.decode(column: "status", as: String.self)),
            let kind = EscrowKind(rawValue: try row.decode(column: "kind", as: String.self))
        else { throw CorruptRow(description: "payment_links row does not decode") }
        return PaymentLink(
            id: id, kind: kind, durationMinutes: try row.decode(column: "duration_minutes", as: Int?.self),
            sellerReference: try row.decode(column: "seller_reference", as: String.self),
            title: try row.decode(column: "title", as: String.self),
            description: try row.decode(column: "description", as: String?.self),
            price: Money(minorUnits: try row.decode(column: "price", as: Int64.self), currency: currency),
            quantityAvailable: try row.decode(column: "quantity_available", as: Int?.self),
            quantitySold: try row.decode(column: "quantity_sold", as: Int.self), status: status,
            expiresAt: try row.decode(column: "expires_at", as: Int64?.self).map(Self.timestamp),
            createdAt: Self.timestamp(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Self.timestamp(try row.decode(column: "updated_at", as: Int64.self)))
    }

    // MARK: Escrows

    static func insert(_ escrow: Escrow, checkoutKey: String?, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            INSERT INTO escrows (id, kind, link_id, checkout_key, seller_reference, seller_phone, buyer_phone,
                buyer_name, buyer_reference, title, amount, fee, currency, status, payment_id, gateway, shipping,
                release_due_at, review_reason, created_at, updated_at)
            VALUES (\(bind: escrow.id.description), \(bind: escrow.kind.rawValue), \(bind: escrow.linkID.description),
                \(bind: checkoutKey),
                \(bind: escrow.sellerReference), \(bind: escrow.sellerPhone?.e164), \(bind: escrow.buyerPhone.e164),
                \(bind: escrow.buyerName), \(bind: escrow.buyerReference), \(bind: escrow.title),
                \(bind: escrow.amount.minorUnits),
                \(bind: escrow.fee.minorUnits), \(bind: escrow.amount.currency.code), \(bind: escrow.status.rawValue),
                \(bind: escrow.paymentID), \(bind: escrow.gateway), \(bind: try Self.encodeShipping(escrow.shipping)),
                \(bind: escrow.releaseDueAt.map(Self.millis)), \(bind: escrow.reviewReason),
                \(bind: Self.millis(escrow.createdAt)), \(bind: Self.millis(escrow.updatedAt)))
            """
        ).run()
    }

    /// Writes every mutable field of `escrow`.
    static func update(_ escrow: Escrow, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            UPDATE escrows SET status = \(bind: escrow.status.rawValue),
                shipping = \(bind: try Self.encodeShipping(escrow.shipping)),
                release_due_at = \(bind: escrow.releaseDueAt.map(Self.millis)),
                payment_id = \(bind: escrow.paymentID), gateway = \(bind: escrow.gateway),
                refund_amount = \(bind: escrow.refundAmount), refund_id = \(bind: escrow.refundID),
                refund_attempts = \(bind: escrow.refundAttempts),
                review_reason = \(bind: escrow.reviewReason), rating = \(bind: escrow.rating),
                rating_comment = \(bind: escrow.ratingComment), payout_owed = \(bind: escrow.payoutOwed),
                payout_id = \(bind: escrow.payoutID),
                updated_at = \(bind: Self.millis(escrow.updatedAt))
            WHERE id = \(bind: escrow.id.description)
            """
        ).run()
    }

    static func escrow(
        id: Escrow.ID, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> Escrow? {
        let suffix = lock && kind == .postgres ? " FOR UPDATE" : ""
        return try await connection.raw(
            "SELECT * FROM escrows WHERE id = \(bind: id.description)\(unsafeRaw: suffix)"
        ).first().map(Self.decodeEscrow)
    }

    static func escrow(
        paymentID: String, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> Escrow? {
        let suffix = lock && kind == .postgres ? " FOR UPDATE" : ""
        return try await connection.raw(
            "SELECT * FROM escrows WHERE payment_id = \(bind: paymentID)\(unsafeRaw: suffix)"
        ).first().map(Self.decodeEscrow)
    }

    static func escrow(
        linkID: PaymentLink.ID, checkoutKey: String, on connection: any SQLDatabase
    ) async throws -> Escrow? {
        try await connection.raw(
            """
            SELECT * FROM escrows WHERE link_id = \(bind: linkID.description) AND checkout_key = \(bind: checkoutKey)
            """
        ).first().map(Self.decodeEscrow)
    }

    /// Escrows where the seller is `sellerReference` or the buyer paid with `buyerPhone`, newest first.
    static func escrows(
        sellerReference: String?, buyerPhone: PhoneNumber?, before: Escrow.ID?, limit: Int,
        on connection: any SQLDatabase
    ) async throws -> [Escrow] {
        try await connection.raw(
            """
            SELECT * FROM escrows
            WHERE (seller_reference = \(bind: sellerReference ?? "") OR buyer_phone = \(bind: buyerPhone?.e164 ?? "")
                OR buyer_reference = \(bind: sellerReference ?? ""))
                AND id < \(bind: before?.description ?? "~")
            ORDER BY id DESC LIMIT \(bind: limit)
            """
        ).all().map(Self.decodeEscrow)
    }

    /// Delivered escrows whose inspection window ended, oldest first; with `lock`, locked for this transaction and
    /// skipped by other instances' (PostgreSQL).
    static func dueForRelease(
        now: Timestamp, limit: Int, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> [Escrow] {
        let suffix = lock && kind == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await connection.raw(
            """
            SELECT * FROM escrows
            WHERE release_due_at IS NOT NULL AND release_due_at <= \(bind: Self.millis(now)) AND status = 'delivered'
                AND review_reason IS NULL
            ORDER BY release_due_at LIMIT \(bind: limit)\(unsafeRaw: suffix)
            """
        ).all().map(Self.decodeEscrow)
    }

    /// Per currency, the seller's part of escrows holding money.
    static func held(sellerReference: String, on connection: any SQLDatabase) async throws -> [Currency: Int64] {
        let rows = try await connection.raw(
            """
            SELECT currency, CAST(SUM(amount - fee) AS BIGINT) AS held FROM escrows
            WHERE seller_reference = \(bind: sellerReference)
                AND status IN ('paid', 'shipped', 'delivered', 'disputed')
            GROUP BY currency
            """
        ).all()
        var held: [Currency: Int64] = [:]
        for row in rows {
            if let currency = Currency(code: try row.decode(column: "currency", as: String.self)) {
                held[currency] = try row.decode(column: "held", as: Int64.self)
            }
        }
        return held
    }

    static func decodeEscrow(_ row: any SQLRow) throws -> Escrow {
        let currencyCode = try row.decode(column: "currency", as: String.self)
        guard let id = Escrow.ID(try row.decode(column: "id", as: String.self)),
            let linkID = PaymentLink.ID(try row.decode(column: "link_id", as: String.self)),
            let currency = Currency(code: currencyCode),
            let status = EscrowStatus(rawValue: try row.decode(column: "status", as: String.self)),
            let buyerPhone = try Self.phone(row.decode(column: "buyer_phone", as: String?.self)),
            let kind = EscrowKind(rawValue: try row.decode(column: "kind", as: String.self))
        else { throw CorruptRow(description: "escrows row does not decode") }
        return Escrow(
            id: id, kind: kind, linkID: linkID,
            sellerReference: try row.decode(column: "seller_reference", as: String.self),
            sellerPhone: try Self.phone(row.decode(column: "seller_phone", as: String?.self)),
            buyerPhone: buyerPhone, buyerName: try row.decode(column: "buyer_name", as: String.self),
            title: try row.decode(column: "title", as: String.self),
            amount: Money(minorUnits: try row.decode(column: "amount", as: Int64.self), currency: currency),
            fee: Money(minorUnits: try row.decode(column: "fee", as: Int64.self), currency: currency), status: status,
            paymentID: try row.decode(column: "payment_id", as: String?.self),
            gateway: try row.decode(column: "gateway", as: String.self),
            shipping: try Self.decodeShipping(row.decode(column: "shipping", as: String?.self)),
            releaseDueAt: try row.decode(column: "release_due_at", as: Int64?.self).map(Self.timestamp),
            refundAmount: try row.decode(column: "refund_amount", as: Int64.self),
            refundID: try row.decode(column: "refund_id", as: String?.self),
            refundAttempts: try row.decode(column: "refund_attempts", as: Int.self),
            reviewReason: try row.decode(column: "review_reason", as: String?.self),
            buyerReference: try row.decode(column: "buyer_reference", as: String?.self),
            rating: try row.decode(column: "rating", as: Int?.self),
            ratingComment: try row.decode(column: "rating_comment", as: String?.self),
            payoutOwed: try row.decode(column: "payout_owed", as: Int64.self),
            payoutID: try row.decode(column: "payout_id", as: String?.self),
            createdAt: Self.timestamp(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Self.timestamp(try row.decode(column: "updated_at", as: Int64.self)))
    }

    /// Escrows owed a refund that the payments module does not have (a crash came between, or the gateway refused
    /// the last one), with attempts left.
    static func refundsOwed(limit: Int, attemptsMax: Int, on connection: any SQLDatabase) async throws -> [Escrow] {
        try await connection.raw(
            """
            SELECT * FROM escrows WHERE refund_amount > 0 AND refund_id IS NULL
                AND refund_attempts < \(bind: attemptsMax)
            ORDER BY id LIMIT \(bind: limit)
            """
        ).all().map(Self.decodeEscrow)
    }

    /// Released escrows whose automatic payout does not exist yet.
    static func payoutsOwed(limit: Int, on connection: any SQLDatabase) async throws -> [Escrow] {
        try await connection.raw(
            """
            SELECT * FROM escrows WHERE payout_owed > 0 AND payout_id IS NULL ORDER BY id LIMIT \(bind: limit)
            """
        ).all().map(Self.decodeEscrow)
    }

    // MARK: Disputes

    static func insert(_ dispute: EscrowDispute, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            INSERT INTO escrow_disputes (id, escrow_id, opened_by, reason, evidence, evidence_links, status,
                created_at)
            VALUES (\(bind: dispute.id.description), \(bind: dispute.escrowID.description), \(bind: dispute.openedBy),
                \(bind: dispute.reason), \(bind: dispute.evidence),
                \(bind: String(decoding: try JSONEncoder().encode(dispute.evidenceLinks), as: UTF8.self)),
                \(bind: dispute.status.rawValue), \(bind: Self.millis(dispute.createdAt)))
            """
        ).run()
    }

    static func resolve(_ dispute: EscrowDispute, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            UPDATE escrow_disputes SET status = \(bind: dispute.status.rawValue), outcome = \(bind: dispute.outcome),
                seller_amount = \(bind: dispute.sellerAmount), refund_amount = \(bind: dispute.refundAmount),
                resolution_note = \(bind: dispute.resolutionNote), resolved_by = \(bind: dispute.resolvedBy),
                resolved_at = \(bind: dispute.resolvedAt.map(Self.millis))
            WHERE id = \(bind: dispute.id.description)
            """
        ).run()
    }

    static func dispute(escrowID: Escrow.ID, on connection: any SQLDatabase) async throws -> EscrowDispute? {
        try await connection.raw(
            "SELECT * FROM escrow_disputes WHERE escrow_id = \(bind: escrowID.description)"
        ).first().map { row in
            guard let id = EscrowDispute.ID(try row.decode(column: "id", as: String.self)),
                let status = EscrowDispute.Status(rawValue: try row.decode(column: "status", as: String.self))
            else { throw CorruptRow(description: "escrow_disputes row does not decode") }
            let links = try row.decode(column: "evidence_links", as: String.self)
            return EscrowDispute(
                id: id, escrowID: escrowID, openedBy: try row.decode(column: "opened_by", as: String.self),
                reason: try row.decode(column: "reason", as: String.self),
                evidence: try row.decode(column: "evidence", as: String?.self),
                evidenceLinks: try JSONDecoder().decode([String].self, from: Data(links.utf8)), status: status,
                outcome: try row.decode(column: "outcome", as: String?.self),
                sellerAmount: try row.decode(column: "seller_amount", as: Int64?.self),
                refundAmount: try row.decode(column: "refund_amount", as: Int64?.self),
                resolutionNote: try row.decode(column: "resolution_note", as: String?.self),
                resolvedBy: try row.decode(column: "resolved_by", as: String?.self),
                createdAt: Self.timestamp(try row.decode(column: "created_at", as: Int64.self)),
                resolvedAt: try row.decode(column: "resolved_at", as: Int64?.self).map(Self.timestamp))
        }
    }

    // MARK: Transitions

    /// A step to append to an escrow's log.
    struct NewTransition: Sendable {
        var escrowID: Escrow.ID
        var from: EscrowStatus?
        var to: EscrowStatus
        var event: String
        var actor: String
        var reason: String?
        var at: Timestamp
    }

    /// Appends a step to the escrow's log (the caller holds the escrow's row lock, or the SQLite write lock).
    static func insertTransition(
        escrowID: Escrow.ID, from: EscrowStatus?, to: EscrowStatus, event: String, actor: String, reason: String?,
        at: Timestamp, on connection: any SQLDatabase
    ) async throws {
        try await Self.insertTransitions(
            [NewTransition(escrowID: escrowID, from: from, to: to, event: event, actor: actor, reason: reason, at: at)],
            on: connection)
    }

    /// Appends one step to each of several escrows' logs in one statement (one step per escrow: each takes the next
    /// sequence number of its own log).
    static func insertTransitions(_ entries: [NewTransition], on connection: any SQLDatabase) async throws {
        guard !entries.isEmpty else { return }
        var query = SQLQueryString(
            "INSERT INTO escrow_transitions (escrow_id, sequence, from_status, to_status, event, actor, reason, at) VALUES "
        )
        for (index, entry) in entries.enumerated() {
            if index > 0 { query.appendLiteral(", ") }
            query +=
                ("""
                (\(bind: entry.escrowID.description),
                (SELECT COALESCE(MAX(sequence), 0) + 1 FROM escrow_transitions
                    WHERE escrow_id = \(bind: entry.escrowID.description)),
                \(bind: entry.from?.rawValue), \(bind: entry.to.rawValue), \(bind: entry.event), \(bind: entry.actor),
                \(bind: entry.reason), \(bind: Self.millis(entry.at)))
                """ as SQLQueryString)
        }
        try await connection.raw(query).run()
    }

    /// Writes what a release changes — status, release_due_at, refund_amount, payout_owed, updated_at — for many
    /// escrows in one statement.
    static func updateReleased(_ escrows: [Escrow], on connection: any SQLDatabase) async throws {
        guard !escrows.isEmpty else { return }
        var status = SQLQueryString("CASE id")
        var refund = SQLQueryString("CASE id")
        var payout = SQLQueryString("CASE id")
        var updated = SQLQueryString("CASE id")
        var ids = SQLQueryString("")
        for (index, escrow) in escrows.enumerated() {
            precondition(escrow.releaseDueAt == nil, "a released escrow has no release due")
            let id = escrow.id.description
            status += (" WHEN \(bind: id) THEN \(bind: escrow.status.rawValue)" as SQLQueryString)
            refund += (" WHEN \(bind: id) THEN \(bind: escrow.refundAmount)" as SQLQueryString)
            payout += (" WHEN \(bind: id) THEN \(bind: escrow.payoutOwed)" as SQLQueryString)
            updated += (" WHEN \(bind: id) THEN \(bind: Self.millis(escrow.updatedAt))" as SQLQueryString)
            if index > 0 { ids.appendLiteral(", ") }
            ids += ("\(bind: id)" as SQLQueryString)
        }
        var query = SQLQueryString("UPDATE escrows SET release_due_at = NULL, status = ")
        query += status
        query.appendLiteral(" END, refund_amount = ")
        query += refund
        query.appendLiteral(" END, payout_owed = ")
        query += payout
        query.appendLiteral(" END, updated_at = ")
        query += updated
        query.appendLiteral(" END WHERE id IN (")
        query += ids
        query.appendLiteral(")")
        try await connection.raw(query).run()
    }

    static func transitions(escrowID: Escrow.ID, on connection: any SQLDatabase) async throws -> [EscrowTransition] {
        try await connection.raw(
            "SELECT * FROM escrow_transitions WHERE escrow_id = \(bind: escrowID.description) ORDER BY sequence"
        ).all().map { row in
            guard let to = EscrowStatus(rawValue: try row.decode(column: "to_status", as: String.self)) else {
                throw CorruptRow(description: "escrow_transitions row does not decode")
            }
            return EscrowTransition(
                escrowID: escrowID, sequence: try row.decode(column: "sequence", as: Int.self),
                from: try row.decode(column: "from_status", as: String?.self).flatMap(EscrowStatus.init(rawValue:)),
                to: to, event: try row.decode(column: "event", as: String.self),
                actor: try row.decode(column: "actor", as: String.self),
                reason: try row.decode(column: "reason", as: String?.self),
                at: Self.timestamp(try row.decode(column: "at", as: Int64.self)))
        }
    }

    // MARK: Columns

    static func millis(_ time: Timestamp) -> Int64 { Int64(time.unixMilliseconds) }
    static func timestamp(_ millis: Int64) -> Timestamp { Timestamp(unixMilliseconds: UInt64(max(0, millis))) }

    static func phone(_ text: String?) throws -> PhoneNumber? {
        guard let text else { return nil }
        return try PhoneNumber(parsing: text)
    }

    static func encodeShipping(_ shipping: Escrow.Shipping?) throws -> String? {
        guard let shipping else { return nil }
        return String(decoding: try JSONEncoder().encode(shipping), as: UTF8.self)
    }

    static func decodeShipping(_ text: String?) throws -> Escrow.Shipping? {
        guard let text else { return nil }
        return try JSONDecoder().decode(Escrow.Shipping.self, from: Data(text.utf8))
    }
}
