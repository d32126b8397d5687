import KauriCore

/// Exact conversions between `Money` and the units providers put on the wire. Only Int64 arithmetic with
/// overflow checks; nothing goes through floating point.
enum GatewayAmount {
    /// The largest minor-unit exponent converted; 10^18 is the largest power of ten an Int64 holds.
    static let exponentMax = 18

    /// 10^`exponent`, or nil when it does not fit in an Int64.
    static func powerOfTen(_ exponent: Int) -> Int64? {
        guard exponent >= 0, exponent <= Self.exponentMax else { return nil }
        var value: Int64 = 1
        for _ in 0..<exponent {
            let (next, overflow) = value.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            value = next
        }
        return value
    }

    /// The amount in whole major units (shillings), refusing an amount with a fraction of a unit.
    /// - Throws: `GatewayError.invalidRequest` for a fractional or non-positive amount.
    static func wholeUnits(of money: Money) throws(GatewayError) -> Int64 {
        guard money.isPositive else { throw .invalidRequest("the amount must be positive, got \(money)") }
        guard let divisor = Self.powerOfTen(money.currency.exponent) else {
            throw .invalidRequest("\(money.currency) has an unsupported minor-unit exponent")
        }
        let (whole, remainder) = money.minorUnits.quotientAndRemainder(dividingBy: divisor)
        guard remainder == 0 else {
            throw .invalidRequest("\(money) is not a whole number of \(money.currency.code); the provider takes none")
        }
        return whole
    }

    /// Whole major units as `Money`, or nil on overflow.
    static func money(wholeUnits: Int64, currency: Currency) -> Money? {
        guard let factor = Self.powerOfTen(currency.exponent) else { return nil }
        let (minorUnits, overflow) = wholeUnits.multipliedReportingOverflow(by: factor)
        return overflow ? nil : Money(minorUnits: minorUnits, currency: currency)
    }

    /// A decimal amount in major units as the provider wrote it (`"1"`, `"10.00"`), exactly; nil when the text is
    /// not a plain decimal, has more fraction digits than the currency, or overflows.
    static func money(majorUnitsText text: String, currency: Currency) -> Money? {
        try? Money(decimal: Self.trimmingZeroFraction(text), currency: currency)
    }

    /// An integer amount in minor units as the provider wrote it (`"5000"`); nil when not a plain integer.
    static func money(minorUnitsText text: String, currency: Currency) -> Money? {
        guard let minorUnits = Int64(text) else { return nil }
        return Money(minorUnits: minorUnits, currency: currency)
    }

    /// `"1.000"` → `"1"`: trailing zero fraction digits carry no value but may exceed the currency's exponent.
    private static func trimmingZeroFraction(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var trimmed = Substring(text)
        while trimmed.hasSuffix("0") { trimmed = trimmed.dropLast() }
        if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}

/// The M-Pesa rules Daraja and PayHero share: whole Kenyan shillings within the per-transaction limits, and a
/// Kenyan mobile number written as a 12-digit MSISDN.
enum MpesaFormat {
    /// The smallest M-Pesa transaction, in shillings (Daraja FAQ: minimum Ksh 1).
    static let shillingsMin: Int64 = 1
    /// The largest M-Pesa transaction, in shillings (Daraja FAQ: maximum Ksh 250,000 per transaction).
    static let shillingsMax: Int64 = 250_000
    /// Digits in an MSISDN: `254` and nine national digits.
    static let msisdnDigitCount = 12

    /// The amount in whole shillings.
    /// - Throws: `GatewayError.invalidRequest` for another currency, a fraction of a shilling, or an amount outside
    ///   `shillingsMin...shillingsMax`.
    static func shillings(_ money: Money) throws(GatewayError) -> Int64 {
        guard money.currency == .kes else {
            throw .invalidRequest("M-Pesa takes only KES, got \(money.currency.code)")
        }
        let shillings = try GatewayAmount.wholeUnits(of: money)
        guard (Self.shillingsMin...Self.shillingsMax).contains(shillings) else {
            throw .invalidRequest(
                "M-Pesa takes KES \(Self.shillingsMin) to \(Self.shillingsMax) per transaction, got \(money)")
        }
        return shillings
    }

    /// The phone as `2547XXXXXXXX`.
    /// - Throws: `GatewayError.invalidRequest` for a number outside Kenya or on a network other than Safaricom.
    static func msisdn(_ phone: PhoneNumber) throws(GatewayError) -> String {
        guard phone.country == .kenya else {
            throw .invalidRequest("M-Pesa needs a Kenyan number, got one from \(phone.country.isoCode)")
        }
        if let network = phone.network, network != .safaricom {
            throw .invalidRequest("\(phone.masked) is not a Safaricom (M-Pesa) number")
        }
        let digits = phone.digits
        guard digits.count == Self.msisdnDigitCount else {
            throw .invalidRequest("\(phone.masked) is not a 12-digit Kenyan MSISDN")
        }
        return digits
    }
}
