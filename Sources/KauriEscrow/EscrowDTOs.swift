import Foundation
import Hummingbird
import KauriCore
import KauriHTTP
import KauriPayments

/// `POST /v1/payment-links`.
struct CreatePaymentLinkRequest: Decodable {
    let title: String
    let description: String?
    let price: Int64
    let currency: String
    let quantity: Int?
    let expiresAt: String?
    let kind: String?
    let durationMinutes: Int?

    enum CodingKeys: String, CodingKey {
        case title, description, price, currency, quantity, kind
        case expiresAt = "expires_at"
        case durationMinutes = "duration_minutes"
    }

    static let durationMinutesMax = 24 * 60

    static let titleLengthMax = 120
    static let descriptionLengthMax = 1_000
    static let quantityMax = 1_000_000

    func validated(now: Timestamp) throws(APIError) -> Escrows.NewPaymentLink {
        var errors: [APIError.FieldError] = []
        let title = self.title.trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty || title.count > Self.titleLengthMax {
            errors.append(.init(field: "title", code: "invalid", message: "1–\(Self.titleLengthMax) characters"))
        }
        if let description = self.description, description.count > Self.descriptionLengthMax {
            errors.append(
                .init(
                    field: "description", code: "too_long", message: "at most \(Self.descriptionLengthMax) characters")
            )
        }
        let currency = Currency(code: self.currency)
        if currency == nil {
            errors.append(.init(field: "currency", code: "unsupported", message: "not a supported ISO 4217 code"))
        }
        if self.price <= 0 {
            errors.append(.init(field: "price", code: "not_positive", message: "must be at least 1 minor unit"))
        }
        if let quantity = self.quantity, !(1...Self.quantityMax).contains(quantity) {
            errors.append(.init(field: "quantity", code: "invalid", message: "1–\(Self.quantityMax)"))
        }
        var expiresAt: Timestamp?
        if let text = self.expiresAt {
            expiresAt = Timestamp(rfc3339: text)
            if expiresAt == nil {
                errors.append(.init(field: "expires_at", code: "invalid", message: "an RFC 3339 date-time"))
            } else if let expiresAt, expiresAt <= now {
                errors.append(.init(field: "expires_at", code: "in_the_past", message: "must be in the future"))
            }
        }
        let kind = EscrowKind(rawValue: self.kind ?? EscrowKind.goods.rawValue)
        if kind == nil {
            errors.append(.init(field: "kind", code: "invalid", message: "goods or session"))
        }
        if let minutes = self.durationMinutes {
            if kind != .session {
                errors.append(.init(field: "duration_minutes", code: "not_allowed", message: "sessions only"))
            } else if !(1...Self.durationMinutesMax).contains(minutes) {
                errors.append(
                    .init(field: "duration_minutes", code: "invalid", message: "1–\(Self.durationMinutesMax)"))
            }
        }
        guard errors.isEmpty, let currency, let kind else { throw APIError.validation(errors) }
        return Escrows.NewPaymentLink(
            title: title, description: self.description, price: Money(minorUnits: self.price, currency: currency),
            quantity: self.quantity, expiresAt: expiresAt, kind: kind, durationMinutes: self.durationMinutes)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["title", "price", "currency"],
        "properties": [
            "title": ["type": "string", "maxLength": 120],
            "description": ["type": "string", "maxLength": 1_000],
            "price": ["type": "integer", "minimum": 1, "description": "Minor units."],
            "currency": ["type": "string", "example": "KES"],
            "quantity": ["type": "integer", "minimum": 1, "description": "How many may be sold; omitted: no limit."],
            "expires_at": ["type": "string", "format": "date-time"],
            "kind": [
                "type": "string", "enum": ["goods", "session"],
                "description": "`session`: a partner's session offer (S1), booked with `POST /v1/sessions`.",
            ],
            "duration_minutes": ["type": "integer", "minimum": 1, "maximum": 1_440, "description": "Sessions only."],
        ],
    ]
}

