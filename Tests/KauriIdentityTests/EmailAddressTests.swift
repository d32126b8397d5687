import KauriIdentity
import Testing

@Suite("Email addresses")
struct EmailAddressTests {
    @Test("valid addresses keep the local part and lower-case the domain", arguments: [
        ("ada@example.com", "ada@example.com"),
        ("  Ada.Lovelace+tag@Example.COM \n", "Ada.Lovelace+tag@example.com"),
        ("a@b.co", "a@b.co"),
        ("o'brien@mail.sub.example.org", "o'brien@mail.sub.example.org"),
        ("user@xn--80ak6aa92e.com", "user@xn--80ak6aa92e.com"),
        ("x@example.xn--p1ai", "x@example.xn--p1ai"),
        ("first_last-1@my-domain9.io", "first_last-1@my-domain9.io"),
        ("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com"),
    ])
    func valid(text: String, value: String) throws {
        let address = try #require(EmailAddress(text))
        #expect(address.value == value)
        #expect(address.description == value)
        #expect(address.normalized == value.lowercased())
    }

    @Test("invalid addresses are refused", arguments: [
        "", "   ", "plain", "@example.com", "ada@", "a@@example.com", "a@b@example.com", ".ada@example.com",
        "ada.@example.com", "a..b@example.com", "ada@example", "ada@-example.com", "ada@example-.com",
        "ada@example..com", "ada@.example.com", "ada@example.com.", "ada@example.c", "ada@example.c0m",
        "ada@example.123", "a da@example.com", "ada@exa mple.com", "ada@exa_mple.com", "ädä@example.com",
        "ada@exämple.com", "\"ada\"@example.com", "ada(comment)@example.com", "ada@[127.0.0.1]", "ada@xn--.com",
        "ada@example.com\0", "ada\n@example.com",
    ])
    func invalid(text: String) {
        #expect(EmailAddress(text) == nil)
    }

    @Test("length limits: local part 64, label 63, address 254")
    func lengths() {
        let local64 = String(repeating: "a", count: 64)
        #expect(EmailAddress(local64 + "@example.com") != nil)
        #expect(EmailAddress(local64 + "a@example.com") == nil)
        let label63 = String(repeating: "b", count: 63)
        #expect(EmailAddress("ada@" + label63 + ".com") != nil)
        #expect(EmailAddress("ada@" + label63 + "b.com") == nil)
        // 4 labels of 60, the dots and ".com" make a 247-character domain: 252 characters with "abcd@", 256 with
        // "abcdefgh@".
        let domain = (0..<4).map { _ in String(repeating: "c", count: 60) }.joined(separator: ".") + ".com"
        #expect(EmailAddress("abcd@" + domain) != nil)
        #expect(EmailAddress("abcdefgh@" + domain) == nil)
    }

    @Test("addresses differing only in case are the same account")
    func normalization() throws {
        let first = try #require(EmailAddress("Ada@Example.com"))
        let second = try #require(EmailAddress("ada@example.COM"))
        #expect(first != second)
        #expect(first.normalized == second.normalized)
    }
}
