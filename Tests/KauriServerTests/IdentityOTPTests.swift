import Foundation
import Hummingbird
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriIdentity
import SQLKit
import Testing

/// Phone sign-in by one-time code: each rule of the issue and reliability.md §7E item 17 on its own, on SQLite
/// and (when POSTGRES_URL is set) PostgreSQL.
@Suite("Identity: phone one-time codes")
struct IdentityOTPTests {
    static let phone = "+233241234567"

    @Test("a code is sent and signs in; the user is created on first sign-in and found on the second")
    func signInCreatesUserOnce() async throws {
        try await IdentityHarness.forEachEngine { h in
            let requested = try await h.send(.post, "/v1/auth/otp", ["phone": "024 123 4567"])
            #expect(requested.status == .unprocessableContent, "national format without a country is refused")
            let first = try await h.signInByPhone(Self.phone)
            #expect(first["token_type"] as? String == "Bearer")
            #expect(first["expires_in"] as? Int == 600)
            let user = try #require(first.user)
            #expect(user["phone"] as? String == Self.phone)
            #expect(user["roles"] as? [String] == ["customer"])
            h.advance(seconds: 301)
            let second = try await h.signInByPhone(Self.phone)
            #expect(second.user?["id"] as? String == user["id"] as? String)
            let me = try await h.send(.get, "/v1/me", token: second.accessToken)
            #expect(me.status == .ok)
            #expect(me["id"] as? String == user["id"] as? String)
        }
    }

    @Test("an invalid phone number is refused with auth.invalid_phone and nothing is sent")
    func invalidPhone() async throws {
        try await IdentityHarness.forEachEngine { h in
            for phone in ["+2335", "hello", "+1 415 555 0100", "+233301234567"] {
                let reply = try await h.send(.post, "/v1/auth/otp", ["phone": phone])
                #expect(reply.status == .unprocessableContent, "\(phone): \(reply.json)")
                #expect(reply.code == "auth.invalid_phone", "\(phone)")
            }
            let count = try await h.database.withConnection { connection in
                try await connection.raw("SELECT COUNT(*) AS n FROM otp_challenges").first()?.decode(
                    column: "n", as: Int.self)
            }
            #expect(count == 0)
        }
    }