/// `POST /v1/sessions`: a signed-in client books a partner's session offer.
struct BookSessionRequest: Decodable {
    let offerID: String
    let phone: String?
    let name: String?
    let email: String?
    let gateway: String?
    let provider: String?

    enum CodingKeys: String, CodingKey {
        case phone, name, email, gateway, provider
        case offerID = "offer_id"
    }

    /// The checkout it makes: the phone defaults to the client's own, the name to "Client".
    func validated(currency: Currency, callerPhone: PhoneNumber?, callerReference: String) throws(APIError)
        -> Escrows.Checkout
    {
        guard let phone = self.phone ?? callerPhone?.e164 else {
            throw APIError.invalidField("phone", code: "required", "the phone that pays (your account has none)")
        }
        var checkout = try CheckoutRequest(
            phone: phone, name: self.name ?? "Client", email: self.email, gateway: self.gateway,
            provider: self.provider
        ).validated(currency: currency)
        checkout.buyerReference = callerReference
        return checkout
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["offer_id"],
        "properties": [
            "offer_id": ["type": "string", "description": "A payment link of kind `session`."],
            "phone": ["type": "string", "description": "The phone that pays; omitted: the caller's own."],
            "name": ["type": "string", "maxLength": 100],
            "email": ["type": "string"],
            "gateway": ["type": "string"],
            "provider": ["type": "string", "enum": ["mpesa", "mtn", "telecel", "airteltigo"]],
        ],
    ]
}

/// `POST /v1/sessions/{id}/complete`.
struct CompleteSessionRequest: Decodable {
    let rating: Int?
    let comment: String?

    static let commentLengthMax = 1_000

    func validated() throws(APIError) -> (rating: Int?, comment: String?) {
        if let rating = self.rating, !SessionShares.ratings.contains(rating) {
            throw APIError.invalidField("rating", code: "out_of_range", "a whole number from 1 to 5")
        }
        if let comment = self.comment, comment.count > Self.commentLengthMax {
            throw APIError.invalidField("comment", code: "too_long", "at most \(Self.commentLengthMax) characters")
        }
        if self.comment != nil, self.rating == nil {
            throw APIError.invalidField("comment", code: "not_allowed", "a comment goes with a rating")
        }
        return (self.rating, self.comment)
    }

    static let schema: JSONValue = [
        "type": "object",
        "properties": [
            "rating": [
                "type": "integer", "minimum": 1, "maximum": 5,
                "description": "The client's rating (required from the client; the partner sends none).",
            ],
            "comment": ["type": "string", "maxLength": 1_000],
        ],
    ]
}

/// `POST /v1/payment-links/{id}/checkout`.
struct CheckoutRequest: Decodable {
    let phone: String
    let name: String
    let email: String?
    let gateway: String?
    let provider: String?

    static let nameLengthMax = 100

    func validated(currency: Currency) throws(APIError) -> Escrows.Checkout {
        var errors: [APIError.FieldError] = []
        var phone: PhoneNumber?
        do {
            phone = try PhoneNumber(parsing: self.phone, defaultCountry: Payments.phoneCountry(of: currency))
        } catch {
            errors.append(.init(field: "phone", code: "invalid", message: "\(error)"))
        }
        let name = self.name.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty || name.count > Self.nameLengthMax {
            errors.append(.init(field: "name", code: "invalid", message: "1–\(Self.nameLengthMax) characters"))
        }
        if let email = self.email, email.count > 254 || !email.contains("@") || email.contains(where: \.isWhitespace) {
            errors.append(.init(field: "email", code: "invalid", message: "not an email address"))
        }
        var provider: MobileMoneyProvider?
        if let text = self.provider {
            provider = MobileMoneyProvider(rawValue: text)
            if provider == nil {
                errors.append(
                    .init(
                        field: "provider", code: "invalid",
                        message: "one of " + MobileMoneyProvider.allCases.map(\.rawValue).joined(separator: ", ")))
            }
        }
        guard errors.isEmpty, let phone else { throw APIError.validation(errors) }
        return Escrows.Checkout(
            phone: phone, name: name, email: self.email, gateway: self.gateway.map(GatewayName.init(rawValue:)),
            provider: provider)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["phone", "name"],
        "properties": [
            "phone": [
                "type": "string", "description": "The phone that pays (national numbers read in the link's country).",
            ],
            "name": ["type": "string", "maxLength": 100],
            "email": ["type": "string"],
            "gateway": ["type": "string", "description": "Omitted: the preferred gateway for the currency."],
            "provider": ["type": "string", "enum": ["mpesa", "mtn", "telecel", "airteltigo"]],
        ],
    ]
}

