/// An exact amount of money: a signed count of minor units of one currency.
///
/// This is the only amount type in Kauri. It never converts through floating point, and every arithmetic
/// operation checks for overflow and for mixing currencies.
public struct Money: Hashable, Sendable {
    /// The amount in minor units (kobo, pesewas, cents; whole units for zero-exponent currencies).
    public let minorUnits: Int64
    /// The currency of the amount.
    public let currency: Currency

    /// Creates an amount from minor units.
    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// Zero of a currency.
    public static func zero(_ currency: Currency) -> Money { Money(minorUnits: 0, currency: currency) }

    /// True when the amount is greater than zero.
    public var isPositive: Bool { self.minorUnits > 0 }
    /// True when the amount is zero.
    public var isZero: Bool { self.minorUnits == 0 }
    /// True when the amount is less than zero.
    public var isNegative: Bool { self.minorUnits < 0 }

    /// Why an arithmetic operation or a parse was refused.
    public enum Error: Swift.Error, Hashable, Sendable, CustomStringConvertible {
        /// Two amounts of different currencies were combined.
        case currencyMismatch(Currency, Currency)
        /// The result does not fit in 64-bit minor units.
        case overflow
        /// A decimal string was not a plain decimal number.
        case invalidDecimal(String)
        /// A decimal string had more fraction digits than the currency has minor-unit digits.
        case tooManyFractionDigits(given: Int, allowed: Int)
        /// A divisor or share count was zero or negative.
        case invalidDivisor

        /// A sentence for logs and problem details.
        public var description: String {
            switch self {
            case .currencyMismatch(let lhs, let rhs): "cannot combine \(lhs.code) with \(rhs.code)"
            case .overflow: "amount out of range"
            case .invalidDecimal(let text): "'\(text)' is not a decimal amount"
            case .tooManyFractionDigits(let given, let allowed):
                "\(given) fraction digits given, the currency allows \(allowed)"
            case .invalidDivisor: "divisor must be positive"
            }
        }
    }

    /// Adds another amount of the same currency.
    public func adding(_ other: Money) throws(Money.Error) -> Money {
        try self.requireSameCurrency(other)
        let (sum, overflow) = self.minorUnits.addingReportingOverflow(other.minorUnits)
        if overflow { throw .overflow }
        return Money(minorUnits: sum, currency: self.currency)
    }

    /// Subtracts another amount of the same currency.
    public func subtracting(_ other: Money) throws(Money.Error) -> Money {
        try self.requireSameCurrency(other)
        let (difference, overflow) = self.minorUnits.subtractingReportingOverflow(other.minorUnits)
        if overflow { throw .overflow }
        return Money(minorUnits: difference, currency: self.currency)
    }

    /// Multiplies by an integer factor (a quantity).
    public func multiplied(by factor: Int64) throws(Money.Error) -> Money {
        let (product, overflow) = self.minorUnits.multipliedReportingOverflow(by: factor)
        if overflow { throw .overflow }
        return Money(minorUnits: product, currency: self.currency)
    }

    /// The amount with its sign flipped.
    public func negated() throws(Money.Error) -> Money {
        guard self.minorUnits != .min else { throw .overflow }
        return Money(minorUnits: -self.minorUnits, currency: self.currency)
    }

    /// Splits a non-negative amount by integer weights, exactly: the parts always add up to the whole.
    ///
    /// Each part is `floor(amount × weight / Σweights)`; the minor units left over go one at a time to the
    /// parts with a non-zero weight in order, starting with the first, so the rounding is deterministic.
    public func allocated(byWeights weights: [Int64]) throws(Money.Error) -> [Money] {
        guard !weights.isEmpty, weights.allSatisfy({ $0 >= 0 }) else { throw .invalidDivisor }
        var total: Int64 = 0
        for weight in weights {
            let (sum, overflow) = total.addingReportingOverflow(weight)
            if overflow { throw .overflow }
            total = sum
        }
        guard total > 0, self.minorUnits >= 0 else { throw .invalidDivisor }
        var parts: [Int64] = []
        parts.reserveCapacity(weights.count)
        var assigned: Int64 = 0
        for weight in weights {
            // 128-bit intermediate: amount × weight can exceed Int64 even when the result does not.
            let product = self.minorUnits.multipliedFullWidth(by: weight)
            let (quotient, _) = total.dividingFullWidth(product)
            parts.append(quotient)
            assigned += quotient
        }
        // The remainder is smaller than the number of weighted parts, so each gets at most one unit more.
        var remainder = self.minorUnits - assigned
        for index in weights.indices where remainder > 0 && weights[index] > 0 {
            parts[index] += 1
            remainder -= 1
        }
        return parts.map { Money(minorUnits: $0, currency: self.currency) }
    }

    private func requireSameCurrency(_ other: Money) throws(Money.Error) {
        guard self.currency == other.currency else { throw .currencyMismatch(self.currency, other.currency) }
    }
}

extension Money: Codable {
    private enum CodingKeys: String, CodingKey {
        case amount
        case currency
    }

    /// Decodes `{"amount": <minor units>, "currency": "NGN"}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.minorUnits = try container.decode(Int64.self, forKey: .amount)
        self.currency = try container.decode(Currency.self, forKey: .currency)
    }

    /// Encodes `{"amount": <minor units>, "currency": "NGN"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.minorUnits, forKey: .amount)
        try container.encode(self.currency, forKey: .currency)
    }
}

extension Money: CustomStringConvertible {
    /// The decimal amount and the code, e.g. `12.50 GHS`.
    public var description: String { "\(self.decimalString) \(self.currency.code)" }
}
