import Crypto
import HTTPTypes
import NIOCore

/// What a request with an idempotency key must repeat exactly to be answered from the stored response:
/// SHA-256 over the method, the request target (path and query) and the body.
///
/// A JSON body is canonicalised first (insignificant whitespace dropped, object keys sorted, string escapes
/// normalised, numbers kept digit for digit), so a client that re-serialises the same document on a retry still
/// matches; any other body is taken byte for byte. Numbers are never converted to floating point, because two
/// amounts that differ only beyond a double's precision must not share a fingerprint.
public struct IdempotencyFingerprint: Sendable, Hashable, CustomStringConvertible {
    /// The deepest nesting of arrays and objects canonicalised; a deeper body is fingerprinted as raw bytes, which
    /// keeps the recursive parser's stack bounded.
    public static let jsonDepthMax = 64

    /// Lowercase hexadecimal digits, for the digest and for `\u00XX` escapes.
    static let hexDigits = Array("0123456789abcdef".utf8)

    /// The digest in lowercase hexadecimal (64 characters).
    public let hex: String

    /// Fingerprints a request.
    ///
    /// - Parameters:
    ///   - method: The request method.
    ///   - target: The path and, when present, `?` and the query, as the client sent them.
    ///   - body: The whole request body.
    public init(method: HTTPRequest.Method, target: String, body: ByteBuffer) {
        let bytes = Array(body.readableBytesView)
        var hasher = SHA256()
        // NUL separates the parts: neither a method nor a request target can contain it, so no two different
        // (method, target, body) triples feed the hash the same bytes.
        hasher.update(data: Array(method.rawValue.utf8) + [0])
        hasher.update(data: Array(target.utf8) + [0])
        if let canonical = Self.canonicalJSON(bytes) {
            hasher.update(data: Array("json".utf8) + [0])
            hasher.update(data: canonical)
        } else {
            hasher.update(data: Array("raw".utf8) + [0])
            hasher.update(data: bytes)
        }
        var hex: [UInt8] = []
        hex.reserveCapacity(2 * SHA256.byteCount)
        for byte in hasher.finalize() {
            hex.append(Self.hexDigits[Int(byte >> 4)])
            hex.append(Self.hexDigits[Int(byte & 0x0F)])
        }
        self.hex = String(decoding: hex, as: UTF8.self)
    }

    /// The digest.
    public var description: String { self.hex }

    /// The canonical form of a JSON text, or nil when `bytes` is not one JSON value (RFC 8259) nested at most
    /// `jsonDepthMax` deep.
    public static func canonicalJSON(_ bytes: [UInt8]) -> [UInt8]? {
        var parser = CanonicalJSONParser(bytes: bytes)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        guard parser.value(into: &output, depth: 0) else { return nil }
        parser.skipWhitespace()
        return parser.isAtEnd ? output : nil
    }
}

/// A recursive-descent JSON parser that writes the canonical form of what it reads.
private struct CanonicalJSONParser {
    /// The text being parsed.
    let bytes: [UInt8]
    /// The read position.
    var index = 0

    /// A parser at the start of `bytes`.
    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Whether every byte has been read.
    var isAtEnd: Bool { self.index == self.bytes.count }

    /// The byte at the read position, if any.
    private var current: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

