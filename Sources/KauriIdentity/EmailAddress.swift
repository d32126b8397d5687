/// A syntactically plausible email address, as users type them.
///
/// Deliberately stricter than RFC 5321/5322: an unquoted local part of `atext` characters and single dots, and
/// an ASCII domain name (internationalised domains in their `xn--` form) with a real-looking top-level domain.
/// Whether the address exists is only known by sending to it.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    /// The longest local part (RFC 5321 §4.5.3.1.1).
    static let localPartLengthMax = 64
    /// The longest domain (RFC 1035).
    static let domainLengthMax = 253
    /// The longest domain label (RFC 1035).
    static let labelLengthMax = 63
    /// The longest address, as usable in a forward path (RFC 5321 §4.5.3.1.3 less the angle brackets).
    static let lengthMax = 254

    /// The local part as given, `@`, and the domain lower-cased.
    public let value: String

    /// Parses an address, trimming surrounding whitespace; nil when it is not acceptable.
    public init?(_ text: String) {
        let trimmed = Array(text.utf8.drop(while: Self.isSpace).reversed().drop(while: Self.isSpace).reversed())
        guard trimmed.count <= Self.lengthMax else { return nil }
        let parts = trimmed.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
        guard parts.count == 2, Self.isValidLocalPart(parts[0]), Self.isValidDomain(parts[1]) else { return nil }
        let domain = parts[1].map { Self.lowercased($0) }
        self.value = String(decoding: parts[0], as: UTF8.self) + "@" + String(decoding: domain, as: UTF8.self)
    }

    /// The whole address lower-cased, for uniqueness checks. (Local parts are case-sensitive in theory, never in
    /// practice; treating `Ada@x.io` and `ada@x.io` as one account prevents look-alike sign-ups.)
    public var normalized: String { String(decoding: self.value.utf8.map { Self.lowercased($0) }, as: UTF8.self) }

    /// The address.
    public var description: String { self.value }

    private static func isValidLocalPart(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= Self.localPartLengthMax,
            bytes.first != UInt8(ascii: "."), bytes.last != UInt8(ascii: ".")
        else { return false }
        var previousWasDot = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if previousWasDot { return false }
                previousWasDot = true
            } else {
                guard Self.isAtext(byte) else { return false }
                previousWasDot = false
            }
        }
        return true
    }

    private static func isValidDomain(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= Self.domainLengthMax else { return false }
        let labels = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for label in labels {
            guard !label.isEmpty, label.count <= Self.labelLengthMax,
                label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                label.allSatisfy({ Self.isLetter($0) || Self.isDigit($0) || $0 == UInt8(ascii: "-") })
            else { return false }
        }
        // The last label exists: labels.count >= 2 was checked above.
        let topLevel = labels[labels.count - 1].map { Self.lowercased($0) }
        let isPunycode = topLevel.count > 4 && topLevel.starts(with: Array("xn--".utf8))
        return isPunycode || (topLevel.count >= 2 && topLevel.allSatisfy(Self.isLetter))
    }

    /// RFC 5322 `atext`: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
    private static func isAtext(_ byte: UInt8) -> Bool {
        Self.isLetter(byte) || Self.isDigit(byte) || Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(byte)
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
            || byte == UInt8(ascii: "\r")
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}
