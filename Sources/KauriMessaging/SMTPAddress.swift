import Foundation

/// Checks of the email addresses that go into SMTP commands and headers.
enum SMTPAddress {
    /// The longest address accepted (RFC 5321 §4.5.3.1.3 path limit less the angle brackets).
    static let characterCountMax = 254

    /// The bare address in `text` (`a@example.com` or `Name <a@example.com>`), or `nil` when it is not a
    /// plausible ASCII address. Rejecting spaces, control characters and angle brackets keeps commands and
    /// headers from being injected.
    static func bare(_ text: String) -> String? {
        var address = Substring(text.trimmingCharacters(in: .whitespaces))
        if address.hasSuffix(">"), let open = address.lastIndex(of: "<") {
            address = address[address.index(after: open)..<address.index(before: address.endIndex)]
        }
        let isPrintable = address.utf8.allSatisfy {
            (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">")
        }
        guard !address.isEmpty, address.count <= Self.characterCountMax, isPrintable,
            let at = address.lastIndex(of: "@"), at != address.startIndex,
            address.index(after: at) != address.endIndex
        else { return nil }
        return String(address)
    }

    /// The part after the last `@` of a bare address.
    static func domain(of address: String) -> String {
        address.split(separator: "@").last.map(String.init) ?? address
    }
}