    /// Skips JSON's insignificant whitespace.
    mutating func skipWhitespace() {
        while let byte = self.current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            self.index += 1
        }
    }

    /// Reads one value and appends its canonical form; false when the input is not JSON.
    mutating func value(into output: inout [UInt8], depth: Int) -> Bool {
        self.skipWhitespace()
        guard let byte = self.current else { return false }
        switch byte {
        case UInt8(ascii: "{"):
            return self.object(into: &output, depth: depth + 1)
        case UInt8(ascii: "["):
            return self.array(into: &output, depth: depth + 1)
        case UInt8(ascii: "\""):
            guard let string = self.string() else { return false }
            Self.writeString(string, into: &output)
            return true
        case UInt8(ascii: "t"):
            return self.literal("true", into: &output)
        case UInt8(ascii: "f"):
            return self.literal("false", into: &output)
        case UInt8(ascii: "n"):
            return self.literal("null", into: &output)
        default:
            return self.number(into: &output)
        }
    }

    /// Reads an object and appends it with its members sorted by key.
    private mutating func object(into output: inout [UInt8], depth: Int) -> Bool {
        guard depth <= IdempotencyFingerprint.jsonDepthMax else { return false }
        self.index += 1
        var members: [(key: [UInt8], value: [UInt8])] = []
        self.skipWhitespace()
        if self.current == UInt8(ascii: "}") {
            self.index += 1
            output.append(contentsOf: Array("{}".utf8))
            return true
        }
        while true {
            self.skipWhitespace()
            guard self.current == UInt8(ascii: "\""), let key = self.string() else { return false }
            self.skipWhitespace()
            guard self.current == UInt8(ascii: ":") else { return false }
            self.index += 1
            var value: [UInt8] = []
            guard self.value(into: &value, depth: depth) else { return false }
            members.append((key, value))
            self.skipWhitespace()
            if self.current == UInt8(ascii: ",") {
                self.index += 1
            } else if self.current == UInt8(ascii: "}") {
                self.index += 1
                break
            } else {
                return false
            }
        }
        // A stable sort by the keys' UTF-8 bytes; duplicate keys keep their order, so they still fingerprint
        // differently when swapped.
        let sorted = members.enumerated().sorted { lhs, rhs in
            lhs.element.key.lexicographicallyPrecedes(rhs.element.key)
                || (lhs.element.key == rhs.element.key && lhs.offset < rhs.offset)
        }
        output.append(UInt8(ascii: "{"))
        for (position, member) in sorted.enumerated() {
            if position > 0 { output.append(UInt8(ascii: ",")) }
            Self.writeString(member.element.key, into: &output)
            output.append(UInt8(ascii: ":"))
            output.append(contentsOf: member.element.value)
        }
        output.append(UInt8(ascii: "}"))
        return true
    }

    /// Reads an array and appends it in order.
    private mutating func array(into output: inout [UInt8], depth: Int) -> Bool {
        guard depth <= IdempotencyFingerprint.jsonDepthMax else { return false }
        self.index += 1
        output.append(UInt8(ascii: "["))
        self.skipWhitespace()
        if self.current == UInt8(ascii: "]") {
            self.index += 1
            output.append(UInt8(ascii: "]"))
            return true
        }
        var first = true
        while true {
            if !first { output.append(UInt8(ascii: ",")) }
            first = false
            guard self.value(into: &output, depth: depth) else { return false }
            self.skipWhitespace()
            if self.current == UInt8(ascii: ",") {
                self.index += 1
            } else if self.current == UInt8(ascii: "]") {
                self.index += 1
                output.append(UInt8(ascii: "]"))
                return true
            } else {
                return false
            }
        }
    }

    /// Reads a string at the read position and returns its decoded UTF-8 bytes.
    private mutating func string() -> [UInt8]? {
        self.index += 1
        var decoded: [UInt8] = []
        while let byte = self.current {
            self.index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return decoded
            case UInt8(ascii: "\\"):
                guard let escaped = self.current else { return nil }
                self.index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escaped)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = self.unicodeEscape() else { return nil }
                    decoded.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: return nil
                }
            case 0x00..<0x20:
                return nil
            default:
                decoded.append(byte)
            }
        }
        return nil
    }

    /// Reads the hex digits after `\u` (and a second `\uXXXX` for a surrogate pair) and returns the scalar.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let high = self.hexQuad() else { return nil }
        if (0xD800...0xDBFF).contains(high) {
            guard self.current == UInt8(ascii: "\\"), self.index + 1 < self.bytes.count,
                self.bytes[self.index + 1] == UInt8(ascii: "u")
            else { return nil }
            self.index += 2
            guard let low = self.hexQuad(), (0xDC00...0xDFFF).contains(low) else { return nil }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        }
        return Unicode.Scalar(high)
    }

    /// Four hexadecimal digits as a number.
    private mutating func hexQuad() -> UInt32? {
        guard self.index + 4 <= self.bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            self.index += 1
        }
        return value
    }

    /// Reads a number per RFC 8259's grammar and copies it unchanged.
    private mutating func number(into output: inout [UInt8]) -> Bool {
        let start = self.index
        if self.current == UInt8(ascii: "-") { self.index += 1 }
        if self.current == UInt8(ascii: "0") {
            self.index += 1
        } else {
            guard self.digits() else { return false }
        }
        if self.current == UInt8(ascii: ".") {
            self.index += 1
            guard self.digits() else { return false }
        }
        if self.current == UInt8(ascii: "e") || self.current == UInt8(ascii: "E") {
            self.index += 1
            if self.current == UInt8(ascii: "+") || self.current == UInt8(ascii: "-") { self.index += 1 }
            guard self.digits() else { return false }
        }
        output.append(contentsOf: self.bytes[start..<self.index])
        return true
    }

    /// Skips one or more decimal digits; false when there is none.
    private mutating func digits() -> Bool {
        let start = self.index
        while let byte = self.current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { self.index += 1 }
        return self.index > start
    }

    /// Reads `true`, `false` or `null`.
    private mutating func literal(_ word: String, into output: inout [UInt8]) -> Bool {
        let expected = Array(word.utf8)
        guard self.index + expected.count <= self.bytes.count,
            Array(self.bytes[self.index..<self.index + expected.count]) == expected
        else { return false }
        self.index += expected.count
        output.append(contentsOf: expected)
        return true
    }

    /// Writes a string in canonical form: only `"`, `\` and control characters escaped.
    private static func writeString(_ decoded: [UInt8], into output: inout [UInt8]) {
        let digits = IdempotencyFingerprint.hexDigits
        output.append(UInt8(ascii: "\""))
        for byte in decoded {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                output.append(UInt8(ascii: "\\"))
                output.append(byte)
            case 0x00..<0x20:
                output.append(contentsOf: Array("\\u00".utf8))
                output.append(digits[Int(byte >> 4)])
                output.append(digits[Int(byte & 0x0F)])
            default:
                output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }
}
