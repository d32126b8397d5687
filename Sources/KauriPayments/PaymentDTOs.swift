import Foundation
import Hummingbird
import KauriCore
import KauriHTTP
import KauriLedger

/// `POST /v1/payments`.
struct CreatePaymentRequest: Decodable {
    struct Method: Decodable {
        let type: String
        let phone: String?
        let provider: String?
    }
    struct Customer: Decodable {
        let email: String?
        let name: String?
    }

    let amount: Int64
    let currency: String
    let gateway: String
    let method: Method
    let customer: Customer?
    let reference: String?
    let metadata: [String: String]?
    let returnURL: String?

    enum CodingKeys: String, CodingKey {
        case amount, currency, gateway, method, customer, reference, metadata
        case returnURL = "return_url"
    }

    /// Named limits on what a caller may attach.
    /// The country whose mobile numbers pay in `currency`, for numbers given without a country code.
    static func country(of currency: Currency) -> PhoneNumber.Country? {
        switch currency.code {
        case "GHS": .ghana
        case "NGN": .nigeria
        case "KES": .kenya
        case "UGX": .uganda
        case "TZS": .tanzania
        case "RWF": .rwanda
        case "ZAR": .southAfrica
        case "INR": .india
        default: nil
        }
    }

    static let referenceLengthMax = 100
    static let metadataKeysMax = 20
    static let metadataKeyLengthMax = 40
    static let metadataValueLengthMax = 500
    static let urlLengthMax = 2_048
    static let emailLengthMax = 254
    static let nameLengthMax = 100

    func validated() throws(APIError) -> Payments.NewPayment {
        var errors: [APIError.FieldError] = []
        let currency = Currency(code: self.currency)
        if currency == nil {
            errors.append(.init(field: "currency", code: "unsupported", message: "not a supported ISO 4217 code"))
        }
        if self.amount <= 0 {
            errors.append(.init(field: "amount", code: "not_positive", message: "must be at least 1 minor unit"))
        }
        if self.gateway.isEmpty || self.gateway.count > 40 || !self.gateway.allSatisfy({ $0.isLowercase && $0.isASCII })
        {
            errors.append(.init(field: "gateway", code: "invalid", message: "a gateway name such as paystack"))
        }
        var method: Payment.Method?
        switch self.method.type {
        case "redirect":
            method = .redirect
        case "mobile_money":
            let provider = self.method.provider.flatMap(MobileMoneyProvider.init(rawValue:))
            if provider == nil {
                errors.append(
                    .init(
                        field: "method.provider", code: "invalid",
                        message: "one of " + MobileMoneyProvider.allCases.map(\.rawValue).joined(separator: ", ")))
            }
            var phone: PhoneNumber?
            do {
                // A national number (`0708 374 149`) is read in the country of the payment's currency.
                phone = try PhoneNumber(
                    parsing: self.method.phone ?? "", defaultCountry: currency.flatMap(Self.country))
            } catch {
                errors.append(.init(field: "method.phone", code: "invalid", message: "\(error)"))
            }
            if let phone, let provider { method = .mobileMoney(phone: phone, provider: provider) }
        default:
            errors.append(.init(field: "method.type", code: "invalid", message: "redirect or mobile_money"))
        }
        let email = self.customer?.email?.trimmingCharacters(in: .whitespaces)
        if let email, email.count > Self.emailLengthMax || !Self.looksLikeEmail(email) {
            errors.append(.init(field: "customer.email", code: "invalid", message: "not an email address"))
        }
        if let name = self.customer?.name, name.count > Self.nameLengthMax {
            errors.append(
                .init(field: "customer.name", code: "too_long", message: "at most \(Self.nameLengthMax) characters"))
        }
        if let reference = self.reference, reference.isEmpty || reference.count > Self.referenceLengthMax {
            errors.append(
                .init(field: "reference", code: "invalid", message: "1–\(Self.referenceLengthMax) characters"))
        }
        let metadata = self.metadata ?? [:]
        if metadata.count > Self.metadataKeysMax
            || metadata.contains(where: {
                $0.key.isEmpty || $0.key.count > Self.metadataKeyLengthMax
                    || $0.value.count > Self.metadataValueLengthMax
            })
        {
            errors.append(
                .init(
                    field: "metadata", code: "invalid",
                    message: "at most \(Self.metadataKeysMax) keys of ≤ \(Self.metadataKeyLengthMax) characters, "
                        + "string values of ≤ \(Self.metadataValueLengthMax)"))
        }
        if let url = self.returnURL {
            let parsed = URL(string: url)
            if url.count > Self.urlLengthMax || parsed?.host == nil
                || !["http", "https"].contains(parsed?.scheme?.lowercased() ?? "")
            {
                errors.append(.init(field: "return_url", code: "invalid", message: "an absolute http(s) URL"))
            }
        }
        guard errors.isEmpty, let currency, let method else { throw APIError.validation(errors) }
        return Payments.NewPayment(
            amount: Money(minorUnits: self.amount, currency: currency), gateway: GatewayName(rawValue: self.gateway),
            method: method, customerEmail: email, customerName: self.customer?.name, reference: self.reference,
            metadata: metadata, returnURL: self.returnURL)
    }

