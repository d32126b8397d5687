/// A JSON value a provider accepts either as a number or as a string, e.g. Paystack's `amount` (`20000` or
/// `"20000"`) or Daraja's `PhoneNumber` (`254708374149` or `"254708374149"`). Decoding keeps the text so each
/// simulator applies its own provider's rule to it.
struct SandboxLenientValue: Decodable, Sendable, Hashable {
    /// The value as text: a string as sent, a number in its shortest decimal form.
    let text: String
    /// Whether the JSON value was a number rather than a string.
    let wasNumber: Bool

    /// Decodes a string, a whole number or a fractional number.
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.text = text
            self.wasNumber = false
        } else if let whole = try? container.decode(Int64.self) {
            self.text = String(whole)
            self.wasNumber = true
        } else {
            let number = try container.decode(Double.self)
            self.text = String(number)
            self.wasNumber = true
        }
    }

    /// The value when it is a whole number: digits with an optional leading `-`, or a number whose fraction is zero
    /// (`10.0`). `nil` for `"1.5"`, `"ten"` or an empty string.
    var wholeNumber: Int64? {
        if let whole = Int64(self.text) {
            return whole
        }
        guard let number = Double(self.text), number.isFinite, number == number.rounded(),
            abs(number) < Self.exactDoubleMagnitudeMax
        else { return nil }
        return Int64(number)
    }

    /// The largest magnitude below which every whole `Double` converts to `Int64` exactly (2^53).
    private static let exactDoubleMagnitudeMax = 9_007_199_254_740_992.0
}
