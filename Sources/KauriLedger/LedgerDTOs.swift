import Foundation
import Hummingbird
import KauriCore
import KauriHTTP

/// An account as the API shows it.
struct AccountResponse: ResponseEncodable, Sendable {
    let account: LedgerAccount
    let balances: LedgerAccount.Balances
    let asOf: Timestamp?

    init(_ account: LedgerAccount, balances: LedgerAccount.Balances? = nil, asOf: Timestamp? = nil) {
        self.account = account
        self.balances = balances ?? account.balances
        self.asOf = asOf
    }

    enum CodingKeys: String, CodingKey {
        case id, currency, code, flags, available
        case ownerReference = "owner_reference"
        case debitsPending = "debits_pending"
        case debitsPosted = "debits_posted"
        case creditsPending = "credits_pending"
        case creditsPosted = "credits_posted"
        case createdAt = "created_at"
        case asOf = "as_of"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.account.id.rawValue, forKey: .id)
        try container.encode(self.account.currency.code, forKey: .currency)
        try container.encode(self.account.code.rawValue, forKey: .code)
        try container.encode(self.account.ownerReference, forKey: .ownerReference)
        try container.encode(self.account.flags.names, forKey: .flags)
        try container.encode(self.balances.debitsPending, forKey: .debitsPending)
        try container.encode(self.balances.debitsPosted, forKey: .debitsPosted)
        try container.encode(self.balances.creditsPending, forKey: .creditsPending)
        try container.encode(self.balances.creditsPosted, forKey: .creditsPosted)
        try container.encode(self.balances.available, forKey: .available)
        try container.encode(self.account.createdAt.rfc3339, forKey: .createdAt)
        if let asOf = self.asOf { try container.encode(asOf.rfc3339, forKey: .asOf) }
    }

    static let schema: JSONValue = [
        "type": "object",
        "required": [
            "id", "currency", "code", "owner_reference", "flags", "debits_pending", "debits_posted",
            "credits_pending", "credits_posted", "available", "created_at",
        ],
        "properties": [
            "id": ["type": "string"], "currency": ["type": "string"], "code": ["type": "string"],
            "owner_reference": ["type": ["string", "null"]],
            "flags": ["type": "array", "items": ["type": "string"]],
            "debits_pending": ["type": "integer"], "debits_posted": ["type": "integer"],
            "credits_pending": ["type": "integer"], "credits_posted": ["type": "integer"],
            "available": [
                "type": "integer", "description": "credits_posted − debits_posted − debits_pending",
            ],
            "created_at": ["type": "string", "format": "date-time"],
            "as_of": ["type": "string", "format": "date-time"],
        ],
    ]
}

/// A transfer as the API shows it.
struct TransferResponse: Encodable, Sendable {
    let transfer: LedgerTransfer

    enum CodingKeys: String, CodingKey {
        case id, amount, currency, code, reference, kind
        case debitAccountID = "debit_account_id"
        case creditAccountID = "credit_account_id"
        case pendingID = "pending_id"
        case expiresAt = "expires_at"
        case createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.transfer.id.rawValue, forKey: .id)
        try container.encode(self.transfer.kind.rawValue, forKey: .kind)
        try container.encode(self.transfer.debitAccountID.rawValue, forKey: .debitAccountID)
        try container.encode(self.transfer.creditAccountID.rawValue, forKey: .creditAccountID)
        try container.encode(self.transfer.amount.minorUnits, forKey: .amount)
        try container.encode(self.transfer.amount.currency.code, forKey: .currency)
        try container.encode(self.transfer.code, forKey: .code)
        try container.encode(self.transfer.reference, forKey: .reference)
        try container.encode(self.transfer.pendingID?.rawValue, forKey: .pendingID)
        try container.encode(self.transfer.expiresAt?.rfc3339, forKey: .expiresAt)
        try container.encode(self.transfer.timestamp.rfc3339, forKey: .createdAt)
    }

    static let schema: JSONValue = [
        "type": "object",
        "required": [
            "id", "kind", "debit_account_id", "credit_account_id", "amount", "currency", "code", "reference",
            "pending_id", "expires_at", "created_at",
        ],
        "properties": [
            "id": ["type": "string"],
            "kind": ["type": "string", "enum": ["single", "pending", "post", "void", "expire"]],
            "debit_account_id": ["type": "string"], "credit_account_id": ["type": "string"],
            "amount": ["type": "integer", "description": "Minor units."], "currency": ["type": "string"],
            "code": ["type": "string"], "reference": ["type": ["string", "null"]],
            "pending_id": ["type": ["string", "null"]],
            "expires_at": ["type": ["string", "null"], "format": "date-time"],
            "created_at": ["type": "string", "format": "date-time"],
        ],
    ]
}

