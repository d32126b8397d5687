import KauriCore
import Testing

@Suite("Money")
struct MoneyTests {
    @Test("parse then format is the identity for every minor-unit value, including the extremes")
    func parseFormatRoundTrip() throws {
        var random = SeededRandom(seed: 42)
        var samples: [Int64] = [0, 1, -1, 9, 10, 99, 100, 101, .max, .min, .max - 1, .min + 1]
        for _ in 0..<2_000 { samples.append(Int64(bitPattern: random.next())) }
        for _ in 0..<2_000 { samples.append(Int64(bitPattern: random.next()) % 1_000_000) }
        for currency in Currency.all {
            for minorUnits in samples {
                let money = Money(minorUnits: minorUnits, currency: currency)
                let parsed = try Money(decimal: money.decimalString, currency: currency)
                #expect(parsed == money, "\(money.decimalString) \(currency)")
            }
        }
    }

    @Test("format uses exactly the currency's exponent", arguments: [
        (Int64(150), Currency.ngn, "1.50"), (5, .ghs, "0.05"), (-5, .kes, "-0.05"), (1_500, .ugx, "1500"),
        (0, .usd, "0.00"), (-1_234_567, .inr, "-12345.67"), (7, .xof, "7"), (.min, .eur, "-92233720368547758.08"),
    ])
    func format(minorUnits: Int64, currency: Currency, expected: String) {
        #expect(Money(minorUnits: minorUnits, currency: currency).decimalString == expected)
    }

    @Test("parse accepts short fractions and pads them", arguments: [
        ("12.5", Currency.ngn, Int64(1_250)), ("12", .ngn, 1_200), ("0.01", .ghs, 1), ("-3.1", .zar, -310),
        ("1500", .rwf, 1_500), ("92233720368547758.07", .usd, .max), ("-92233720368547758.08", .usd, .min),
    ])
    func parse(text: String, currency: Currency, expected: Int64) throws {
        #expect(try Money(decimal: text, currency: currency).minorUnits == expected)
    }

    @Test("parse refuses anything that is not a plain decimal", arguments: [
        "", "-", ".", "1.", ".5", "1..2", "1,000", "+1", "1e3", " 1", "1 ", "0x10", "١٢", "1.2.3", "--1", "NaN",
    ])
    func parseRejectsMalformed(text: String) {
        #expect(throws: Money.Error.invalidDecimal(text)) { try Money(decimal: text, currency: .ngn) }
    }

    @Test("parse refuses more fraction digits than the currency has, never rounding")
    func parseRejectsExtraPrecision() {
        #expect(throws: Money.Error.tooManyFractionDigits(given: 3, allowed: 2)) {
            try Money(decimal: "1.005", currency: .ngn)
        }
        #expect(throws: Money.Error.tooManyFractionDigits(given: 1, allowed: 0)) {
            try Money(decimal: "10.0", currency: .ugx)
        }
    }

    @Test("parse detects values beyond Int64")
    func parseOverflow() {
        #expect(throws: Money.Error.overflow) { try Money(decimal: "92233720368547758.08", currency: .usd) }
        #expect(throws: Money.Error.overflow) { try Money(decimal: "99999999999999999999", currency: .ugx) }
        #expect(throws: Money.Error.overflow) { try Money(decimal: "-9223372036854775809", currency: .ugx) }
    }

    @Test("arithmetic detects overflow instead of wrapping")
    func arithmeticOverflow() throws {
        let max = Money(minorUnits: .max, currency: .ngn)
        let min = Money(minorUnits: .min, currency: .ngn)
        let one = Money(minorUnits: 1, currency: .ngn)
        #expect(throws: Money.Error.overflow) { try max.adding(one) }
        #expect(throws: Money.Error.overflow) { try min.subtracting(one) }
        #expect(throws: Money.Error.overflow) { try max.multiplied(by: 2) }
        #expect(throws: Money.Error.overflow) { try min.negated() }
        #expect(try max.subtracting(one).minorUnits == .max - 1)
    }

    @Test("arithmetic property: a + b - b == a whenever a + b fits")
    func additionProperty() throws {
        var random = SeededRandom(seed: 7)
        for _ in 0..<5_000 {
            let a = Money(minorUnits: Int64(bitPattern: random.next()) >> 2, currency: .kes)
            let b = Money(minorUnits: Int64(bitPattern: random.next()) >> 2, currency: .kes)
            #expect(try a.adding(b).subtracting(b) == a)
        }
    }

    @Test("mixing currencies is refused")
    func currencyMismatch() {
        let naira = Money(minorUnits: 100, currency: .ngn)
        let cedi = Money(minorUnits: 100, currency: .ghs)
        #expect(throws: Money.Error.currencyMismatch(.ngn, .ghs)) { try naira.adding(cedi) }
        #expect(throws: Money.Error.currencyMismatch(.ngn, .ghs)) { try naira.subtracting(cedi) }
    }

    @Test("allocation always sums to the whole and gives the remainder to the first weighted parts")
    func allocation() throws {
        let parts = try Money(minorUnits: 100, currency: .ngn).allocated(byWeights: [1, 1, 1])
        #expect(parts.map(\.minorUnits) == [34, 33, 33])
        let zeroWeight = try Money(minorUnits: 10, currency: .ngn).allocated(byWeights: [0, 1, 2])
        #expect(zeroWeight.map(\.minorUnits) == [0, 4, 6])
        var random = SeededRandom(seed: 3)
        for _ in 0..<2_000 {
            let amount = Int64(random.next() % 10_000_000_000)
            let weights = (0..<Int(random.next() % 5 + 1)).map { _ in Int64(random.next() % 100) } + [1]
            let split = try Money(minorUnits: amount, currency: .usd).allocated(byWeights: weights)
            #expect(split.reduce(0) { $0 + $1.minorUnits } == amount)
            #expect(zip(split, weights).allSatisfy { $1 > 0 || $0.minorUnits == 0 })
        }
    }

    @Test("currencies carry ISO 4217 exponents")
    func exponents() {
        let expected: [String: Int] = [
            "NGN": 2, "GHS": 2, "KES": 2, "UGX": 0, "TZS": 2, "RWF": 0, "ZAR": 2, "XOF": 0, "INR": 2, "USD": 2,
            "EUR": 2, "GBP": 2,
        ]
        for (code, exponent) in expected {
            #expect(Currency(code: code)?.exponent == exponent, "\(code)")
        }
        #expect(Currency(code: "ngn") == nil)
        #expect(Currency(code: "XXX") == nil)
    }
}
