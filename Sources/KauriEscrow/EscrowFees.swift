import KauriCore

/// The platform's fee on an escrow: a percentage (in basis points) plus a fixed amount per currency.
public struct EscrowFees: Sendable, Hashable {
    /// Basis points of the amount (150 = 1.5%), rounded down to the minor unit.
    public var basisPoints: Int64
    /// A fixed part per currency, in minor units.
    public var fixed: [Currency: Int64]

    /// The largest percentage part: 100%.
    public static let basisPointsMax: Int64 = 10_000

    public init(basisPoints: Int64 = 0, fixed: [Currency: Int64] = [:]) {
        precondition((0...Self.basisPointsMax).contains(basisPoints), "a fee is 0–100% of the amount")
        precondition(fixed.values.allSatisfy { $0 >= 0 }, "a fixed fee is not negative")
        self.basisPoints = basisPoints
        self.fixed = fixed
    }

    /// The fee on `amount`: ⌊amount × bp / 10 000⌋ + fixed. Never overflows (bp ≤ 10 000).
    public func fee(on amount: Money) -> Money {
        let units = amount.minorUnits
        let percentage = (units / 10_000) * self.basisPoints + (units % 10_000) * self.basisPoints / 10_000
        let (total, overflow) = percentage.addingReportingOverflow(self.fixed[amount.currency] ?? 0)
        return Money(minorUnits: overflow ? Int64.max : total, currency: amount.currency)
    }
}
