import KauriCore
import Testing

enum PaymentKind: IDKind { static let prefix = "pay" }
enum EscrowKind: IDKind { static let prefix = "esc" }

@Suite("Identifiers and time")
struct IdentifierTests {
    @Test("prefixed ids print as prefix_ plus 26 base-32 characters and parse back")
    func roundTrip() throws {
        let ids = IDGenerator(clock: ManualClock(Timestamp(unixMilliseconds: 1_763_762_789_000)), random: SeededRandom(seed: 1))
        let id: PrefixedID<PaymentKind> = ids.make()
        let text = id.description
        #expect(text.hasPrefix("pay_"))
        #expect(text.count == 30)
        #expect(PrefixedID<PaymentKind>(text) == id)
        #expect(PrefixedID<EscrowKind>(text) == nil)
        #expect(PrefixedID<PaymentKind>(text.uppercased().replacingOccurrences(of: "PAY_", with: "pay_")) == id)
        #expect(PrefixedID<PaymentKind>("pay_" + String(repeating: "z", count: 26)) == nil)
        #expect(id.uuid.version == 7)
        #expect(id.uuid.unixMilliseconds == 1_763_762_789_000)
    }

    @Test("ids from one generator are strictly increasing, as values and as strings, even within one millisecond")
    func monotonic() {
        let clock = ManualClock(Timestamp(unixMilliseconds: 1_700_000_000_000))
        let ids = IDGenerator(clock: clock, random: SeededRandom(seed: 9))
        var previous = ids.makeUUID()
        for step in 0..<10_000 {
            if step % 3_000 == 0 { clock.advance(milliseconds: 1) }
            let next = ids.makeUUID()
            #expect(previous < next)
            #expect(previous.base32 < next.base32)
            previous = next
        }
    }

    @Test("UUID string form is canonical")
    func uuidString() {
        let uuid = UUIDv7(unixMilliseconds: 0x0190_1234_5678, sequence: 0xABC, random: 0x0123_4567_89AB_CDEF)
        #expect(uuid.uuidString == "01901234-5678-7abc-8123-456789abcdef")
    }

    @Test("timestamps format as RFC 3339 UTC with milliseconds", arguments: [
        (UInt64(0), "1970-01-01T00:00:00.000Z"), (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        (1_763_762_789_005, "2025-11-21T22:06:29.005Z"), (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
    ])
    func rfc3339(milliseconds: UInt64, expected: String) {
        #expect(Timestamp(unixMilliseconds: milliseconds).rfc3339 == expected)
    }

    @Test("secrets never print their value")
    func secret() {
        let secret = Secret("postgres://kauri:hunter2@db/kauri")
        #expect("\(secret)" == "***")
        #expect(String(reflecting: secret) == "***")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("hunter2"))
    }
}