/// `POST /v1/escrows/{id}/ship`.
struct ShipRequest: Decodable {
    let carrier: String?
    let trackingNumber: String?
    let note: String?

    enum CodingKeys: String, CodingKey {
        case carrier, note
        case trackingNumber = "tracking_number"
    }

    static let fieldLengthMax = 200

    func validated() throws(APIError) -> Escrow.Shipping {
        for (field, value) in [
            ("carrier", self.carrier), ("tracking_number", self.trackingNumber), ("note", self.note),
        ]
        where (value?.count ?? 0) > Self.fieldLengthMax {
            throw APIError.invalidField(field, code: "too_long", "at most \(Self.fieldLengthMax) characters")
        }
        return Escrow.Shipping(carrier: self.carrier, trackingNumber: self.trackingNumber, note: self.note)
    }

    static let schema: JSONValue = [
        "type": "object",
        "properties": [
            "carrier": ["type": "string"], "tracking_number": ["type": "string"], "note": ["type": "string"],
        ],
    ]
}

/// A payment link as the API shows it. `url` is the hosted checkout page.
struct PaymentLinkResponse: Encodable, Sendable, ResponseEncodable {
    let link: PaymentLink
    let publicURL: String
    /// The seller's own view (with what was sold); buyers see the public fields.
    let forSeller: Bool
    /// When it is shown (for `payable`).
    let now: Timestamp

    enum CodingKeys: String, CodingKey {
        case id, object, url, title, description, price, currency, status, payable, kind
        case durationMinutes = "duration_minutes"
        case quantityAvailable = "quantity_available"
        case quantitySold = "quantity_sold"
        case expiresAt = "expires_at"
        case createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        let link = self.link
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(link.id.description, forKey: .id)
        try container.encode("payment_link", forKey: .object)
        try container.encode(link.kind.rawValue, forKey: .kind)
        if link.kind == .session { try container.encode(link.durationMinutes, forKey: .durationMinutes) }
        try container.encode("\(self.publicURL)/pay/\(link.id)", forKey: .url)
        try container.encode(link.title, forKey: .title)
        try container.encode(link.description, forKey: .description)
        try container.encode(link.price.minorUnits, forKey: .price)
        try container.encode(link.price.currency.code, forKey: .currency)
        try container.encode(link.status.rawValue, forKey: .status)
        try container.encode(link.isPayable(at: self.now), forKey: .payable)
        try container.encode(link.quantityAvailable, forKey: .quantityAvailable)
        if self.forSeller { try container.encode(link.quantitySold, forKey: .quantitySold) }
        try container.encode(link.expiresAt?.rfc3339, forKey: .expiresAt)
        try container.encode(link.createdAt.rfc3339, forKey: .createdAt)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["id", "object", "url", "title", "price", "currency", "status"],
        "properties": [
            "id": ["type": "string", "example": "plink_01jd5..."],
            "object": ["type": "string", "enum": ["payment_link"]],
            "url": ["type": "string", "description": "The hosted checkout page."],
            "title": ["type": "string"], "description": ["type": ["string", "null"]],
            "price": ["type": "integer"], "currency": ["type": "string"],
            "status": ["type": "string", "enum": ["active", "closed"]],
            "payable": ["type": "boolean"],
            "kind": ["type": "string", "enum": ["goods", "session"]],
            "duration_minutes": ["type": ["integer", "null"]],
            "quantity_available": ["type": ["integer", "null"]], "quantity_sold": ["type": "integer"],
            "expires_at": ["type": ["string", "null"], "format": "date-time"],
            "created_at": ["type": "string", "format": "date-time"],
        ],
    ]
}