    private static func looksLikeEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !text.contains(where: \.isWhitespace)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["amount", "currency", "gateway", "method"],
        "properties": [
            "amount": ["type": "integer", "minimum": 1, "description": "Minor units (kobo, pesewas, cents)."],
            "currency": ["type": "string", "example": "KES"],
            "gateway": ["type": "string", "example": "mpesa"],
            "method": [
                "type": "object", "required": ["type"],
                "properties": [
                    "type": ["type": "string", "enum": ["redirect", "mobile_money"]],
                    "phone": ["type": "string", "description": "mobile_money: the payer's phone."],
                    "provider": ["type": "string", "enum": ["mpesa", "mtn", "telecel", "airteltigo"]],
                ],
            ],
            "customer": [
                "type": "object", "properties": ["email": ["type": "string"], "name": ["type": "string"]],
            ],
            "reference": ["type": "string", "description": "Your own reference, e.g. an order number."],
            "metadata": ["type": "object", "additionalProperties": ["type": "string"]],
            "return_url": ["type": "string", "description": "Redirect checkout: where the customer lands after."],
        ],
    ]
}

/// `POST /v1/payments/{id}/refunds`.
struct CreateRefundRequest: Decodable {
    let amount: Int64?
    let reason: String?

    static let reasonLengthMax = 200

    func validated() throws(APIError) -> (Int64?, String?) {
        if let amount = self.amount, amount <= 0 {
            throw APIError.invalidField("amount", code: "not_positive", "must be at least 1 minor unit")
        }
        if let reason = self.reason, reason.count > Self.reasonLengthMax {
            throw APIError.invalidField("reason", code: "too_long", "at most \(Self.reasonLengthMax) characters")
        }
        return (self.amount, self.reason)
    }

    static let schema: JSONValue = [
        "type": "object",
        "properties": [
            "amount": ["type": "integer", "minimum": 1, "description": "Minor units; omitted: all that is left."],
            "reason": ["type": "string"],
        ],
    ]
}

/// A payment as the API shows it (and as `payment.*` events carry it).
public struct PaymentResponse: Encodable, Sendable, ResponseEncodable {
    let payment: Payment

    public init(_ payment: Payment) {
        self.payment = payment
    }

    enum CodingKeys: String, CodingKey {
        case id, object, status, amount, currency, gateway, method, customer, reference, metadata, failure, review
        case returnURL = "return_url"
        case nextAction = "next_action"
        case amountRefunded = "amount_refunded"
        case amountRefundable = "amount_refundable"
        case providerReference = "provider_reference"
        case providerTransactionID = "provider_transaction_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case succeededAt = "succeeded_at"
        case expiresAt = "expires_at"
    }

