import Foundation
import KauriCore
import KauriDatabase
import SQLKit

/// The rules of the checkout risk check (origin S4): each one that fires adds points; the total decides.
/// Loaded from `KAURI_RISK_RULES` (JSON, snake_case keys; any key left out keeps its default).
public struct RiskRules: Sendable, Hashable, Codable {
    /// Checkouts one buyer phone may start per hour (any seller).
    public var buyerCheckoutsPerHourMax = 5
    /// Checkouts one seller's links may take per hour.
    public var sellerCheckoutsPerHourMax = 200
    /// A seller is new for this many days after their first link.
    public var newSellerDays = 7
    /// The largest checkout a new seller may take, per currency code, in minor units.
    public var newSellerAmountMax: [String: Int64] = ["KES": 5_000_000, "GHS": 500_000, "NGN": 50_000_000]
    /// A checkout above this multiple of the seller's average completed escrow is unusual…
    public var historyMultipleMax: Int64 = 10
    /// …once the seller has at least this many completed escrows.
    public var historyEscrowsMin = 3
    /// Phones (E.164) that may not pay.
    public var blockedPhones: [String] = []
    /// From this score a checkout is held: paid, but not released before an admin clears it.
    public var holdScore = 50
    /// From this score a checkout is refused: nothing is charged.
    public var refuseScore = 80

    public init() {}

    enum CodingKeys: String, CodingKey {
        case buyerCheckoutsPerHourMax = "buyer_checkouts_per_hour_max"
        case sellerCheckoutsPerHourMax = "seller_checkouts_per_hour_max"
        case newSellerDays = "new_seller_days"
        case newSellerAmountMax = "new_seller_amount_max"
        case historyMultipleMax = "history_multiple_max"
        case historyEscrowsMin = "history_escrows_min"
        case blockedPhones = "blocked_phones"
        case holdScore = "hold_score"
        case refuseScore = "refuse_score"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = RiskRules()
        self.buyerCheckoutsPerHourMax =
            try container.decodeIfPresent(Int.self, forKey: .buyerCheckoutsPerHourMax)
            ?? defaults.buyerCheckoutsPerHourMax
        self.sellerCheckoutsPerHourMax =
            try container.decodeIfPresent(Int.self, forKey: .sellerCheckoutsPerHourMax)
            ?? defaults.sellerCheckoutsPerHourMax
        self.newSellerDays = try container.decodeIfPresent(Int.self, forKey: .newSellerDays) ?? defaults.newSellerDays
        self.newSellerAmountMax =
            try container.decodeIfPresent([String: Int64].self, forKey: .newSellerAmountMax)
            ?? defaults.newSellerAmountMax
        self.historyMultipleMax =
            try container.decodeIfPresent(Int64.self, forKey: .historyMultipleMax) ?? defaults.historyMultipleMax
        self.historyEscrowsMin =
            try container.decodeIfPresent(Int.self, forKey: .historyEscrowsMin) ?? defaults.historyEscrowsMin
        self.blockedPhones = try container.decodeIfPresent([String].self, forKey: .blockedPhones) ?? []
        self.holdScore = try container.decodeIfPresent(Int.self, forKey: .holdScore) ?? defaults.holdScore
        self.refuseScore = try container.decodeIfPresent(Int.self, forKey: .refuseScore) ?? defaults.refuseScore
    }

    /// Reads `KAURI_RISK_RULES`' JSON.
    public static func parse(json: String) throws -> RiskRules {
        try JSONDecoder().decode(RiskRules.self, from: Data(json.utf8))
    }
}

/// What the risk check decided about one checkout.
public struct RiskDecision: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        case allow, hold, refuse
    }

    public var outcome: Outcome
    public var score: Int
    /// The rules that fired, e.g. `buyer_velocity`.
    public var reasons: [String]
}

/// The facts the rules look at, gathered from the database.
struct RiskFacts: Sendable, Hashable {
    var buyerCheckoutsLastHour: Int
    var sellerCheckoutsLastHour: Int
    var sellerFirstLinkAt: Timestamp?
    var sellerCompletedCount: Int
    var sellerCompletedAverage: Int64
}

