/// Checks of the E.164 recipient numbers that `SmsMessage.to` carries.
enum E164Recipient {
    /// The digits after the `+` when `number` is `+` followed by 8 to 15 digits, else `nil`.
    static func digits(of number: String) -> String? {
        guard number.first == "+" else { return nil }
        let digits = number.dropFirst()
        guard (8...15).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return String(digits)
    }
}