/// An escrow as the API shows it to one party: the other party's phone is masked.
struct EscrowResponse: Encodable, Sendable, ResponseEncodable {
    let escrow: Escrow
    let timeline: [EscrowTransition]?
    let role: Escrows.Role
    let payment: Payment?
    var dispute: EscrowDispute? = nil

    enum CodingKeys: String, CodingKey {
        case id, object, status, title, amount, fee, currency, buyer, seller, gateway, shipping, timeline, role
        case payment, dispute, review, kind, rating
        case ratingComment = "rating_comment"
        case payoutID = "payout_id"
        case linkID = "link_id"
        case refundAmount = "refund_amount"
        case refundID = "refund_id"
        case refundAttempts = "refund_attempts"
        case sellerAmount = "seller_amount"
        case paymentID = "payment_id"
        case releaseDueAt = "release_due_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        let escrow = self.escrow
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(escrow.id.description, forKey: .id)
        try container.encode("escrow", forKey: .object)
        try container.encode(escrow.status.rawValue, forKey: .status)
        try container.encode(escrow.kind.rawValue, forKey: .kind)
        if escrow.kind == .session {
            try container.encode(escrow.rating, forKey: .rating)
            try container.encode(escrow.ratingComment, forKey: .ratingComment)
        }
        try container.encode(escrow.linkID.description, forKey: .linkID)
        try container.encode(escrow.title, forKey: .title)
        try container.encode(escrow.amount.minorUnits, forKey: .amount)
        try container.encode(escrow.fee.minorUnits, forKey: .fee)
        try container.encode(escrow.sellerAmount.minorUnits, forKey: .sellerAmount)
        try container.encode(escrow.amount.currency.code, forKey: .currency)
        try container.encode(self.role.rawValue, forKey: .role)
        let buyerPhone = self.role == .seller ? escrow.buyerPhone.masked : escrow.buyerPhone.e164
        try container.encode(["name": escrow.buyerName, "phone": buyerPhone], forKey: .buyer)
        let sellerPhone = self.role == .buyer ? escrow.sellerPhone?.masked : escrow.sellerPhone?.e164
        try container.encode(["phone": sellerPhone], forKey: .seller)
        try container.encode(escrow.paymentID, forKey: .paymentID)
        try container.encode(escrow.gateway, forKey: .gateway)
        try container.encode(escrow.shipping, forKey: .shipping)
        try container.encode(escrow.releaseDueAt?.rfc3339, forKey: .releaseDueAt)
        try container.encode(escrow.refundAmount, forKey: .refundAmount)
        try container.encode(escrow.refundID, forKey: .refundID)
        try container.encode(escrow.refundAttempts, forKey: .refundAttempts)
        try container.encode(escrow.payoutID, forKey: .payoutID)
        try container.encode(escrow.reviewReason, forKey: .review)
        if let dispute = self.dispute {
            try container.encode(
                DisputeEntry(
                    id: dispute.id.description, status: dispute.status.rawValue, openedBy: dispute.openedBy,
                    reason: dispute.reason, evidence: dispute.evidence, evidenceLinks: dispute.evidenceLinks,
                    outcome: dispute.outcome, sellerAmount: dispute.sellerAmount, refundAmount: dispute.refundAmount,
                    resolutionNote: dispute.resolutionNote, createdAt: dispute.createdAt.rfc3339,
                    resolvedAt: dispute.resolvedAt?.rfc3339), forKey: .dispute)
        }
        try container.encode(escrow.createdAt.rfc3339, forKey: .createdAt)
        try container.encode(escrow.updatedAt.rfc3339, forKey: .updatedAt)
        if let timeline = self.timeline {
            try container.encode(
                timeline.map {
                    TimelineEntry(
                        status: $0.to.rawValue, event: $0.event, actor: $0.actor, reason: $0.reason, at: $0.at.rfc3339)
                }, forKey: .timeline)
        }
        if let payment = self.payment { try container.encode(PaymentResponse(payment), forKey: .payment) }
    }

