import KauriCore
import Testing

@Suite("PhoneNumber")
struct PhoneNumberTests {
    @Test("valid numbers normalise to E.164", arguments: [
        ("+233 24 123 4567", PhoneNumber.Country?.none, "+233241234567"),
        ("0241234567", .ghana, "+233241234567"),
        ("233201234567", nil, "+233201234567"),
        ("00233 55 123 4567", nil, "+233551234567"),
        ("+234 803 123 4567", nil, "+2348031234567"),
        ("08031234567", .nigeria, "+2348031234567"),
        ("254712345678", nil, "+254712345678"),
        ("0712 345 678", .kenya, "+254712345678"),
        ("+254 110 123 456", nil, "+254110123456"),
        ("+256 772 123 456", nil, "+256772123456"),
        ("0772123456", .uganda, "+256772123456"),
        ("+255 754 123 456", nil, "+255754123456"),
        ("+250 788 123 456", nil, "+250788123456"),
        ("+27 82 123 4567", nil, "+27821234567"),
        ("082 123 4567", .southAfrica, "+27821234567"),
        ("+91 98765 43210", nil, "+919876543210"),
        ("09876543210", .india, "+919876543210"),
        ("(024) 123-4567", .ghana, "+233241234567"),
        ("712345678", .kenya, "+254712345678"),
    ])
    func valid(text: String, country: PhoneNumber.Country?, e164: String) throws {
        #expect(try PhoneNumber(parsing: text, defaultCountry: country).e164 == e164)
    }

    @Test("invalid numbers are refused with the reason", arguments: [
        ("", PhoneNumber.Country?.none, PhoneNumber.Error.empty),
        ("  - ", nil, .empty),
        ("+233 24 123 456a", nil, .invalidCharacters),
        ("24+1234567", nil, .invalidCharacters),
        ("0241234567", nil, .missingCountryCode),
        ("+1 415 555 0100", nil, .unsupportedCountry),
        ("+44 7700 900123", nil, .unsupportedCountry),
        ("+233 24 123 456", nil, .invalidLength(country: .ghana, expected: 9, actual: 8)),
        ("+233 24 123 45678", nil, .invalidLength(country: .ghana, expected: 9, actual: 10)),
        ("+233 30 212 3456", nil, .notMobile(country: .ghana)),
        ("+234 1 234 5678 90", nil, .notMobile(country: .nigeria)),
        ("+254 20 123 4567", nil, .notMobile(country: .kenya)),
        ("+256 41 123 4567", nil, .notMobile(country: .uganda)),
        ("+255 22 123 4567", nil, .notMobile(country: .tanzania)),
        ("+250 25 123 4567", nil, .notMobile(country: .rwanda)),
        ("+27 11 123 4567", nil, .notMobile(country: .southAfrica)),
        ("+91 22 1234 5678", nil, .notMobile(country: .india)),
    ])
    func invalid(text: String, country: PhoneNumber.Country?, error: PhoneNumber.Error) {
        #expect(throws: error) { try PhoneNumber(parsing: text, defaultCountry: country) }
    }

    @Test("Ghana and Kenya numbers know their network")
    func networks() throws {
        #expect(try PhoneNumber(parsing: "+233241234567").network == .mtn)
        #expect(try PhoneNumber(parsing: "+233201234567").network == .telecel)
        #expect(try PhoneNumber(parsing: "+233271234567").network == .airtelTigo)
        #expect(try PhoneNumber(parsing: "+254712345678").network == .safaricom)
        #expect(try PhoneNumber(parsing: "+254733123456").network == .airtel)
    }

    @Test("masked form hides all but the country code and last three digits")
    func masked() throws {
        let phone = try PhoneNumber(parsing: "+254712345678")
        #expect(phone.masked == "+2547*****678")
        #expect(!phone.masked.contains("12345"))
        #expect(phone.digits == "254712345678")
    }
}
