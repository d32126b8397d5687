import Foundation
import KauriCore
import KauriDatabase
import SQLKit

extension PaymentStore {
    // MARK: Destinations

    static func upsert(_ record: PayoutDestinationRecord, on connection: any SQLDatabase) async throws {
        let columns = Self.destinationColumns(record.destination)
        try await connection.raw(
            """
            INSERT INTO payout_destinations (owner_reference, currency, gateway, type, phone, provider, bank_code,
                account_number, name, updated_at)
            VALUES (\(bind: record.ownerReference), \(bind: record.currency.code), \(bind: record.gateway.rawValue),
                \(bind: columns.type), \(bind: columns.phone), \(bind: columns.provider), \(bind: columns.bankCode),
                \(bind: columns.accountNumber), \(bind: columns.name), \(bind: Self.millis(record.updatedAt)))
            ON CONFLICT (owner_reference, currency) DO UPDATE SET gateway = EXCLUDED.gateway, type = EXCLUDED.type,
                phone = EXCLUDED.phone, provider = EXCLUDED.provider, bank_code = EXCLUDED.bank_code,
                account_number = EXCLUDED.account_number, name = EXCLUDED.name, updated_at = EXCLUDED.updated_at
            """
        ).run()
    }

    static func destination(
        ownerReference: String, currency: Currency, on connection: any SQLDatabase
    ) async throws -> PayoutDestinationRecord? {
        guard
            let row = try await connection.raw(
                """
                SELECT * FROM payout_destinations WHERE owner_reference = \(bind: ownerReference)
                    AND currency = \(bind: currency.code)
                """
            ).first()
        else { return nil }
        let destination = try Self.decodeDestination(
            type: row.decode(column: "type", as: String.self), phone: row.decode(column: "phone", as: String?.self),
            provider: row.decode(column: "provider", as: String?.self),
            bankCode: row.decode(column: "bank_code", as: String?.self),
            accountNumber: row.decode(column: "account_number", as: String?.self),
            name: row.decode(column: "name", as: String.self))
        return PayoutDestinationRecord(
            ownerReference: ownerReference, currency: currency,
            gateway: GatewayName(rawValue: try row.decode(column: "gateway", as: String.self)),
            destination: destination,
            updatedAt: Timestamp(unixMilliseconds: UInt64(try row.decode(column: "updated_at", as: Int64.self))))
    }

    // MARK: Payouts

