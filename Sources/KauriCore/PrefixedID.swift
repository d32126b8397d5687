/// Names the printed prefix of one kind of identifier (`pay` for payments, `esc` for escrows).
public protocol IDKind: Sendable {
    /// The prefix printed before the underscore, lower case letters only.
    static var prefix: String { get }
}

/// A typed, sortable identifier printed as `<prefix>_<26 base-32 characters>` (e.g. `pay_01jd5...`).
///
/// The type parameter keeps identifiers of different kinds from being mixed up at compile time; the
/// prefix makes them recognisable in logs, URLs and support tickets.
public struct PrefixedID<Kind: IDKind>: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The underlying UUID.
    public let uuid: UUIDv7

    /// Wraps an existing UUID.
    public init(uuid: UUIDv7) {
        self.uuid = uuid
    }

    /// Parses the printed form; returns nil unless the prefix matches and the rest is a valid UUID.
    public init?(_ text: some StringProtocol) {
        let prefix = Kind.prefix
        guard text.count == prefix.count + 27, text.hasPrefix(prefix + "_") else { return nil }
        guard let uuid = UUIDv7(base32: text.dropFirst(prefix.count + 1)) else { return nil }
        self.uuid = uuid
    }

    /// The printed form.
    public var description: String { Kind.prefix + "_" + self.uuid.base32 }

    /// Orders by creation time.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.uuid < rhs.uuid }
}

extension PrefixedID: Codable {
    /// Decodes from the printed form.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = Self(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not a \(Kind.prefix)_ identifier")
        }
        self = id
    }

    /// Encodes as the printed form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }
}
