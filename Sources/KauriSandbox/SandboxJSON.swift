/// A JSON document written by hand, so the payment simulators control exactly what goes on the wire: explicit
/// `null`s, numbers written the way the provider writes them (`1.00`), strings where the provider sends strings,
/// and keys in the provider's order.
enum SandboxJSON: Sendable {
    /// An object; members keep their order.
    case object([(String, SandboxJSON)])
    /// An array.
    case array([SandboxJSON])
    /// A string.
    case string(String)
    /// A whole number.
    case integer(Int64)
    /// A number written exactly as this text, e.g. `1.00`; the text must be a valid JSON number.
    case number(String)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null

    /// A string, or `null` when there is none.
    static func optionalString(_ value: String?) -> SandboxJSON {
        value.map { .string($0) } ?? .null
    }

    /// The UTF-8 bytes of the document, without insignificant whitespace.
    var bytes: [UInt8] {
        var output: [UInt8] = []
        self.write(into: &output)
        return output
    }

    /// The value of the member `name`, when this is an object that has it.
    subscript(name: String) -> SandboxJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }

    private func write(into output: inout [UInt8]) {
        switch self {
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(member.0, into: &output)
                output.append(UInt8(ascii: ":"))
                member.1.write(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                element.write(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .string(let text):
            Self.writeString(text, into: &output)
        case .integer(let value):
            output.append(contentsOf: String(value).utf8)
        case .number(let text):
            output.append(contentsOf: text.utf8)
        case .bool(let value):
            output.append(contentsOf: (value ? "true" : "false").utf8)
        case .null:
            output.append(contentsOf: "null".utf8)
        }
    }

    /// Writes a JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    private static func writeString(_ text: String, into output: inout [UInt8]) {
        let hexDigits = Array("0123456789abcdef".utf8)
        output.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): output.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): output.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\r"): output.append(contentsOf: "\\r".utf8)
            case UInt8(ascii: "\t"): output.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                output.append(contentsOf: "\\u00".utf8)
                output.append(hexDigits[Int(byte >> 4)])
                output.append(hexDigits[Int(byte & 0x0f)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
