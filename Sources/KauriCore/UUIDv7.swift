/// A 128-bit UUID version 7 (RFC 9562): a 48-bit Unix-millisecond timestamp followed by random bits,
/// so identifiers sort by creation time.
public struct UUIDv7: Hashable, Sendable, Comparable {
    /// The high 64 bits: timestamp (48), version (4), and 12 bits of counter or randomness.
    public let high: UInt64
    /// The low 64 bits: variant (2) and 62 random bits.
    public let low: UInt64

    /// Creates a UUID from its two halves as they are stored.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Creates a version-7 UUID from a timestamp, a 12-bit sequence and 62 bits of randomness.
    public init(unixMilliseconds: UInt64, sequence: UInt16, random: UInt64) {
        let timestamp = (unixMilliseconds & 0xFFFF_FFFF_FFFF) << 16
        self.high = timestamp | (0x7 << 12) | UInt64(sequence & 0x0FFF)
        self.low = (0b10 << 62) | (random & 0x3FFF_FFFF_FFFF_FFFF)
    }

    /// The embedded Unix timestamp in milliseconds.
    public var unixMilliseconds: UInt64 { self.high >> 16 }

    /// The version nibble (7 for identifiers Kauri makes).
    public var version: Int { Int((self.high >> 12) & 0xF) }

    /// Orders by the 128-bit big-endian value, which is creation order for version-7 UUIDs.
    public static func < (lhs: UUIDv7, rhs: UUIDv7) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The canonical hyphenated lower-case form, `xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx`.
    public var uuidString: String {
        let hex = Self.hex(self.high, width: 16) + Self.hex(self.low, width: 16)
        let characters = Array(hex)
        return String(characters[0..<8]) + "-" + String(characters[8..<12]) + "-" + String(characters[12..<16])
            + "-" + String(characters[16..<20]) + "-" + String(characters[20..<32])
    }

    private static func hex(_ value: UInt64, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: width - digits.count) + digits
    }
}

extension UUIDv7 {
    /// Crockford's base-32 alphabet in lower case; it sorts in the same order as the values it encodes.
    static let alphabet: [UInt8] = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// The 26-character base-32 form (ULID layout): the first character carries the top 3 bits, and the
    /// strings sort lexicographically in the same order as the UUIDs.
    public var base32: String {
        var output = [UInt8](repeating: 0, count: 26)
        // Index 25 holds the lowest 5 bits; walk up through the 130-bit space (two leading zero bits).
        var high = self.high
        var low = self.low
        for index in stride(from: 25, through: 0, by: -1) {
            output[index] = Self.alphabet[Int(low & 0x1F)]
            low = (low >> 5) | ((high & 0x1F) << 59)
            high >>= 5
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Parses the 26-character base-32 form; upper or lower case is accepted, anything else is refused.
    public init?(base32 text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 26 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            guard let value = Self.decodeTable[Int(byte)] else { return nil }
            // The first character may only use its low 3 bits, or the value would exceed 128 bits.
            if index == 0 && value > 7 { return nil }
            high = (high << 5) | (low >> 59)
            low = (low << 5) | UInt64(value)
        }
        self.init(high: high, low: low)
    }

    private static let decodeTable: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 256)
        for (value, byte) in alphabet.enumerated() {
            table[Int(byte)] = UInt8(value)
            if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") {
                table[Int(byte - 32)] = UInt8(value)
            }
        }
        return table
    }()
}
