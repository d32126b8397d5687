/// A validated `Idempotency-Key` header value.
///
/// draft-ietf-httpapi-idempotency-key-header makes the field a Structured Fields sf-string (`"8e03978e-…"`, RFC 8941
/// §3.3.3: printable ASCII between double quotes, with only `\"` and `\\` as escapes). Many clients send Stripe's
/// bare form instead (`8e03978e-…`), so a bare token of `A–Z a–z 0–9 - _ . : ~` is accepted as well. Either way the
/// key, after unquoting, is 1 to `lengthMax` characters. Everything is checked before the key reaches a query.
public struct IdempotencyKey: Sendable, Hashable, CustomStringConvertible {
    /// The longest key accepted, in characters after unquoting (Stripe's limit).
    public static let lengthMax = 255

    /// The key as the client meant it: the sf-string's content, or the bare token.
    public let value: String

    /// Parses one header field value; nil when it is neither a valid sf-string nor a valid bare key.
    public init?(headerValue: String) {
        let bytes = Array(headerValue.utf8)
        guard let first = bytes.first else { return nil }
        let parsed: [UInt8]?
        if first == UInt8(ascii: "\"") {
            parsed = Self.unquote(bytes)
        } else {
            parsed = bytes.allSatisfy(Self.isBareKeyByte) ? bytes : nil
        }
        guard let parsed, !parsed.isEmpty, parsed.count <= Self.lengthMax else { return nil }
        // Every accepted byte is ASCII, so one byte is one character.
        self.value = String(decoding: parsed, as: UTF8.self)
    }

    /// The key.
    public var description: String { self.value }

    /// The content of an sf-string that spans all of `bytes`, or nil if it is malformed or has trailing bytes.
    private static func unquote(_ bytes: [UInt8]) -> [UInt8]? {
        var content: [UInt8] = []
        content.reserveCapacity(bytes.count)
        var index = 1
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { return nil }
                let escaped = bytes[index + 1]
                guard escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else { return nil }
                content.append(escaped)
                index += 2
            case UInt8(ascii: "\""):
                // The closing quote must end the value: a second item or a parameter is not one key.
                return index == bytes.count - 1 ? content : nil
            case 0x20...0x7E:
                content.append(byte)
                index += 1
            default:
                // Control characters, DEL and non-ASCII bytes are not allowed in an sf-string.
                return nil
            }
        }
        // No closing quote.
        return nil
    }

    /// Whether `byte` may appear in a bare (Stripe-style) key.
    private static func isBareKeyByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
            UInt8(ascii: ":"), UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