    static func insert(_ payout: Payout, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            INSERT INTO payouts (id, owner_reference, idempotency_key, amount, currency, gateway, destination, status,
                gateway_call, provider_reference, failure_code, failure_message, created_at, updated_at)
            VALUES (\(bind: payout.id.description), \(bind: payout.ownerReference), \(bind: payout.idempotencyKey),
                \(bind: payout.amount.minorUnits), \(bind: payout.amount.currency.code),
                \(bind: payout.gateway.rawValue), \(bind: try Self.encodeDestination(payout.destination)),
                \(bind: payout.status.rawValue), \(bind: payout.gatewayCall.rawValue),
                \(bind: payout.providerReference), \(bind: payout.failure?.code), \(bind: payout.failure?.message),
                \(bind: Self.millis(payout.createdAt)), \(bind: Self.millis(payout.updatedAt)))
            """
        ).run()
    }

    static func update(_ payout: Payout, on connection: any SQLDatabase) async throws {
        try await connection.raw(
            """
            UPDATE payouts SET status = \(bind: payout.status.rawValue), gateway_call = \(bind: payout.gatewayCall.rawValue),
                provider_reference = \(bind: payout.providerReference), failure_code = \(bind: payout.failure?.code),
                failure_message = \(bind: payout.failure?.message), updated_at = \(bind: Self.millis(payout.updatedAt))
            WHERE id = \(bind: payout.id.description)
            """
        ).run()
    }

    static func payout(
        id: Payout.ID, lock: Bool, kind: Database.Kind, on connection: any SQLDatabase
    ) async throws -> Payout? {
        let suffix = lock && kind == .postgres ? " FOR UPDATE" : ""
        return try await connection.raw(
            "SELECT * FROM payouts WHERE id = \(bind: id.description)\(unsafeRaw: suffix)"
        ).first().map(Self.decodePayout)
    }

    static func payout(
        ownerReference: String, idempotencyKey: String, on connection: any SQLDatabase
    ) async throws -> Payout? {
        try await connection.raw(
            """
            SELECT * FROM payouts WHERE owner_reference = \(bind: ownerReference)
                AND idempotency_key = \(bind: idempotencyKey)
            """
        ).first().map(Self.decodePayout)
    }

    /// Pending payouts not touched since `before`, oldest first: reconciliation's queue.
    static func stalePayouts(before: Timestamp, limit: Int, on connection: any SQLDatabase) async throws -> [Payout] {
        try await connection.raw(
            """
            SELECT * FROM payouts WHERE status = 'pending' AND updated_at <= \(bind: Self.millis(before))
            ORDER BY updated_at LIMIT \(bind: limit)
            """
        ).all().map(Self.decodePayout)
    }

    static func payouts(
        ownerReference: String?, before: Payout.ID?, limit: Int, on connection: any SQLDatabase
    ) async throws -> [Payout] {
        try await connection.raw(
            """
            SELECT * FROM payouts WHERE (\(bind: ownerReference == nil) OR owner_reference = \(bind: ownerReference ?? ""))
                AND id < \(bind: before?.description ?? "~")
            ORDER BY id DESC LIMIT \(bind: limit)
            """
        ).all().map(Self.decodePayout)
    }

    static func decodePayout(_ row: any SQLRow) throws -> Payout {
        let currencyCode = try row.decode(column: "currency", as: String.self)
        guard let id = Payout.ID(try row.decode(column: "id", as: String.self)),
            let currency = Currency(code: currencyCode),
            let status = Payout.Status(rawValue: try row.decode(column: "status", as: String.self)),
            let call = GatewayCallState(rawValue: try row.decode(column: "gateway_call", as: String.self))
        else { throw PaymentServiceError.ledgerRefused("payouts row does not decode") }
        let code = try row.decode(column: "failure_code", as: String?.self)
        return Payout(
            id: id, ownerReference: try row.decode(column: "owner_reference", as: String.self),
            amount: Money(minorUnits: try row.decode(column: "amount", as: Int64.self), currency: currency),
            gateway: GatewayName(rawValue: try row.decode(column: "gateway", as: String.self)),
            destination: try Self.decodeDestination(json: row.decode(column: "destination", as: String.self)),
            status: status, gatewayCall: call,
            providerReference: try row.decode(column: "provider_reference", as: String?.self),
            failure: try code.map {
                PaymentFailure(code: $0, message: try row.decode(column: "failure_message", as: String?.self) ?? "")
            },
            idempotencyKey: try row.decode(column: "idempotency_key", as: String?.self),
            createdAt: Timestamp(unixMilliseconds: UInt64(try row.decode(column: "created_at", as: Int64.self))),
            updatedAt: Timestamp(unixMilliseconds: UInt64(try row.decode(column: "updated_at", as: Int64.self))))
    }

    // MARK: Destination columns

    struct DestinationColumns: Codable {
        var type: String
        var phone: String?
        var provider: String?
        var bankCode: String?
        var accountNumber: String?
        var name: String
    }

    static func destinationColumns(_ destination: PayoutDestination) -> DestinationColumns {
        switch destination {
        case .mobileMoney(let phone, let provider, let name):
            DestinationColumns(
                type: "mobile_money", phone: phone.e164, provider: provider.rawValue, bankCode: nil,
                accountNumber: nil, name: name)
        case .bankAccount(let bankCode, let accountNumber, let name):
            DestinationColumns(
                type: "bank_account", phone: nil, provider: nil, bankCode: bankCode, accountNumber: accountNumber,
                name: name)
        }
    }

    static func encodeDestination(_ destination: PayoutDestination) throws -> String {
        String(decoding: try JSONEncoder().encode(Self.destinationColumns(destination)), as: UTF8.self)
    }

    static func decodeDestination(json: String) throws -> PayoutDestination {
        let columns = try JSONDecoder().decode(DestinationColumns.self, from: Data(json.utf8))
        return try Self.decodeDestination(
            type: columns.type, phone: columns.phone, provider: columns.provider, bankCode: columns.bankCode,
            accountNumber: columns.accountNumber, name: columns.name)
    }

    static func decodeDestination(
        type: String, phone: String?, provider: String?, bankCode: String?, accountNumber: String?, name: String
    ) throws -> PayoutDestination {
        switch type {
        case "mobile_money":
            guard let phone, let provider = provider.flatMap(MobileMoneyProvider.init(rawValue:)) else { break }
            return .mobileMoney(phone: try PhoneNumber(parsing: phone), provider: provider, name: name)
        case "bank_account":
            guard let bankCode, let accountNumber else { break }
            return .bankAccount(bankCode: bankCode, accountNumber: accountNumber, name: name)
        default: break
        }
        throw PaymentServiceError.ledgerRefused("payout destination does not decode")
    }
}
