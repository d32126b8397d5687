import Foundation

/// A JSON scalar that providers write either as a number or as a string (`"expires_in": 3599` or `"3599"`,
/// `"amount": 5000` or `"5000"`), kept as text so no amount ever passes through floating point.
///
/// Integers are read as `Int64`, other numbers as `Decimal` (parsed exactly from the JSON text), strings as they
/// are, trimmed; booleans as `true`/`false`.
struct WireText: Decodable, Sendable, Hashable, CustomStringConvertible {
    /// The value as text.
    let value: String

    /// Wraps text.
    init(_ value: String) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let integer = try? container.decode(Int64.self) {
            self.value = String(integer)
        } else if let text = try? container.decode(String.self) {
            self.value = text.trimmingCharacters(in: .whitespaces)
        } else if let decimal = try? container.decode(Decimal.self) {
            self.value = decimal.description
        } else if let flag = try? container.decode(Bool.self) {
            self.value = flag ? "true" : "false"
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a number or a string")
        }
    }

    /// The value as a whole number, when it is one.
    var integer: Int64? { Int64(self.value) }

    var description: String { self.value }
}