    struct DisputeEntry: Encodable {
        let id: String
        let status: String
        let openedBy: String
        let reason: String
        let evidence: String?
        let evidenceLinks: [String]
        let outcome: String?
        let sellerAmount: Int64?
        let refundAmount: Int64?
        let resolutionNote: String?
        let createdAt: String
        let resolvedAt: String?

        enum CodingKeys: String, CodingKey {
            case id, status, reason, evidence, outcome
            case openedBy = "opened_by"
            case evidenceLinks = "evidence_links"
            case sellerAmount = "seller_amount"
            case refundAmount = "refund_amount"
            case resolutionNote = "resolution_note"
            case createdAt = "created_at"
            case resolvedAt = "resolved_at"
        }
    }

    struct TimelineEntry: Encodable {
        let status: String
        let event: String
        let actor: String
        let reason: String?
        let at: String
    }

    static let schema: JSONValue = [
        "type": "object",
        "required": ["id", "object", "status", "amount", "fee", "seller_amount", "currency", "buyer", "created_at"],
        "properties": [
            "id": ["type": "string", "example": "esc_01jd5..."], "object": ["type": "string", "enum": ["escrow"]],
            "status": [
                "type": "string",
                "enum": [
                    "pending", "paid", "shipped", "delivered", "completed", "disputed", "refunded", "cancelled",
                    "expired",
                ],
            ],
            "kind": ["type": "string", "enum": ["goods", "session"]],
            "rating": ["type": ["integer", "null"], "description": "Sessions: the client's rating, 1–5."],
            "rating_comment": ["type": ["string", "null"]],
            "link_id": ["type": "string"], "title": ["type": "string"],
            "amount": ["type": "integer"], "fee": ["type": "integer"], "seller_amount": ["type": "integer"],
            "currency": ["type": "string"],
            "role": ["type": "string", "enum": ["seller", "buyer", "admin"], "description": "The caller's part."],
            "buyer": ["type": "object", "description": "{name, phone}; the phone is masked for the seller."],
            "seller": ["type": "object", "description": "{phone}; masked for the buyer."],
            "payment_id": ["type": ["string", "null"]], "gateway": ["type": "string"],
            "shipping": ["type": ["object", "null"]],
            "release_due_at": [
                "type": ["string", "null"], "format": "date-time",
                "description": "Delivered: when the money is released if the buyer does nothing.",
            ],
            "timeline": ["type": "array", "items": ["type": "object"]],
            "refund_amount": ["type": "integer", "description": "What a dispute's resolution returns to the buyer."],
            "refund_id": ["type": ["string", "null"], "description": "That refund in the payments API."],
            "refund_attempts": [
                "type": "integer", "description": "Refunds the gateway refused so far (a new one is made, up to 3).",
            ],
            "payout_id": [
                "type": ["string", "null"], "description": "The automatic payout of the released money, if any.",
            ],
            "review": [
                "type": ["string", "null"],
                "description": "Why the risk check held it (no release until an admin clears it).",
            ],
            "dispute": [
                "type": "object",
                "description": "The escrow's dispute: id, status, opened_by, reason, evidence, outcome, amounts.",
            ],
            "payment": ["type": "object", "description": "Checkout only: the payment and its next_action."],
            "created_at": ["type": "string", "format": "date-time"],
            "updated_at": ["type": "string", "format": "date-time"],
        ],
    ]
}