    @Test("the answer is the same for a registered and an unregistered phone")
    func noEnumeration() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.signInByPhone(Self.phone)
            h.advance(seconds: 301)
            let known = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let unknown = try await h.send(.post, "/v1/auth/otp", ["phone": "+233241234568"])
            #expect(known.status == .accepted)
            #expect(known.status == unknown.status)
            #expect(NSDictionary(dictionary: known.json) == NSDictionary(dictionary: unknown.json))
        }
    }

    @Test("five wrong codes burn the challenge: the sixth attempt, with the right code, is refused")
    func burnedAfterFiveWrong() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let code = try await h.latestCode(to: Self.phone)
            let wrong = code == "000000" ? "111111" : "000000"
            for attempt in 1...5 {
                let reply = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": wrong])
                let expected = attempt < 5 ? "auth.code_invalid" : "auth.too_many_attempts"
                #expect(reply.code == expected, "attempt \(attempt): \(reply.json)")
            }
            let sixth = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": code])
            #expect(sixth.status == .tooManyRequests)
            #expect(sixth.code == "auth.too_many_attempts")
        }
    }

    @Test("a code expires after five minutes: at 5:00 it works, at 5:01 it is refused")
    func expiry() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let code = try await h.latestCode(to: Self.phone)
            h.advance(seconds: 301)
            let late = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": code])
            #expect(late.status == .unauthorized)
            #expect(late.code == "auth.code_expired")

            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let fresh = try await h.latestCode(to: Self.phone)
            h.advance(seconds: 300)
            let justInTime = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": fresh])
            #expect(justInTime.status == .ok, "\(justInTime.json)")
        }
    }

    @Test("a code works once")
    func singleUse() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let code = try await h.latestCode(to: Self.phone)
            let first = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": code])
            #expect(first.status == .ok)
            let again = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": code])
            #expect(again.status == .unauthorized)
            #expect(again.code == "auth.code_invalid")
        }
    }

    @Test("a code is bound to its challenge: after a new code is sent, the old one no longer verifies")
    func boundToChallenge() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let old = try await h.latestCode(to: Self.phone)
            h.advance(seconds: 1)
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let new = try await h.latestCode(to: Self.phone)
            guard old != new else { return }  // one chance in a million
            let stale = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": old])
            #expect(stale.code == "auth.code_invalid")
            // A code is also bound to its phone.
            let otherPhone = try await h.send(.post, "/v1/auth/otp/verify", ["phone": "+233241234568", "code": new])
            #expect(otherPhone.code == "auth.code_invalid")
            let current = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": new])
            #expect(current.status == .ok)
        }
    }

    @Test("50 concurrent wrong guesses: at most 5 counted, none accepted")
    func concurrentWrongGuesses() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let code = try await h.latestCode(to: Self.phone)
            let accepted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for guess in 0..<50 {
                    var wrong = String(format: "%06d", (Int(code)! + 1 + guess) % 1_000_000)
                    if wrong == code { wrong = "abcdef" }
                    let body = ["phone": Self.phone, "code": wrong]
                    group.addTask { try await h.send(.post, "/v1/auth/otp/verify", body).status == .ok }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(accepted == 0)
            let attempts = try await h.database.withConnection { connection in
                try await connection.raw("SELECT attempts FROM otp_challenges").first()?.decode(
                    column: "attempts", as: Int.self)
            }
            #expect(attempts == 5)
        }
    }

    @Test("20 concurrent correct submissions: exactly one session")
    func concurrentCorrect() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let code = try await h.latestCode(to: Self.phone)
            let successes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phone, "code": code]).status
                            == .ok
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(successes == 1)
            let (sessions, users) = try await h.database.withConnection { connection in
                (
                    try await connection.raw("SELECT COUNT(*) AS n FROM sessions").first()?.decode(
                        column: "n", as: Int.self),
                    try await connection.raw("SELECT COUNT(*) AS n FROM users").first()?.decode(
                        column: "n", as: Int.self)
                )
            }
            #expect(sessions == 1)
            #expect(users == 1)
        }
    }

    @Test("at most 3 codes per phone per 5 minutes: the fourth answers 429 with Retry-After")
    func perPhoneCap() async throws {
        try await IdentityHarness.forEachEngine { h in
            for _ in 1...3 {
                #expect(try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone]).status == .accepted)
                h.advance(seconds: 10)
            }
            let fourth = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            #expect(fourth.status == .tooManyRequests)
            #expect(fourth.code == "auth.too_many_codes")
            // The first code was sent 30 s ago: a slot frees 270 s from now.
            #expect(fourth.headers[.retryAfter] == "270")
            // Another phone is not affected.
            #expect(try await h.send(.post, "/v1/auth/otp", ["phone": "+233241234568"]).status == .accepted)
            h.advance(seconds: 271)
            #expect(try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone]).status == .accepted)
        }
    }

    @Test("at most 10 codes per phone per day")
    func perPhoneDailyCap() async throws {
        try await IdentityHarness.forEachEngine { h in
            for index in 1...10 {
                let reply = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
                #expect(reply.status == .accepted, "code \(index)")
                h.advance(seconds: 301)
            }
            let eleventh = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            #expect(eleventh.status == .tooManyRequests)
            #expect(eleventh.code == "auth.too_many_codes")
        }
    }

    @Test("at most 20 codes per client address per hour, across phones")
    func perClientCap() async throws {
        try await IdentityHarness.forEachEngine { h in
            let client = ClientInfo(address: "203.0.113.7", userAgent: "test")
            for index in 0..<20 {
                let phone = try PhoneNumber(parsing: "+2332412345\(String(format: "%02d", index))")
                _ = try await h.identity.requestSignInCode(phone: phone, client: client)
            }
            let refused = await #expect(throws: APIError.self) {
                _ = try await h.identity.requestSignInCode(
                    phone: try PhoneNumber(parsing: "+233241234599"), client: client)
            }
            #expect(refused?.code.rawValue == "auth.too_many_codes")
            // Another address is not affected.
            _ = try await h.identity.requestSignInCode(
                phone: try PhoneNumber(parsing: "+233241234599"),
                client: ClientInfo(address: "203.0.113.8", userAgent: nil))
        }
    }

    @Test("the database holds no code in plain text: only MACs and sealed outbox bodies, cleared once sent")
    func noPlaintextCodes() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phone])
            let (mac, pendingBody) = try await h.database.withConnection { connection in
                (
                    try await connection.raw("SELECT code_mac FROM otp_challenges").first()?.decode(
                        column: "code_mac", as: String.self),
                    try await connection.raw("SELECT body FROM outbox_messages").first()?.decode(
                        column: "body", as: String.self)
                )
            }
            let code = try await h.latestCode(to: Self.phone)
            #expect(mac?.contains(code) == false)
            #expect(pendingBody?.contains(code) == false, "the waiting body is sealed")
            let sentBody = try await h.database.withConnection { connection in
                try await connection.raw("SELECT body, status FROM outbox_messages").first()
            }
            #expect(try sentBody?.decode(column: "status", as: String.self) == "sent")
            #expect(try sentBody?.decode(column: "body", as: String.self) == "")
        }
    }

    @Test("requesting a code takes the same time for registered and unregistered phones (median within 5 ms)")
    func timing() async throws {
        try await IdentityHarness.with(.sqlite) { h in
            let pairs = 60
            let known = (0..<pairs).map { "+2332420000\(String(format: "%02d", $0))" }
            let unknown = (0..<pairs).map { "+2332430000\(String(format: "%02d", $0))" }
            for phone in known { _ = try await h.signInByPhone(phone) }
            try await h.deliverOutbox()
            h.advance(seconds: 301)
            func time(_ phone: String) async throws -> Double {
                let start = ContinuousClock.now
                let reply = try await h.send(.post, "/v1/auth/otp", ["phone": phone])
                let elapsed = ContinuousClock.now - start
                #expect(reply.status == .accepted)
                return Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1_000
            }
            // Adjacent pairs in alternating order, so the machine's load drift cancels in each difference.
            var differences: [Double] = []
            for index in 0..<pairs {
                if index.isMultiple(of: 2) {
                    let a = try await time(known[index])
                    let b = try await time(unknown[index])
                    differences.append(a - b)
                } else {
                    let b = try await time(unknown[index])
                    let a = try await time(known[index])
                    differences.append(a - b)
                }
            }
            let median = differences.sorted()[differences.count / 2]
            #expect(abs(median) < 5, "median difference \(median) ms")
        }
    }
}
