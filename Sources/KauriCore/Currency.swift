/// An ISO 4217 currency with its minor-unit exponent.
///
/// Only currencies Kauri knows are constructible, so an amount can never carry an exponent we guessed.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    /// The three-letter ISO 4217 alphabetic code, upper case (`"NGN"`).
    public let code: String
    /// The number of decimal digits of the minor unit (2 for kobo, 0 for Ugandan shillings).
    public let exponent: Int

    private init(code: String, exponent: Int) {
        self.code = code
        self.exponent = exponent
    }

    /// Nigerian naira (kobo).
    public static let ngn = Currency(code: "NGN", exponent: 2)
    /// Ghanaian cedi (pesewas).
    public static let ghs = Currency(code: "GHS", exponent: 2)
    /// Kenyan shilling (cents).
    public static let kes = Currency(code: "KES", exponent: 2)
    /// Ugandan shilling, which has no minor unit.
    public static let ugx = Currency(code: "UGX", exponent: 0)
    /// Tanzanian shilling (cents).
    public static let tzs = Currency(code: "TZS", exponent: 2)
    /// Rwandan franc, which has no minor unit.
    public static let rwf = Currency(code: "RWF", exponent: 0)
    /// South African rand (cents).
    public static let zar = Currency(code: "ZAR", exponent: 2)
    /// West African CFA franc, which has no minor unit.
    public static let xof = Currency(code: "XOF", exponent: 0)
    /// Central African CFA franc, which has no minor unit.
    public static let xaf = Currency(code: "XAF", exponent: 0)
    /// Indian rupee (paise).
    public static let inr = Currency(code: "INR", exponent: 2)
    /// United States dollar (cents).
    public static let usd = Currency(code: "USD", exponent: 2)
    /// Euro (cents).
    public static let eur = Currency(code: "EUR", exponent: 2)
    /// Pound sterling (pence).
    public static let gbp = Currency(code: "GBP", exponent: 2)
    /// Egyptian pound (piastres).
    public static let egp = Currency(code: "EGP", exponent: 2)
    /// Zambian kwacha (ngwee).
    public static let zmw = Currency(code: "ZMW", exponent: 2)

    /// Every currency Kauri supports, in code order.
    public static let all: [Currency] = [
        .egp, .eur, .gbp, .ghs, .inr, .kes, .ngn, .rwf, .tzs, .ugx, .usd, .xaf, .xof, .zar, .zmw,
    ]

    private static let byCode: [String: Currency] = Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0) })

    /// Looks a currency up by its ISO 4217 code; the code must be exactly three upper-case letters.
    public init?(code: String) {
        guard let currency = Currency.byCode[code] else { return nil }
        self = currency
    }

    /// The ISO code.
    public var description: String { self.code }
}

extension Currency: Codable {
    /// Decodes from the bare ISO code string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let code = try container.decode(String.self)
        guard let currency = Currency(code: code) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "unsupported currency '\(code)'")
        }
        self = currency
    }

    /// Encodes as the bare ISO code string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.code)
    }
}

extension Currency: Comparable {
    /// Currencies order by code so that reports and maps iterate deterministically.
    public static func < (lhs: Currency, rhs: Currency) -> Bool { lhs.code < rhs.code }
}