/// `POST /v1/escrows/{id}/disputes`.
struct OpenDisputeRequest: Decodable {
    let reason: String
    let evidence: String?
    let evidenceLinks: [String]?

    enum CodingKeys: String, CodingKey {
        case reason, evidence
        case evidenceLinks = "evidence_links"
    }

    static let reasonLengthMax = 500
    static let evidenceLengthMax = 5_000
    static let linksMax = 10
    static let linkLengthMax = 2_048

    func validated() throws(APIError) -> Escrows.NewDispute {
        var errors: [APIError.FieldError] = []
        let reason = self.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        if reason.isEmpty || reason.count > Self.reasonLengthMax {
            errors.append(.init(field: "reason", code: "invalid", message: "1–\(Self.reasonLengthMax) characters"))
        }
        if let evidence = self.evidence, evidence.count > Self.evidenceLengthMax {
            errors.append(
                .init(field: "evidence", code: "too_long", message: "at most \(Self.evidenceLengthMax) characters"))
        }
        let links = self.evidenceLinks ?? []
        if links.count > Self.linksMax
            || links.contains(where: { link in
                let url = URL(string: link)
                return link.count > Self.linkLengthMax || url?.host == nil
                    || !["http", "https"].contains(url?.scheme?.lowercased() ?? "")
            })
        {
            errors.append(
                .init(
                    field: "evidence_links", code: "invalid",
                    message: "at most \(Self.linksMax) absolute http(s) URLs"))
        }
        guard errors.isEmpty else { throw APIError.validation(errors) }
        return Escrows.NewDispute(reason: reason, evidence: self.evidence, evidenceLinks: links)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["reason"],
        "properties": [
            "reason": ["type": "string", "maxLength": 500],
            "evidence": ["type": "string", "maxLength": 5_000, "description": "What happened, in words."],
            "evidence_links": ["type": "array", "items": ["type": "string"], "maxItems": 10],
        ],
    ]
}

/// `POST /v1/escrows/{id}/dispute/resolve`.
struct ResolveDisputeRequest: Decodable {
    let outcome: String
    let sellerAmount: Int64?
    let note: String?

    enum CodingKeys: String, CodingKey {
        case outcome, note
        case sellerAmount = "seller_amount"
    }

    static let noteLengthMax = 1_000

    func validated() throws(APIError) -> (EscrowDispute.Resolution, String?) {
        if let note = self.note, note.count > Self.noteLengthMax {
            throw APIError.invalidField("note", code: "too_long", "at most \(Self.noteLengthMax) characters")
        }
        switch self.outcome {
        case "release": return (.release, self.note)
        case "refund": return (.refund, self.note)
        case "split":
            guard let sellerAmount = self.sellerAmount else {
                throw APIError.invalidField("seller_amount", code: "required", "a split names the seller's part")
            }
            return (.split(sellerAmount: sellerAmount), self.note)
        default:
            throw APIError.invalidField("outcome", code: "invalid", "release, refund or split")
        }
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["outcome"],
        "properties": [
            "outcome": ["type": "string", "enum": ["release", "refund", "split"]],
            "seller_amount": [
                "type": "integer", "minimum": 1,
                "description": "split: the seller's part (before its share of the fee); the rest is refunded.",
            ],
            "note": ["type": "string", "maxLength": 1_000],
        ],
    ]
}

extension Escrows.Checkout {
    /// Reads a hosted checkout form's phone and name, by the JSON checkout's rules.
    public static func fromForm(phone: String, name: String, currency: Currency) throws(APIError) -> Escrows.Checkout {
        try CheckoutRequest(phone: phone, name: name, email: nil, gateway: nil, provider: nil)
            .validated(currency: currency)
    }
}