/// `POST /v1/ledger/accounts`.
struct CreateAccountRequest: Decodable {
    let id: String
    let currency: String
    let code: String
    let ownerReference: String?
    let flags: [String]?

    enum CodingKeys: String, CodingKey {
        case id, currency, code, flags
        case ownerReference = "owner_reference"
    }

    func validated() throws(APIError) -> NewAccount {
        var errors: [APIError.FieldError] = []
        let id = LedgerAccount.ID(self.id)
        if id == nil {
            errors.append(
                .init(field: "id", code: "invalid", message: "1–128 characters of A–Z a–z 0–9 _ - . :"))
        }
        let currency = Currency(code: self.currency)
        if currency == nil {
            errors.append(.init(field: "currency", code: "unsupported", message: "not a supported ISO 4217 code"))
        }
        let code = LedgerAccount.Code(self.code)
        if code == nil {
            errors.append(.init(field: "code", code: "invalid", message: "1–40 characters of a–z 0–9 _"))
        }
        var flags: LedgerAccount.Flags = []
        for (index, name) in (self.flags ?? []).enumerated() {
            switch name {
            case "debits_must_not_exceed_credits": flags.insert(.debitsMustNotExceedCredits)
            case "credits_must_not_exceed_debits": flags.insert(.creditsMustNotExceedDebits)
            case "history": flags.insert(.history)
            default: errors.append(.init(field: "flags[\(index)]", code: "unknown", message: "unknown flag '\(name)'"))
            }
        }
        guard errors.isEmpty, let id, let currency, let code else { throw APIError.validation(errors) }
        return NewAccount(id: id, currency: currency, code: code, ownerReference: self.ownerReference, flags: flags)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["id", "currency", "code"],
        "properties": [
            "id": ["type": "string", "maxLength": 128], "currency": ["type": "string"],
            "code": ["type": "string", "maxLength": 40], "owner_reference": ["type": "string"],
            "flags": [
                "type": "array",
                "items": [
                    "type": "string",
                    "enum": ["debits_must_not_exceed_credits", "credits_must_not_exceed_debits", "history"],
                ],
            ],
        ],
    ]
}

/// `POST /v1/ledger/transfers`: a linked chain of 1–100 transfers.
struct CreateTransfersRequest: Decodable {
    let transfers: [Item]

    struct Item: Decodable {
        let id: String
        let kind: String
        let debitAccountID: String?
        let creditAccountID: String?
        let amount: Int64?
        let currency: String?
        let code: String
        let reference: String?
        let timeoutSeconds: Int64?
        let pendingID: String?

        enum CodingKeys: String, CodingKey {
            case id, kind, amount, currency, code, reference
            case debitAccountID = "debit_account_id"
            case creditAccountID = "credit_account_id"
            case timeoutSeconds = "timeout_seconds"
            case pendingID = "pending_id"
        }
    }

