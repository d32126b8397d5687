import Foundation
import Hummingbird
import KauriCore
import KauriHTTP

/// Payout routes: where an owner's money goes, and sending it there.
///
/// - `PUT /v1/payout-destinations/{currency}` and `GET …/{currency}`: the caller's destination in a currency.
/// - `POST /v1/payouts` (`Idempotency-Key` required) {amount, currency}: from the caller's payable; `GET /v1/payouts`,
///   `GET /v1/payouts/{id}` (the owner or an admin).
public struct PayoutRoutes: Sendable {
    let payments: Payments
    let limits: Limits

    public init(payments: Payments, limits: Limits) {
        self.payments = payments
        self.limits = limits
    }

    /// How recent a sign-in setting a payout destination needs.
    public static let destinationStepUpWindow: Duration = .seconds(15 * 60)

    /// Adds the routes and their OpenAPI descriptions.
    public func addRoutes(to api: DocumentedRouter) {
        api.registry.addSchema("Payout", PayoutResponse.schema)
        api.registry.addSchema("PayoutDestination", PayoutDestinationResponse.schema)
        let payoutList: JSONValue = [
            "type": "object", "required": ["data", "next_cursor"],
            "properties": [
                "data": ["type": "array", "items": RouteRegistry.ref("Payout")],
                "next_cursor": ["type": ["string", "null"]],
            ],
        ]

        api.on(
            .put, "/v1/payout-destinations/{currency}",
            OperationDoc(
                "setPayoutDestination",
                summary: "Register where the caller's payouts in a currency go (needs a sign-in within 15 minutes).",
                tag: "payouts", requestSchema: PayoutDestinationRequest.schema,
                responses: [.json(200, "The destination.", schema: RouteRegistry.ref("PayoutDestination"))],
                errorStatuses: [400, 401, 403, 422])
        ) { request, context in
            // Where money goes is what an attacker with a stolen token would change: it takes a recent sign-in.
            let caller = try context.requireRecentAuthentication(
                within: Self.destinationStepUpWindow, now: self.payments.clock.now())
            let currency = try Self.currency(context)
            let (gateway, destination) = try await request.decode(as: PayoutDestinationRequest.self, context: context)
                .validated(currency: currency)
            let record = try await PaymentRoutes.mapped {
                try await self.payments.setPayoutDestination(
                    ownerReference: caller.ownerReference, currency: currency, gateway: gateway,
                    destination: destination)
            }
            return PayoutDestinationResponse(record: record)
        }

        api.on(
            .get, "/v1/payout-destinations/{currency}",
            OperationDoc(
                "getPayoutDestination", summary: "The caller's payout destination in a currency.", tag: "payouts",
                responses: [.json(200, "The destination.", schema: RouteRegistry.ref("PayoutDestination"))],
                errorStatuses: [400, 401, 404])
        ) { _, context in
            let caller = try context.requireCaller()
            let currency = try Self.currency(context)
            guard
                let record = try await self.payments.payoutDestination(
                    ownerReference: caller.ownerReference, currency: currency)
            else { throw PaymentErrorCodes.apiError(.payoutDestinationMissing(currency)) }
            return PayoutDestinationResponse(record: record)
        }

        api.on(
            .post, "/v1/payouts",
            OperationDoc(
                "createPayout",
                summary: "Pay out of the caller's payable to their destination (Idempotency-Key required).",
                tag: "payouts", requestSchema: CreatePayoutRequest.schema,
                responses: [.json(201, "The payout.", schema: RouteRegistry.ref("Payout"))],
                errorStatuses: [400, 401, 409, 422])
        ) { request, context in
            let caller = try context.requireCaller()
            let amount = try await request.decode(as: CreatePayoutRequest.self, context: context).validated()
            let payout = try await PaymentRoutes.mapped {
                try await self.payments.createPayout(
                    ownerReference: caller.ownerReference, amount: amount, idempotencyKey: context.idempotencyKey)
            }
            return EditedResponse(status: .created, response: PayoutResponse(payout: payout))
        }

        api.on(
            .get, "/v1/payouts",
            OperationDoc(
                "listPayouts", summary: "The caller's payouts, newest first (admin: everyone's).", tag: "payouts",
                responses: [.json(200, "A page of payouts.", schema: payoutList)], errorStatuses: [400, 401],
                queryParameters: [
                    ("limit", "Page size.", ["type": "integer", "minimum": 1]),
                    ("cursor", "`next_cursor` of the previous page.", ["type": "string"]),
                ])
        ) { request, context in
            let caller = try context.requireCaller()
            let page = try PageRequest<String>(request: request, limits: self.limits)
            let before = try page.after.map { text throws(APIError) -> Payout.ID in
                guard let id = Payout.ID(text) else { throw APIError(.invalidQuery, detail: "bad cursor") }
                return id
            }
            let rows = try await self.payments.payouts(
                ownerReference: caller.roles.contains(.admin) ? nil : caller.ownerReference, before: before,
                limit: page.limit + 1)
            return page.page(from: rows, item: { PayoutResponse(payout: $0) }, position: { $0.id.description })
        }

        api.on(
            .get, "/v1/payouts/{id}",
            OperationDoc(
                "getPayout", summary: "One payout (its owner or an admin).", tag: "payouts",
                responses: [.json(200, "The payout.", schema: RouteRegistry.ref("Payout"))], errorStatuses: [401, 404])
        ) { _, context in
            let caller = try context.requireCaller()
            guard let id = context.parameters.get("id").flatMap(Payout.ID.init),
                let payout = try await self.payments.payout(
                    id, ownerReference: caller.roles.contains(.admin) ? nil : caller.ownerReference)
            else { throw PaymentErrorCodes.apiError(.payoutNotFound) }
            return PayoutResponse(payout: payout)
        }
    }

