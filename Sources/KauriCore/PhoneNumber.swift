/// A mobile phone number in one of the countries Kauri serves, normalised to E.164 (`+233241234567`).
///
/// Only mobile numbers are accepted: Kauri sends OTPs by SMS and charges mobile money, so a landline or a
/// number from an unsupported country is refused with a reason the caller can show.
public struct PhoneNumber: Hashable, Sendable, CustomStringConvertible {
    /// The country the number belongs to.
    public let country: Country
    /// The national significant number: the digits after the country code, without the trunk `0`.
    public let nationalNumber: String

    /// The E.164 form, e.g. `+254712345678`.
    public var e164: String { "+" + self.country.callingCode + self.nationalNumber }

    /// The E.164 digits without the plus, e.g. `254712345678` (the form M-Pesa APIs expect).
    public var digits: String { self.country.callingCode + self.nationalNumber }

    /// The number with all but the last three digits hidden, safe for logs: `+2547******678`.
    public var masked: String {
        let e164 = self.e164
        let visiblePrefix = 1 + self.country.callingCode.count + 1
        let hidden = e164.count - visiblePrefix - 3
        return String(e164.prefix(visiblePrefix)) + String(repeating: "*", count: max(0, hidden))
            + String(e164.suffix(3))
    }

    /// The E.164 form.
    public var description: String { self.e164 }

    /// The mobile network the number's prefix was allocated to, where Kauri knows it.
    public var network: MobileNetwork? { self.country.network(ofNationalNumber: self.nationalNumber) }

    /// Why a phone number was refused.
    public enum Error: Swift.Error, Hashable, Sendable, CustomStringConvertible {
        /// Nothing but separators was given.
        case empty
        /// A character other than digits, a leading `+`, spaces, dots, dashes or parentheses.
        case invalidCharacters
        /// The number is in national form and no country was given to read it in.
        case missingCountryCode
        /// The country calling code is not one Kauri serves.
        case unsupportedCountry
        /// The number has the wrong number of digits for its country.
        case invalidLength(country: Country, expected: Int, actual: Int)
        /// The number is not in a mobile range of its country.
        case notMobile(country: Country)

        /// A sentence for problem details.
        public var description: String {
            switch self {
            case .empty: "phone number is empty"
            case .invalidCharacters: "phone number may contain only digits, a leading '+', spaces and dashes"
            case .missingCountryCode: "phone number needs a country code, e.g. +233…"
            case .unsupportedCountry:
                "phone numbers are supported for " + Country.allCases.map(\.isoCode).joined(separator: ", ")
            case .invalidLength(let country, let expected, let actual):
                "\(country.isoCode) numbers have \(expected) digits after +\(country.callingCode), got \(actual)"
            case .notMobile(let country): "not a \(country.isoCode) mobile number"
            }
        }
    }

    /// Parses a phone number written in E.164 (`+233 24 123 4567`), international without the plus
    /// (`233241234567`, `00233241234567`), or national form (`024 123 4567`) when `defaultCountry` is given.
    public init(parsing text: String, defaultCountry: Country? = nil) throws(PhoneNumber.Error) {
        var digits: [UInt8] = []
        var sawPlus = false
        for (offset, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits.append(byte)
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "("), UInt8(ascii: ")"):
                continue
            case UInt8(ascii: "+") where digits.isEmpty && !sawPlus && offset == 0:
                sawPlus = true
            default:
                throw .invalidCharacters
            }
        }
        guard !digits.isEmpty else { throw .empty }
        let number = String(decoding: digits, as: UTF8.self)

        if sawPlus || number.hasPrefix("00") {
            let international = sawPlus ? Substring(number) : number.dropFirst(2)
            guard let country = Country.matching(international: international) else { throw .unsupportedCountry }
            try self.init(country: country, national: international.dropFirst(country.callingCode.count))
            return
        }
        if number.hasPrefix("0") {
            guard let country = defaultCountry else { throw .missingCountryCode }
            try self.init(country: country, national: number.dropFirst())
            return
        }
        // Digits without a plus: international if they start with a calling code and have the right length
        // (the "2547XXXXXXXX" form M-Pesa users write), else national without the trunk prefix.
        if let country = Country.matching(international: Substring(number)),
           number.count == country.callingCode.count + country.nationalNumberLength {
            try self.init(country: country, national: number.dropFirst(country.callingCode.count))
            return
        }
        guard let country = defaultCountry else { throw .missingCountryCode }
        try self.init(country: country, national: Substring(number))
    }

    private init(country: Country, national: Substring) throws(PhoneNumber.Error) {
        guard national.count == country.nationalNumberLength else {
            throw .invalidLength(country: country, expected: country.nationalNumberLength, actual: national.count)
        }
        guard country.mobilePrefixes.contains(where: { national.hasPrefix($0) }) else {
            throw .notMobile(country: country)
        }
        self.country = country
        self.nationalNumber = String(national)
    }
}