    func validated() throws(APIError) -> [NewTransfer] {
        guard (1...LedgerLimits.chainTransfersMax).contains(self.transfers.count) else {
            throw APIError.invalidField(
                "transfers", code: "count", "1 to \(LedgerLimits.chainTransfersMax) transfers per request")
        }
        var errors: [APIError.FieldError] = []
        var chain: [NewTransfer] = []
        for (index, item) in self.transfers.enumerated() {
            let path = "transfers[\(index)]"
            func fail(_ field: String, _ code: String, _ message: String) {
                errors.append(.init(field: "\(path).\(field)", code: code, message: message))
            }
            func account(_ value: String?, _ field: String) -> LedgerAccount.ID? {
                guard let value else {
                    fail(field, "required", "required for kind \(item.kind)")
                    return nil
                }
                guard let id = LedgerAccount.ID(value) else {
                    fail(field, "invalid", "not an account id")
                    return nil
                }
                return id
            }
            func pendingID() -> LedgerTransfer.ID? {
                guard let value = item.pendingID else {
                    fail("pending_id", "required", "required for kind \(item.kind)")
                    return nil
                }
                guard let id = LedgerTransfer.ID(value) else {
                    fail("pending_id", "invalid", "not a transfer id")
                    return nil
                }
                return id
            }
            func money() -> Money? {
                guard let amount = item.amount else {
                    fail("amount", "required", "required for kind \(item.kind)")
                    return nil
                }
                guard let code = item.currency else {
                    fail("currency", "required", "required for kind \(item.kind)")
                    return nil
                }
                guard let currency = Currency(code: code) else {
                    fail("currency", "unsupported", "not a supported ISO 4217 code")
                    return nil
                }
                return Money(minorUnits: amount, currency: currency)
            }
            let id = LedgerTransfer.ID(item.id)
            if id == nil { fail("id", "invalid", "1–128 characters of A–Z a–z 0–9 _ - . :") }
            var operation: NewTransfer.Operation?
            switch item.kind {
            case "single", "pending":
                let debit = account(item.debitAccountID, "debit_account_id")
                let credit = account(item.creditAccountID, "credit_account_id")
                let amount = money()
                if let debit, let credit, let amount {
                    operation =
                        item.kind == "single"
                        ? .single(debit: debit, credit: credit, amount: amount)
                        : .pending(debit: debit, credit: credit, amount: amount, timeoutSeconds: item.timeoutSeconds)
                }
            case "post":
                if let pending = pendingID() { operation = .post(pendingID: pending, amount: item.amount) }
            case "void":
                if let pending = pendingID() { operation = .void(pendingID: pending) }
            default:
                fail("kind", "invalid", "one of single, pending, post, void")
            }
            if let id, let operation {
                chain.append(NewTransfer(id: id, operation: operation, code: item.code, reference: item.reference))
            }
        }
        guard errors.isEmpty else { throw APIError.validation(errors) }
        return chain
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["transfers"],
        "properties": [
            "transfers": [
                "type": "array", "minItems": 1, "maxItems": 100,
                "description": "A linked chain: all transfers commit or none does.",
                "items": [
                    "type": "object", "required": ["id", "kind", "code"],
                    "properties": [
                        "id": ["type": "string", "maxLength": 128],
                        "kind": ["type": "string", "enum": ["single", "pending", "post", "void"]],
                        "debit_account_id": ["type": "string"], "credit_account_id": ["type": "string"],
                        "amount": ["type": "integer", "description": "Minor units; for post, omit to post all."],
                        "currency": ["type": "string"], "code": ["type": "string", "maxLength": 40],
                        "reference": ["type": "string", "maxLength": 255],
                        "timeout_seconds": ["type": "integer", "minimum": 1],
                        "pending_id": ["type": "string"],
                    ],
                ],
            ]
        ],
    ]
}

/// A list without pagination.
struct ListResponse<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    let data: [Item]
}

/// What an owner has in one currency, across modules: `GET /v1/balances`' `summary`.
public struct BalanceSummary: Encodable, Sendable, Hashable {
    public var currency: String
    /// The payable's posted balance less its pending debits: what may be paid out now.
    public var available: Int64
    /// Paid into escrow for this owner, not released yet (their part, after the fee).
    public var held: Int64
    /// Payouts sent but not confirmed yet.
    public var inTransit: Int64

    public init(currency: String, available: Int64, held: Int64, inTransit: Int64) {
        self.currency = currency
        self.available = available
        self.held = held
        self.inTransit = inTransit
    }

    enum CodingKeys: String, CodingKey {
        case currency, available, held
        case inTransit = "in_transit"
    }
}

/// `GET /v1/balances`.
struct BalancesResponse: ResponseEncodable, Sendable {
    let data: [AccountResponse]
    let summary: [BalanceSummary]
}