    public func encode(to encoder: any Encoder) throws {
        let payment = self.payment
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(payment.id.description, forKey: .id)
        try container.encode("payment", forKey: .object)
        try container.encode(payment.status.rawValue, forKey: .status)
        try container.encode(payment.amount.minorUnits, forKey: .amount)
        try container.encode(payment.amount.currency.code, forKey: .currency)
        try container.encode(payment.gateway.rawValue, forKey: .gateway)
        switch payment.method {
        case .redirect:
            try container.encode(["type": "redirect"], forKey: .method)
        case .mobileMoney(let phone, let provider):
            try container.encode(
                ["type": "mobile_money", "phone": phone.masked, "provider": provider.rawValue], forKey: .method)
        }
        var customer: [String: String] = [:]
        customer["email"] = payment.customerEmail
        customer["name"] = payment.customerName
        try container.encode(customer, forKey: .customer)
        try container.encode(payment.reference, forKey: .reference)
        try container.encode(payment.metadata, forKey: .metadata)
        try container.encode(payment.returnURL, forKey: .returnURL)
        switch payment.nextAction {
        case nil:
            try container.encodeNil(forKey: .nextAction)
        case .redirect(let url):
            try container.encode(["type": "redirect", "redirect_url": url], forKey: .nextAction)
        case .confirmOnPhone(let text):
            try container.encode(["type": "confirm_on_phone", "display_text": text], forKey: .nextAction)
        }
        try container.encode(payment.failure.map { ["code": $0.code, "message": $0.message] }, forKey: .failure)
        try container.encode(payment.reviewReason.map { ["reason": $0.rawValue] }, forKey: .review)
        try container.encode(payment.amountRefunded, forKey: .amountRefunded)
        try container.encode(payment.amountRefundable, forKey: .amountRefundable)
        try container.encode(payment.providerReference, forKey: .providerReference)
        try container.encode(payment.providerTransactionID, forKey: .providerTransactionID)
        try container.encode(payment.createdAt.rfc3339, forKey: .createdAt)
        try container.encode(payment.updatedAt.rfc3339, forKey: .updatedAt)
        try container.encode(payment.succeededAt?.rfc3339, forKey: .succeededAt)
        try container.encode(payment.expiresAt.rfc3339, forKey: .expiresAt)
    }

    static let schema: JSONValue = [
        "type": "object",
        "required": ["id", "object", "status", "amount", "currency", "gateway", "method", "next_action", "created_at"],
        "properties": [
            "id": ["type": "string", "example": "pay_01jd5..."], "object": ["type": "string", "enum": ["payment"]],
            "status": [
                "type": "string",
                "enum": ["requires_action", "processing", "succeeded", "failed", "cancelled", "expired"],
            ],
            "amount": ["type": "integer"], "currency": ["type": "string"], "gateway": ["type": "string"],
            "method": ["type": "object"], "customer": ["type": "object"],
            "reference": ["type": ["string", "null"]], "metadata": ["type": "object"],
            "return_url": ["type": ["string", "null"]],
            "next_action": [
                "type": ["object", "null"],
                "description": "redirect: {type, redirect_url}; mobile money: {type: confirm_on_phone, display_text}",
            ],
            "failure": ["type": ["object", "null"]],
            "review": ["type": ["object", "null"], "description": "Set when the payment is held for review."],
            "amount_refunded": ["type": "integer"], "amount_refundable": ["type": "integer"],
            "provider_reference": ["type": ["string", "null"]],
            "provider_transaction_id": ["type": ["string", "null"]],
            "created_at": ["type": "string", "format": "date-time"],
            "updated_at": ["type": "string", "format": "date-time"],
            "succeeded_at": ["type": ["string", "null"], "format": "date-time"],
            "expires_at": ["type": "string", "format": "date-time"],
        ],
    ]
}

/// A refund as the API shows it.
public struct RefundResponse: Encodable, Sendable, ResponseEncodable {
    let refund: Refund

    public init(_ refund: Refund) {
        self.refund = refund
    }

    enum CodingKeys: String, CodingKey {
        case id, object, status, amount, currency, reason, failure
        case paymentID = "payment_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.refund.id.description, forKey: .id)
        try container.encode("refund", forKey: .object)
        try container.encode(self.refund.paymentID.description, forKey: .paymentID)
        try container.encode(self.refund.status.rawValue, forKey: .status)
        try container.encode(self.refund.amount.minorUnits, forKey: .amount)
        try container.encode(self.refund.amount.currency.code, forKey: .currency)
        try container.encode(self.refund.reason, forKey: .reason)
        try container.encode(self.refund.failure.map { ["code": $0.code, "message": $0.message] }, forKey: .failure)
        try container.encode(self.refund.createdAt.rfc3339, forKey: .createdAt)
        try container.encode(self.refund.updatedAt.rfc3339, forKey: .updatedAt)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["id", "object", "payment_id", "status", "amount", "currency"],
        "properties": [
            "id": ["type": "string"], "object": ["type": "string", "enum": ["refund"]],
            "payment_id": ["type": "string"],
            "status": ["type": "string", "enum": ["pending", "succeeded", "failed"]],
            "amount": ["type": "integer"], "currency": ["type": "string"], "reason": ["type": ["string", "null"]],
            "failure": ["type": ["object", "null"]],
            "created_at": ["type": "string", "format": "date-time"],
            "updated_at": ["type": "string", "format": "date-time"],
        ],
    ]
}