extension PhoneNumber {
    /// The countries whose mobile numbers Kauri accepts.
    public enum Country: String, CaseIterable, Hashable, Sendable {
        case ghana = "GH"
        case nigeria = "NG"
        case kenya = "KE"
        case uganda = "UG"
        case tanzania = "TZ"
        case rwanda = "RW"
        case southAfrica = "ZA"
        case india = "IN"

        /// The ISO 3166-1 alpha-2 code.
        public var isoCode: String { self.rawValue }

        /// The ITU calling code without the plus.
        public var callingCode: String {
            switch self {
            case .ghana: "233"
            case .nigeria: "234"
            case .kenya: "254"
            case .uganda: "256"
            case .tanzania: "255"
            case .rwanda: "250"
            case .southAfrica: "27"
            case .india: "91"
            }
        }

        /// Digits in a mobile national significant number.
        public var nationalNumberLength: Int {
            switch self {
            case .nigeria, .india: 10
            case .ghana, .kenya, .uganda, .tanzania, .rwanda, .southAfrica: 9
            }
        }

        /// Leading digits of the national significant number that are allocated to mobile networks.
        public var mobilePrefixes: [String] {
            switch self {
            // MTN 24 25 53 54 55 59; Telecel (ex-Vodafone) 20 50; AirtelTigo 26 27 56 57; Glo 23.
            case .ghana: ["20", "23", "24", "25", "26", "27", "50", "53", "54", "55", "56", "57", "59"]
            // NCC mobile ranges: 070x, 080x, 081x, 090x, 091x.
            case .nigeria: ["70", "80", "81", "90", "91"]
            // 7xx and the newer 10x/11x ranges.
            case .kenya: ["7", "10", "11"]
            // Airtel 70 74 75, UTL 71, MTN 76 77 78, Africell 79; 72 and 73 are not mobile ranges.
            case .uganda: ["70", "71", "74", "75", "76", "77", "78", "79"]
            // Vodacom 74 75 76, Airtel 68 69 78, Tigo/Yas 65 67 71 77, Halotel 61 62, TTCL 73, Zantel 77.
            case .tanzania: ["61", "62", "65", "66", "67", "68", "69", "71", "73", "74", "75", "76", "77", "78"]
            // Airtel 72 73, MTN 78 79.
            case .rwanda: ["72", "73", "78", "79"]
            // 06x, 07x (not 070), 081–084.
            case .southAfrica: ["60", "61", "62", "63", "64", "65", "66", "67", "68", "71", "72", "73", "74",
                                "76", "78", "79", "81", "82", "83", "84"]
            // Indian mobile numbers start with 6, 7, 8 or 9.
            case .india: ["6", "7", "8", "9"]
            }
        }

        static func matching(international: Substring) -> Country? {
            Country.allCases.first { international.hasPrefix($0.callingCode) }
        }

        func network(ofNationalNumber national: String) -> MobileNetwork? {
            func starts(_ prefixes: [String]) -> Bool { prefixes.contains { national.hasPrefix($0) } }
            switch self {
            case .ghana:
                if starts(["24", "25", "53", "54", "55", "59"]) { return .mtn }
                if starts(["20", "50"]) { return .telecel }
                if starts(["26", "27", "56", "57"]) { return .airtelTigo }
                return nil
            case .kenya:
                if starts(["70", "71", "72", "740", "741", "742", "743", "745", "746", "748", "757", "758", "759",
                           "768", "769", "79", "110", "111", "112", "113", "114", "115"]) {
                    return .safaricom
                }
                if starts(["73", "750", "751", "752", "753", "754", "755", "756", "762", "78", "100", "101", "102"]) {
                    return .airtel
                }
                return nil
            case .nigeria, .uganda, .tanzania, .rwanda, .southAfrica, .india:
                return nil
            }
        }
    }

    /// Mobile networks whose identity matters for payments (mobile-money provider selection).
    public enum MobileNetwork: String, Hashable, Sendable {
        /// MTN (Ghana: MTN MoMo).
        case mtn
        /// Telecel Ghana, formerly Vodafone Ghana (Telecel Cash).
        case telecel
        /// AirtelTigo Ghana (AT Money).
        case airtelTigo = "airteltigo"
        /// Safaricom Kenya (M-Pesa).
        case safaricom
        /// Airtel (Airtel Money).
        case airtel
    }
}