extension RiskRules {
    /// Scores a checkout of `amount` by `phone` on the seller's link. Pure.
    func decide(amount: Money, phone: PhoneNumber, facts: RiskFacts, now: Timestamp) -> RiskDecision {
        var score = 0
        var reasons: [String] = []
        func fire(_ points: Int, _ reason: String) {
            score += points
            reasons.append(reason)
        }
        if self.blockedPhones.contains(phone.e164) { fire(100, "blocked_phone") }
        if facts.buyerCheckoutsLastHour >= self.buyerCheckoutsPerHourMax { fire(80, "buyer_velocity") }
        if facts.sellerCheckoutsLastHour >= self.sellerCheckoutsPerHourMax { fire(60, "seller_velocity") }
        let newSinceMilliseconds = UInt64(max(0, self.newSellerDays)) * 86_400_000
        let isNew = facts.sellerFirstLinkAt.map { now < $0.adding(milliseconds: newSinceMilliseconds) } ?? true
        if isNew, let maximum = self.newSellerAmountMax[amount.currency.code], amount.minorUnits > maximum {
            fire(60, "new_seller_amount")
        }
        if facts.sellerCompletedCount >= self.historyEscrowsMin, facts.sellerCompletedAverage > 0 {
            let (limit, overflow) = facts.sellerCompletedAverage.multipliedReportingOverflow(
                by: self.historyMultipleMax)
            if !overflow, amount.minorUnits > limit { fire(50, "amount_above_history") }
        }
        let outcome: RiskDecision.Outcome =
            score >= self.refuseScore ? .refuse : score >= self.holdScore ? .hold : .allow
        return RiskDecision(outcome: outcome, score: score, reasons: reasons)
    }
}

extension EscrowStore {
    /// The facts the risk rules need about a checkout by `phone` on `sellerReference`'s link.
    static func riskFacts(
        phone: PhoneNumber, sellerReference: String, currency: Currency, now: Timestamp,
        on connection: any SQLDatabase
    ) async throws -> RiskFacts {
        let hourAgo = Int64(now.unixMilliseconds) - 3_600_000
        let row = try await connection.raw(
            """
            SELECT
                (SELECT COUNT(*) FROM escrows WHERE buyer_phone = \(bind: phone.e164) AND created_at >= \(bind: hourAgo))
                    AS buyer_recent,
                (SELECT COUNT(*) FROM escrows WHERE seller_reference = \(bind: sellerReference)
                    AND created_at >= \(bind: hourAgo)) AS seller_recent,
                (SELECT MIN(created_at) FROM payment_links WHERE seller_reference = \(bind: sellerReference))
                    AS first_link,
                (SELECT COUNT(*) FROM escrows WHERE seller_reference = \(bind: sellerReference)
                    AND currency = \(bind: currency.code) AND status = 'completed') AS completed,
                (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM escrows
                    WHERE seller_reference = \(bind: sellerReference) AND currency = \(bind: currency.code)
                    AND status = 'completed') AS completed_total
            """
        ).first()
        guard let row else { throw CorruptRow(description: "risk facts query answered nothing") }
        let completed = try row.decode(column: "completed", as: Int.self)
        let total = try row.decode(column: "completed_total", as: Int64.self)
        return RiskFacts(
            buyerCheckoutsLastHour: try row.decode(column: "buyer_recent", as: Int.self),
            sellerCheckoutsLastHour: try row.decode(column: "seller_recent", as: Int.self),
            sellerFirstLinkAt: try row.decode(column: "first_link", as: Int64?.self).map(Self.timestamp),
            sellerCompletedCount: completed, sellerCompletedAverage: completed > 0 ? total / Int64(completed) : 0)
    }

    /// Records a risk decision (every checkout gets one).
    static func insertRiskDecision(
        _ decision: RiskDecision, linkID: PaymentLink.ID, escrowID: Escrow.ID?, sellerReference: String,
        phone: PhoneNumber, amount: Money, at: Timestamp, on connection: any SQLDatabase
    ) async throws {
        try await connection.raw(
            """
            INSERT INTO risk_decisions (link_id, escrow_id, seller_reference, buyer_phone, amount, currency, score,
                outcome, reasons, at)
            VALUES (\(bind: linkID.description), \(bind: escrowID?.description), \(bind: sellerReference),
                \(bind: phone.e164), \(bind: amount.minorUnits), \(bind: amount.currency.code), \(bind: decision.score),
                \(bind: decision.outcome.rawValue), \(bind: decision.reasons.joined(separator: ",")),
                \(bind: Self.millis(at)))
            """
        ).run()
    }
}
