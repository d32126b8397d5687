import Foundation
import KauriCore
import Testing

@testable import KauriMessaging

@Suite("SMTP message format")
struct SMTPMessageFormatTests {
    @Test("lines starting with a dot are dot-stuffed and the message ends with CRLF.CRLF")
    func dotStuffing() {
        let payload = SMTPMessageFormat.render(
            fromAddress: "a@kauri.example", fromName: nil, to: "b@example.com", subject: "s", text: ".\n..x\nok",
            date: Timestamp(unixMilliseconds: 0), messageID: "<1@kauri.example>")
        let text = String(decoding: payload, as: UTF8.self)
        #expect(text.hasSuffix("\r\n..\r\n...x\r\nok\r\n.\r\n"))
        #expect(text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"))
    }

    @Test("quoted-printable escapes '=', non-ASCII and trailing spaces, and soft-breaks long lines")
    func quotedPrintable() {
        #expect(SMTPMessageFormat.quotedPrintable("a=b ") == "a=3Db=20")
        #expect(SMTPMessageFormat.quotedPrintable("café\r\nx") == "caf=C3=A9\r\nx")
        let long = SMTPMessageFormat.quotedPrintable(String(repeating: "é", count: 40))
        let lines = long.components(separatedBy: "\r\n")
        #expect(lines.count > 1)
        #expect(lines.allSatisfy { $0.utf8.count <= 76 })
        #expect(lines.dropLast().allSatisfy { $0.hasSuffix("=") })
    }

    @Test("non-ASCII headers become encoded-words of at most 75 characters that never split a character")
    func encodedWords() throws {
        let subject = String(repeating: "😀✓é", count: 20)
        let header = SMTPMessageFormat.headerText(subject)
        let words = header.components(separatedBy: "\r\n ")
        #expect(words.count > 1)
        var decoded = ""
        for word in words {
            #expect(word.count <= 75)
            #expect(word.hasPrefix("=?utf-8?B?") && word.hasSuffix("?="))
            let base64 = word.dropFirst("=?utf-8?B?".count).dropLast(2)
            let bytes = try #require(Data(base64Encoded: String(base64)))
            decoded += try #require(String(data: bytes, encoding: .utf8))
        }
        #expect(decoded == subject)
        #expect(SMTPMessageFormat.headerText("Plain subject") == "Plain subject")
        #expect(SMTPMessageFormat.headerText("Injected\r\nBcc: x@y") == "Injected Bcc: x@y")
    }
}
