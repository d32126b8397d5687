import Foundation
import KauriCore

/// Renders a plain-text email as the bytes sent after SMTP's `DATA`: RFC 5322 headers, a quoted-printable UTF-8
/// body, CRLF line endings, dot-stuffing (RFC 5321 §4.5.2) and the closing `.` line.
enum SMTPMessageFormat {
    /// The longest subject sent as plain text; longer or non-ASCII subjects become folded encoded-words.
    static let plainSubjectCharacterCountMax = 900
    /// The longest quoted-printable line, soft break included (RFC 2045 §6.7).
    static let quotedPrintableLineLengthMax = 76
    /// The most UTF-8 bytes in one encoded-word: 42 bytes make a 68-character word, within RFC 2047's 75, and
    /// `Subject: ` plus one word within RFC 5322's recommended 78-character line.
    static let encodedWordByteCountMax = 42

    /// The DATA payload, ending in `CRLF.CRLF`.
    static func render(
        fromAddress: String,
        fromName: String?,
        to: String,
        subject: String,
        text: String,
        date: Timestamp,
        messageID: String
    ) -> [UInt8] {
        let from = fromName.map { "\(self.displayName($0)) <\(fromAddress)>" } ?? fromAddress
        let headers = [
            "From: \(from)",
            "To: \(to)",
            "Subject: \(self.headerText(subject))",
            "Date: \(self.rfc5322Date(date))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ]
        let message = headers.joined(separator: "\r\n") + "\r\n\r\n" + self.quotedPrintable(text)
        return self.dotStuffed(message) + Array("\r\n.\r\n".utf8)
    }

    /// `text` as a header value: itself when it is short printable ASCII, else folded RFC 2047 encoded-words.
    /// Line breaks in `text` become spaces, so a header can never be injected.
    static func headerText(_ text: String) -> String {
        let oneLine = text.replacing(/\r\n|\r|\n/, with: " ")
        let isPlain = oneLine.utf8.allSatisfy { (0x20...0x7E).contains($0) } && !oneLine.contains("=?")
        if isPlain && oneLine.count <= self.plainSubjectCharacterCountMax {
            return oneLine
        }
        return self.encodedWords(oneLine)
    }

    /// A display name for `From`: a quoted string when ASCII, else encoded-words.
    static func displayName(_ name: String) -> String {
        let oneLine = name.replacing(/\r\n|\r|\n/, with: " ")
        guard oneLine.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { return self.encodedWords(oneLine) }
        let escaped = oneLine.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\""
    }

    /// `text` as `=?utf-8?B?…?=` words of at most 42 UTF-8 bytes each, never splitting a character, folded onto
    /// continuation lines.
    static func encodedWords(_ text: String) -> String {
        var chunks: [[UInt8]] = []
        var current: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if !current.isEmpty && current.count + bytes.count > self.encodedWordByteCountMax {
                chunks.append(current)
                current = []
            }
            current.append(contentsOf: bytes)
        }
        if !current.isEmpty || chunks.isEmpty {
            chunks.append(current)
        }
        return chunks.map { "=?utf-8?B?\(Data($0).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    /// `text` in quoted-printable (RFC 2045 §6.7) with CRLF line breaks; any line break in `text` (CRLF, LF or CR)
    /// becomes a hard break.
    static func quotedPrintable(_ text: String) -> String {
        let hexDigits = Array("0123456789ABCDEF".utf8)
        let lines = text.replacing(/\r\n|\r/, with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        var output: [String] = []
        for line in lines {
            let bytes = Array(line.utf8)
            var current = ""
            for (index, byte) in bytes.enumerated() {
                let isLast = index == bytes.count - 1
                let token: String
                switch byte {
                case 33...60, 62...126:
                    token = String(UnicodeScalar(byte))
                case UInt8(ascii: " ") where !isLast, UInt8(ascii: "\t") where !isLast:
                    token = String(UnicodeScalar(byte))
                default:
                    let hex = [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
                    token = "=" + String(decoding: hex, as: UTF8.self)
                }
                // Leave room for the "=" of a soft line break.
                if current.utf8.count + token.utf8.count > self.quotedPrintableLineLengthMax - 1 {
                    output.append(current + "=")
                    current = ""
                }
                current += token
            }
            output.append(current)
        }
        return output.joined(separator: "\r\n")
    }

    /// `message` with a `.` added before every line that starts with `.`.
    static func dotStuffed(_ message: String) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(message.utf8.count + 16)
        var atLineStart = true
        for byte in message.utf8 {
            if atLineStart && byte == UInt8(ascii: ".") {
                output.append(UInt8(ascii: "."))
            }
            output.append(byte)
            atLineStart = byte == UInt8(ascii: "\n")
        }
        return output
    }

    /// The date in RFC 5322 form, in UTC: `Tue, 03 Jun 2025 10:00:00 +0000`.
    static func rfc5322Date(_ timestamp: Timestamp) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(timestamp.unixMilliseconds) / 1_000))
    }
}