    private static func currency(_ context: AppRequestContext) throws(APIError) -> Currency {
        guard let currency = context.parameters.get("currency").flatMap({ Currency(code: $0.uppercased()) }) else {
            throw APIError.invalidField("currency", code: "unsupported", "not a supported ISO 4217 code")
        }
        return currency
    }
}

/// `PUT /v1/payout-destinations/{currency}`.
struct PayoutDestinationRequest: Decodable {
    let gateway: String
    let type: String
    let phone: String?
    let provider: String?
    let bankCode: String?
    let accountNumber: String?
    let name: String

    enum CodingKeys: String, CodingKey {
        case gateway, type, phone, provider, name
        case bankCode = "bank_code"
        case accountNumber = "account_number"
    }

    static let nameLengthMax = 100
    static let codeLengthMax = 40

    func validated(currency: Currency) throws(APIError) -> (GatewayName, PayoutDestination) {
        let name = self.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= Self.nameLengthMax else {
            throw APIError.invalidField("name", code: "invalid", "1–\(Self.nameLengthMax) characters")
        }
        switch self.type {
        case "mobile_money":
            let phone: PhoneNumber
            do {
                phone = try PhoneNumber(
                    parsing: self.phone ?? "", defaultCountry: CreatePaymentRequest.country(of: currency))
            } catch {
                throw APIError.invalidField("phone", code: "invalid", "\(error)")
            }
            guard let provider = self.provider.map({ MobileMoneyProvider(rawValue: $0) }) ?? .some(.mpesa) else {
                throw APIError.invalidField(
                    "provider", code: "invalid",
                    "one of " + MobileMoneyProvider.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return (GatewayName(rawValue: self.gateway), .mobileMoney(phone: phone, provider: provider, name: name))
        case "bank_account":
            guard let bankCode = self.bankCode, !bankCode.isEmpty, bankCode.count <= Self.codeLengthMax,
                let accountNumber = self.accountNumber, !accountNumber.isEmpty,
                accountNumber.count <= Self.codeLengthMax, accountNumber.allSatisfy({ $0.isASCII && $0.isNumber })
            else {
                throw APIError.invalidField(
                    "account_number", code: "invalid", "bank_code and a numeric account_number are required")
            }
            return (
                GatewayName(rawValue: self.gateway),
                .bankAccount(bankCode: bankCode, accountNumber: accountNumber, name: name)
            )
        default:
            throw APIError.invalidField("type", code: "invalid", "mobile_money or bank_account")
        }
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["gateway", "type", "name"],
        "properties": [
            "gateway": ["type": "string", "example": "mpesa"],
            "type": ["type": "string", "enum": ["mobile_money", "bank_account"]],
            "phone": ["type": "string"],
            "provider": ["type": "string", "enum": ["mpesa", "mtn", "telecel", "airteltigo"]],
            "bank_code": ["type": "string"], "account_number": ["type": "string"],
            "name": ["type": "string", "description": "The account holder's name."],
        ],
    ]
}

/// `POST /v1/payouts`.
struct CreatePayoutRequest: Decodable {
    let amount: Int64
    let currency: String

    func validated() throws(APIError) -> Money {
        guard let currency = Currency(code: self.currency) else {
            throw APIError.invalidField("currency", code: "unsupported", "not a supported ISO 4217 code")
        }
        guard self.amount > 0 else {
            throw APIError.invalidField("amount", code: "not_positive", "must be at least 1 minor unit")
        }
        return Money(minorUnits: self.amount, currency: currency)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["amount", "currency"],
        "properties": [
            "amount": ["type": "integer", "minimum": 1, "description": "Minor units."],
            "currency": ["type": "string", "example": "KES"],
        ],
    ]
}

/// A destination as the API shows it (phone and account number masked).
struct PayoutDestinationResponse: Encodable, Sendable, ResponseEncodable {
    let record: PayoutDestinationRecord

    enum CodingKeys: String, CodingKey {
        case object, currency, gateway, type, phone, provider, name
        case bankCode = "bank_code"
        case accountNumber = "account_number"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode("payout_destination", forKey: .object)
        try container.encode(self.record.currency.code, forKey: .currency)
        try container.encode(self.record.gateway.rawValue, forKey: .gateway)
        try PayoutResponse.encodeDestination(self.record.destination, into: &container)
        try container.encode(self.record.updatedAt.rfc3339, forKey: .updatedAt)
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["object", "currency", "gateway", "type", "name"],
        "properties": [
            "object": ["type": "string", "enum": ["payout_destination"]], "currency": ["type": "string"],
            "gateway": ["type": "string"], "type": ["type": "string", "enum": ["mobile_money", "bank_account"]],
            "phone": ["type": "string", "description": "Masked."], "provider": ["type": "string"],
            "bank_code": ["type": "string"], "account_number": ["type": "string", "description": "Last 4 digits."],
            "name": ["type": "string"], "updated_at": ["type": "string", "format": "date-time"],
        ],
    ]
}

/// A payout as the API shows it.
struct PayoutResponse: Encodable, Sendable, ResponseEncodable {
    let payout: Payout

    enum CodingKeys: String, CodingKey {
        case id, object, status, amount, currency, gateway, destination, failure
        case providerReference = "provider_reference"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.payout.id.description, forKey: .id)
        try container.encode("payout", forKey: .object)
        try container.encode(self.payout.status.rawValue, forKey: .status)
        try container.encode(self.payout.amount.minorUnits, forKey: .amount)
        try container.encode(self.payout.amount.currency.code, forKey: .currency)
        try container.encode(self.payout.gateway.rawValue, forKey: .gateway)
        var destination = container.nestedContainer(
            keyedBy: PayoutDestinationResponse.CodingKeys.self, forKey: .destination)
        try Self.encodeDestination(self.payout.destination, into: &destination)
        try container.encode(
            self.payout.failure.map { ["code": $0.code, "message": $0.message] }, forKey: .failure)
        try container.encode(self.payout.providerReference, forKey: .providerReference)
        try container.encode(self.payout.createdAt.rfc3339, forKey: .createdAt)
        try container.encode(self.payout.updatedAt.rfc3339, forKey: .updatedAt)
    }

    static func encodeDestination(
        _ destination: PayoutDestination,
        into container: inout KeyedEncodingContainer<PayoutDestinationResponse.CodingKeys>
    ) throws {
        switch destination {
        case .mobileMoney(let phone, let provider, let name):
            try container.encode("mobile_money", forKey: .type)
            try container.encode(phone.masked, forKey: .phone)
            try container.encode(provider.rawValue, forKey: .provider)
            try container.encode(name, forKey: .name)
        case .bankAccount(let bankCode, let accountNumber, let name):
            try container.encode("bank_account", forKey: .type)
            try container.encode(bankCode, forKey: .bankCode)
            try container.encode("••••" + accountNumber.suffix(4), forKey: .accountNumber)
            try container.encode(name, forKey: .name)
        }
    }

    static let schema: JSONValue = [
        "type": "object", "required": ["id", "object", "status", "amount", "currency", "gateway", "created_at"],
        "properties": [
            "id": ["type": "string", "example": "po_01jd5..."], "object": ["type": "string", "enum": ["payout"]],
            "status": ["type": "string", "enum": ["pending", "succeeded", "failed"]],
            "amount": ["type": "integer"], "currency": ["type": "string"], "gateway": ["type": "string"],
            "destination": ["type": "object"], "failure": ["type": ["object", "null"]],
            "provider_reference": ["type": ["string", "null"]],
            "created_at": ["type": "string", "format": "date-time"],
            "updated_at": ["type": "string", "format": "date-time"],
        ],
    ]
}
