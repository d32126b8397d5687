/// `application/x-www-form-urlencoded` bodies, as Twilio and Africa's Talking expect them.
///
/// Every byte outside the unreserved set (`A-Z a-z 0-9 - . _ ~`) is percent-encoded from its UTF-8 form, space
/// included (as `%20`), so `&`, `=`, `+` and non-ASCII text survive the round trip exactly.
enum FormURLEncoding {
    /// The body for `fields`, in the given order.
    static func encode(_ fields: [(name: String, value: String)]) -> String {
        fields.map { "\(self.percentEncode($0.name))=\(self.percentEncode($0.value))" }.joined(separator: "&")
    }

    /// `text` with every byte outside the unreserved set percent-encoded.
    static func percentEncode(_ text: String) -> String {
        let hexDigits = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if self.isUnreserved(byte) {
                encoded.append(byte)
            } else {
                encoded.append(UInt8(ascii: "%"))
                encoded.append(hexDigits[Int(byte >> 4)])
                encoded.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
