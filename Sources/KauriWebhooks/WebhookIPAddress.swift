#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IP address a webhook host resolved to, as raw bytes, so the SSRF guard can classify it.
public enum WebhookIPAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address, most significant byte first (`127.0.0.1` is `0x7F00_0001`).
    case v4(UInt32)
    /// An IPv6 address: 16 bytes in network order.
    case v6([UInt8])

    /// Parses a textual address (`10.0.0.1`, `::1`, `::ffff:127.0.0.1`); nil if it is not an IP literal.
    public init?(_ text: some StringProtocol) {
        var text = String(text)
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: &v6) { Array($0) })
            return
        }
        return nil
    }

    /// The textual form (`inet_ntop`).
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch self {
        case .v4(let value):
            var address = in_addr(s_addr: value.bigEndian)
            _ = inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
        case .v6(let bytes):
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes.prefix(16)) }
            _ = inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The form to put in a URL's host: IPv6 in brackets.
    var urlHost: String {
        switch self {
        case .v4: self.description
        case .v6: "[" + self.description + "]"
        }
    }

    /// The IPv4 ranges webhooks never go to: this network, private, carrier-grade NAT, loopback, link-local
    /// (cloud metadata lives at 169.254.169.254), the IETF protocol block, benchmarking, multicast and reserved.
    static let forbiddenV4: [(network: UInt32, prefixLength: Int)] = [
        (0x0000_0000, 8),  // 0.0.0.0/8
        (0x0A00_0000, 8),  // 10.0.0.0/8
        (0x6440_0000, 10),  // 100.64.0.0/10
        (0x7F00_0000, 8),  // 127.0.0.0/8
        (0xA9FE_0000, 16),  // 169.254.0.0/16
        (0xAC10_0000, 12),  // 172.16.0.0/12
        (0xC000_0000, 24),  // 192.0.0.0/24
        (0xC0A8_0000, 16),  // 192.168.0.0/16
        (0xC612_0000, 15),  // 198.18.0.0/15
        (0xE000_0000, 4),  // 224.0.0.0/4 multicast
        (0xF000_0000, 4),  // 240.0.0.0/4 reserved, with 255.255.255.255
    ]

    /// Whether the address is loopback, private, link-local, unspecified or otherwise internal, including IPv4
    /// addresses embedded in IPv6 (mapped `::ffff:0:0/96`, compatible `::/96`, NAT64 `64:ff9b::/96`).
    public var isForbidden: Bool {
        switch self {
        case .v4(let value):
            return Self.forbiddenV4.contains { network, prefixLength in
                let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << (32 - prefixLength)
                return value & mask == network
            }
        case .v6(let bytes):
            guard bytes.count == 16 else { return true }
            let embedded = bytes[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let firstTen = bytes[0..<10].allSatisfy { $0 == 0 }
            if firstTen && bytes[10] == 0xFF && bytes[11] == 0xFF { return WebhookIPAddress.v4(embedded).isForbidden }
            if firstTen && bytes[10] == 0 && bytes[11] == 0 {
                // `::` and `::1`, and the deprecated IPv4-compatible form of any address.
                return embedded <= 1 || WebhookIPAddress.v4(embedded).isForbidden
            }
            if bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0][...] {
                return WebhookIPAddress.v4(embedded).isForbidden
            }
            if bytes[0] & 0xFE == 0xFC { return true }  // fc00::/7 unique local
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return true }  // fe80::/10 link-local
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0xC0 { return true }  // fec0::/10 site-local (deprecated)
            if bytes[0] == 0xFF { return true }  // ff00::/8 multicast
            return false
        }
    }
}
