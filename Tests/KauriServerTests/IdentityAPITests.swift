import Foundation
import Hummingbird
import HummingbirdOTP
import KauriCore
import KauriHTTP
import KauriIdentity
import KauriServer
import KauriTestSupport
import NIOCore
import SQLKit
import Testing

/// The identity API end to end: token attacks, refresh rotation, logout, registration and login, lockout, password
/// reset, TOTP, isolation between users, admin and trial, and profile changes (reliability.md §7E items 17–20), on
/// SQLite and (when POSTGRES_URL is set) PostgreSQL.
@Suite("Identity API")
struct IdentityAPITests {
    typealias Reply = IdentityHarness.Reply

    static let password = "correct horse battery"
    static let phoneA = "+233241234567"
    static let phoneB = "+233241234568"
    static let phoneKenya = "+254712345678"

    // MARK: Helpers

    /// Checks an error answer's status and `code`.
    static func expectProblem(
        _ reply: Reply, _ status: HTTPResponse.Status, _ code: String, _ comment: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(reply.status == status, "\(comment) \(reply.json)", sourceLocation: sourceLocation)
        #expect(reply.code == code, "\(comment) \(reply.json)", sourceLocation: sourceLocation)
    }

    /// Two answers are the same to a client: status and body, ignoring the per-request `request_id`.
    static func sameAnswer(_ a: Reply, _ b: Reply) -> Bool {
        var left = a.json
        var right = b.json
        left["request_id"] = nil
        right["request_id"] = nil
        return a.status == b.status && NSDictionary(dictionary: left) == NSDictionary(dictionary: right)
    }

    static func base64URLEncode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func base64URLDecode(_ text: some StringProtocol) -> Data? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard)
    }

    /// A JWT's three segments.
    static func segments(_ token: String) throws -> [String] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        try #require(parts.count == 3)
        return parts
    }

    /// A JWT segment's JSON object.
    static func jsonSegment(_ segment: String) throws -> [String: Any] {
        let data = try #require(Self.base64URLDecode(segment))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// RFC 4648 base32, padding optional.
    static func base32Decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var buffer = 0
        var bits = 0
        var bytes: [UInt8] = []
        for character in text.uppercased() where character != "=" {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = (buffer << 5) | value
            bits += 5
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8((buffer >> bits) & 0xFF))
            }
        }
        return bytes
    }

    /// The authenticator app's code for the base32 `secret` at the harness clock's time plus `stepOffset` steps.
    static func totpCode(_ base32Secret: String, _ h: IdentityHarness, stepOffset: Int = 0) throws -> String {
        let bytes = try #require(Self.base32Decode(base32Secret))
        let secret = String(decoding: bytes, as: UTF8.self)
        let seconds = Double(h.clock.now().unixMilliseconds) / 1_000 + Double(stepOffset * 30)
        let code = TOTP(secret: secret).compute(date: Date(timeIntervalSince1970: seconds))
        let text = String(code)
        return String(repeating: "0", count: 6 - text.count) + text
    }

    /// A six-digit code that matches none of the steps around now.
    static func wrongTOTPCode(_ base32Secret: String, _ h: IdentityHarness) throws -> String {
        let near = try Set((-2...2).map { try Self.totpCode(base32Secret, h, stepOffset: $0) })
        return ["000000", "111111", "222222", "333333", "444444", "555555"].first { !near.contains($0) }!
    }

    /// Enrols and confirms TOTP for the holder of `token`; returns the base32 secret and the recovery codes.
    static func enableTOTP(
        _ h: IdentityHarness, token: String?, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (secret: String, recoveryCodes: [String]) {
        let enrolled = try await h.send(.post, "/v1/auth/totp/enroll", token: token)
        #expect(enrolled.status == .ok, "\(enrolled.json)", sourceLocation: sourceLocation)
        let secret = try #require(enrolled["secret"] as? String, sourceLocation: sourceLocation)
        let confirmed = try await h.send(
            .post, "/v1/auth/totp/confirm", ["code": try Self.totpCode(secret, h)], token: token)
        #expect(confirmed.status == .ok, "\(confirmed.json)", sourceLocation: sourceLocation)
        let codes = try #require(confirmed["recovery_codes"] as? [String], sourceLocation: sourceLocation)
        return (secret, codes)
    }

    /// The id of the session `token` belongs to (the `current` one of `GET /v1/me/sessions`).
    static func currentSessionID(_ h: IdentityHarness, token: String?) async throws -> String {
        let sessions = try await h.send(.get, "/v1/me/sessions", token: token)
        try #require(sessions.status == .ok, "\(sessions.json)")
        let list = try #require(sessions["data"] as? [[String: Any]])
        return try #require(list.first { $0["current"] as? Bool == true }?["id"] as? String)
    }

    static func sessionIDs(_ h: IdentityHarness, token: String?) async throws -> Set<String> {
        let sessions = try await h.send(.get, "/v1/me/sessions", token: token)
        try #require(sessions.status == .ok, "\(sessions.json)")
        let list = try #require(sessions["data"] as? [[String: Any]])
        return Set(list.compactMap { $0["id"] as? String })
    }

    static func logIn(
        _ h: IdentityHarness, _ email: String, _ password: String = Self.password, extra: [String: Any] = [:]
    )
        async throws -> Reply
    {
        var body: [String: Any] = ["email": email, "password": password]
        body.merge(extra) { $1 }
        return try await h.send(.post, "/v1/auth/login", body)
    }

    static func refresh(_ h: IdentityHarness, _ token: String?) async throws -> Reply {
        try await h.send(.post, "/v1/auth/refresh", ["refresh_token": token ?? ""])
    }

    static func anyRequest() -> Request {
        Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "test", path: "/v1/paid"),
            body: RequestBody(buffer: ByteBuffer()))
    }

    // MARK: 1. Access-token attacks

    @Test("GET /v1/me: a valid access token answers 200")
    func validToken() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.signInByPhone(Self.phoneA)
            let me = try await h.send(.get, "/v1/me", token: signIn.accessToken)
            #expect(me.status == .ok)
            #expect(me["phone"] as? String == Self.phoneA)
        }
    }

    @Test("an access token past its expiry plus leeway answers 401 auth.token_expired")
    func expiredToken() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.signInByPhone(Self.phoneA)
            h.advance(seconds: 600 + 60)
            let withinLeeway = try await h.send(.get, "/v1/me", token: signIn.accessToken)
            #expect(withinLeeway.status == .ok, "exp + 60 s leeway is still accepted: \(withinLeeway.json)")
            h.advance(seconds: 2)
            let expired = try await h.send(.get, "/v1/me", token: signIn.accessToken)
            Self.expectProblem(expired, .unauthorized, "auth.token_expired")
            #expect(expired.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
        }
    }

    @Test("a token re-headed with alg none and no signature answers 401 auth.token_invalid")
    func algNoneToken() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.signInByPhone(Self.phoneA)
            let parts = try Self.segments(try #require(signIn.accessToken))
            let kid = try #require(try Self.jsonSegment(parts[0])["kid"] as? String)
            let header = try JSONSerialization.data(withJSONObject: ["alg": "none", "typ": "at+jwt", "kid": kid])
            let forged = Self.base64URLEncode(header) + "." + parts[1] + "."
            let reply = try await h.send(.get, "/v1/me", token: forged)
            Self.expectProblem(reply, .unauthorized, "auth.token_invalid")
            // The same with the original signature kept.
            let keptSignature = Self.base64URLEncode(header) + "." + parts[1] + "." + parts[2]
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: keptSignature), .unauthorized, "auth.token_invalid")
        }
    }

    @Test("a token whose sub was changed to another user's id (signature kept) answers 401 auth.token_invalid")
    func tamperedPayload() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let b = try await h.signInByPhone(Self.phoneB)
            let idA = try #require(a.user?["id"] as? String)
            let idB = try #require(b.user?["id"] as? String)
            let parts = try Self.segments(try #require(a.accessToken))
            let payload = String(decoding: try #require(Self.base64URLDecode(parts[1])), as: UTF8.self)
            #expect(payload.contains(idA))
            let tampered = payload.replacingOccurrences(of: idA, with: idB)
            let forged = parts[0] + "." + Self.base64URLEncode(Data(tampered.utf8)) + "." + parts[2]
            let reply = try await h.send(.get, "/v1/me", token: forged)
            Self.expectProblem(reply, .unauthorized, "auth.token_invalid")
            #expect(reply["id"] == nil)
        }
    }

    @Test("a token with an altered signature answers 401 auth.token_invalid")
    func tamperedSignature() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.signInByPhone(Self.phoneA)
            let parts = try Self.segments(try #require(signIn.accessToken))
            var signature = Array(parts[2])
            signature[0] = signature[0] == "A" ? "B" : "A"
            let forged = parts[0] + "." + parts[1] + "." + String(signature)
            Self.expectProblem(try await h.send(.get, "/v1/me", token: forged), .unauthorized, "auth.token_invalid")
        }
    }

    @Test("a well-formed token signed by a key the server does not hold answers 401 auth.token_invalid")
    func foreignKeyToken() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.signInByPhone(Self.phoneA)
            let userID = try #require(signIn.user?["id"] as? String)
            let sessionID = try await Self.currentSessionID(h, token: signIn.accessToken)
            let foreign = AccessTokens(signingKey: .generate(), issuer: "kauri", audience: "kauri-api", clock: h.clock)
            let (token, _) = try await foreign.issue(userID: userID, sessionID: sessionID)
            Self.expectProblem(try await h.send(.get, "/v1/me", token: token), .unauthorized, "auth.token_invalid")
        }
    }

    @Test("a refresh token sent as the bearer token answers 401 auth.unauthenticated")
    func refreshTokenAsAccessToken() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.signInByPhone(Self.phoneA)
            let refreshToken = try #require(signIn.refreshToken)
            #expect(refreshToken.hasPrefix("rt_"))
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: refreshToken), .unauthorized, "auth.unauthenticated")
        }
    }

    @Test("no token answers 401 auth.unauthenticated with a WWW-Authenticate challenge")
    func noToken() async throws {
        try await IdentityHarness.forEachEngine { h in
            let reply = try await h.send(.get, "/v1/me")
            Self.expectProblem(reply, .unauthorized, "auth.unauthenticated")
            #expect(reply.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(reply.headers)")
        }
    }

    // MARK: 2. Refresh rotation

    @Test("refresh rotates the pair; the old access token lives until expiry; the new refresh token works")
    func refreshRotates() async throws {
        try await IdentityHarness.forEachEngine { h in
            let first = try await h.signInByPhone(Self.phoneA)
            let second = try await Self.refresh(h, first.refreshToken)
            #expect(second.status == .ok, "\(second.json)")
            let access2 = try #require(second.accessToken)
            let refresh2 = try #require(second.refreshToken)
            #expect(refresh2 != first.refreshToken)
            #expect(second.user?["id"] as? String == first.user?["id"] as? String)
            #expect(try await h.send(.get, "/v1/me", token: first.accessToken).status == .ok)
            #expect(try await h.send(.get, "/v1/me", token: access2).status == .ok)
            h.advance(seconds: 20)
            let third = try await Self.refresh(h, refresh2)
            #expect(third.status == .ok, "\(third.json)")
            #expect(third.refreshToken != refresh2)
            #expect(try await h.send(.get, "/v1/me", token: third.accessToken).status == .ok)
            // The first access token dies with its own expiry, not with rotation.
            h.advance(seconds: 600 + 61 - 20)
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: first.accessToken), .unauthorized, "auth.token_expired")
        }
    }

    @Test("an identical retry of a rotated refresh token within the grace window gets the same successor")
    func refreshRetryWithinGrace() async throws {
        try await IdentityHarness.forEachEngine { h in
            let first = try await h.signInByPhone(Self.phoneA)
            let rotated = try await Self.refresh(h, first.refreshToken)
            #expect(rotated.status == .ok, "\(rotated.json)")
            h.advance(seconds: 5)
            let retry = try await Self.refresh(h, first.refreshToken)
            #expect(retry.status == .ok, "\(retry.json)")
            #expect(retry.refreshToken == rotated.refreshToken)
            #expect(try await h.send(.get, "/v1/me", token: retry.accessToken).status == .ok)
            // The successor still works afterwards, once.
            let next = try await Self.refresh(h, rotated.refreshToken)
            #expect(next.status == .ok, "\(next.json)")
        }
    }

    @Test("reuse of a rotated refresh token after the grace window revokes the whole family")
    func refreshReuseRevokesFamily() async throws {
        try await IdentityHarness.forEachEngine { h in
            let first = try await h.signInByPhone(Self.phoneA)
            let second = try await Self.refresh(h, first.refreshToken)
            #expect(second.status == .ok, "\(second.json)")
            let third = try await Self.refresh(h, second.refreshToken)
            #expect(third.status == .ok, "\(third.json)")
            h.advance(seconds: 11)
            Self.expectProblem(
                try await Self.refresh(h, first.refreshToken), .unauthorized, "auth.refresh_token_reused")
            let newest = try await Self.refresh(h, third.refreshToken)
            #expect(newest.status == .unauthorized, "\(newest.json)")
            #expect(newest.accessToken == nil)
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: third.accessToken), .unauthorized, "auth.session_revoked")
        }
    }

    @Test("within the grace window, reuse after the successor was already used still revokes the family")
    func refreshReuseAfterSuccessorUsed() async throws {
        try await IdentityHarness.forEachEngine { h in
            let first = try await h.signInByPhone(Self.phoneA)
            let second = try await Self.refresh(h, first.refreshToken)
            let third = try await Self.refresh(h, second.refreshToken)
            #expect(third.status == .ok, "\(third.json)")
            Self.expectProblem(
                try await Self.refresh(h, first.refreshToken), .unauthorized, "auth.refresh_token_reused")
            #expect(try await Self.refresh(h, third.refreshToken).status == .unauthorized)
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: third.accessToken), .unauthorized, "auth.session_revoked")
        }
    }

    @Test("an unknown refresh token answers 401 auth.token_invalid")
    func unknownRefreshToken() async throws {
        try await IdentityHarness.forEachEngine { h in
            Self.expectProblem(try await Self.refresh(h, "rt_nope"), .unauthorized, "auth.token_invalid")
            Self.expectProblem(try await Self.refresh(h, "garbage"), .unauthorized, "auth.token_invalid")
        }
    }

    // MARK: 3. Logout

    @Test("logout ends that session only: its access and refresh tokens stop working, another session keeps working")
    func logout() async throws {
        try await IdentityHarness.forEachEngine { h in
            let one = try await h.signInByPhone(Self.phoneA)
            let two = try await h.signInByPhone(Self.phoneA)
            #expect(one.user?["id"] as? String == two.user?["id"] as? String)
            let loggedOut = try await h.send(.post, "/v1/auth/logout", token: one.accessToken)
            #expect(loggedOut.status == .noContent, "\(loggedOut.json)")
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: one.accessToken), .unauthorized, "auth.session_revoked")
            Self.expectProblem(try await Self.refresh(h, one.refreshToken), .unauthorized, "auth.session_revoked")
            #expect(try await h.send(.get, "/v1/me", token: two.accessToken).status == .ok)
            #expect(try await Self.refresh(h, two.refreshToken).status == .ok)
            Self.expectProblem(try await h.send(.post, "/v1/auth/logout"), .unauthorized, "auth.unauthenticated")
        }
    }

    // MARK: 4. Register, verify, log in

    @Test("weak passwords are refused with 422 auth.weak_password; 72 bytes are accepted")
    func weakPasswords() async throws {
        try await IdentityHarness.forEachEngine { h in
            let weak = [
                "abcdefghi", "password123", String(repeating: "x", count: 73), String(repeating: "é", count: 37),
            ]
            for password in weak {
                let reply = try await h.send(
                    .post, "/v1/auth/register", ["email": "ama@example.com", "password": password])
                Self.expectProblem(reply, .unprocessableContent, "auth.weak_password", "\(password.utf8.count) bytes")
            }
            let longest = try await h.send(
                .post, "/v1/auth/register", ["email": "ama@example.com", "password": String(repeating: "x", count: 72)])
            #expect(longest.status == .accepted, "\(longest.json)")
        }
    }

    @Test("a malformed email is refused with 422 auth.invalid_email")
    func malformedEmail() async throws {
        try await IdentityHarness.forEachEngine { h in
            for email in ["not-an-email", "a@", "@example.com", "a b@example.com"] {
                let reply = try await h.send(.post, "/v1/auth/register", ["email": email, "password": Self.password])
                Self.expectProblem(reply, .unprocessableContent, "auth.invalid_email", email)
            }
            Self.expectProblem(
                try await Self.logIn(h, "not-an-email"), .unprocessableContent, "auth.invalid_email")
        }
    }

    @Test("registering a taken address answers like a new one, and the owner is told by email")
    func registerTakenAddress() async throws {
        try await IdentityHarness.forEachEngine { h in
            let fresh = try await h.send(
                .post, "/v1/auth/register", ["email": "ama@example.com", "password": Self.password])
            #expect(fresh.status == .accepted)
            #expect(try await h.messages(to: "ama@example.com").count == 1)
            let again = try await h.send(
                .post, "/v1/auth/register", ["email": "Ama@Example.com", "password": "another long passphrase"])
            #expect(Self.sameAnswer(fresh, again), "\(fresh.json) vs \(again.json)")
            let other = try await h.send(
                .post, "/v1/auth/register", ["email": "kofi@example.com", "password": Self.password])
            #expect(Self.sameAnswer(fresh, other))
            let mail = try await h.messages(to: "ama@example.com")
            #expect(mail.count == 2)
            #expect((mail.first?["subject"] as? String)?.contains("account") == true, "\(mail.first ?? [:])")
            #expect((mail.first?["body"] as? String)?.contains("already has one") == true)
            // The second registration changed nothing: the original password is still the one that matches.
            Self.expectProblem(
                try await Self.logIn(h, "ama@example.com", "another long passphrase"), .unauthorized,
                "auth.invalid_credentials")
            Self.expectProblem(try await Self.logIn(h, "ama@example.com"), .forbidden, "auth.email_not_verified")
        }
    }

    @Test("login before the email is verified answers 403 auth.email_not_verified; after verifying, 200")
    func loginBeforeVerification() async throws {
        try await IdentityHarness.forEachEngine { h in
            let registered = try await h.send(
                .post, "/v1/auth/register", ["email": "ama@example.com", "password": Self.password])
            #expect(registered.status == .accepted)
            Self.expectProblem(try await Self.logIn(h, "ama@example.com"), .forbidden, "auth.email_not_verified")
            let token = try await h.latestEmailToken(to: "ama@example.com")
            let verified = try await h.send(.post, "/v1/auth/email/verify", ["token": token])
            #expect(verified.status == .ok)
            #expect(verified["email_verified"] as? Bool == true)
            let loggedIn = try await Self.logIn(h, "ama@example.com")
            #expect(loggedIn.status == .ok, "\(loggedIn.json)")
            #expect(loggedIn.accessToken != nil)
            // The verification token works once.
            Self.expectProblem(
                try await h.send(.post, "/v1/auth/email/verify", ["token": token]), .unauthorized, "auth.token_invalid")
        }
    }

    @Test("a wrong password and an unknown email get the same 401 auth.invalid_credentials answer")
    func wrongPasswordAndUnknownEmail() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.registerAndLogIn("ama@example.com")
            let wrong = try await Self.logIn(h, "ama@example.com", "wrong horse battery")
            Self.expectProblem(wrong, .unauthorized, "auth.invalid_credentials")
            let unknown = try await Self.logIn(h, "nobody@example.com", "wrong horse battery")
            Self.expectProblem(unknown, .unauthorized, "auth.invalid_credentials")
            #expect(wrong["detail"] as? String == unknown["detail"] as? String)
            #expect(Self.sameAnswer(wrong, unknown), "\(wrong.json) vs \(unknown.json)")
        }
    }

    // MARK: 5. Lockout

    @Test("ten wrong passwords pause sign-in for 15 minutes, indistinguishably from a wrong password")
    func lockout() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.registerAndLogIn("ama@example.com")
            for attempt in 1...10 {
                let wrong = try await Self.logIn(h, "ama@example.com", "wrong horse battery \(attempt)")
                Self.expectProblem(wrong, .unauthorized, "auth.invalid_credentials", "attempt \(attempt)")
                let unknown = try await Self.logIn(h, "nobody@example.com", "wrong horse battery \(attempt)")
                #expect(Self.sameAnswer(wrong, unknown), "attempt \(attempt)")
            }
            let paused = try await Self.logIn(h, "ama@example.com")
            Self.expectProblem(paused, .unauthorized, "auth.invalid_credentials", "the right password while paused")
            let unknown = try await Self.logIn(h, "nobody@example.com")
            #expect(Self.sameAnswer(paused, unknown), "\(paused.json) vs \(unknown.json)")
            h.advance(seconds: 899)
            Self.expectProblem(try await Self.logIn(h, "ama@example.com"), .unauthorized, "auth.invalid_credentials")
            h.advance(seconds: 2)
            let resumed = try await Self.logIn(h, "ama@example.com")
            #expect(resumed.status == .ok, "\(resumed.json)")
        }
    }

    // MARK: 6. Password reset

    @Test("forgot-password answers the same for known and unknown addresses and emails only the known one")
    func forgotPasswordNoEnumeration() async throws {
        try await IdentityHarness.forEachEngine { h in
            _ = try await h.registerAndLogIn("ama@example.com")
            let known = try await h.send(.post, "/v1/auth/password/forgot", ["email": "ama@example.com"])
            let unknown = try await h.send(.post, "/v1/auth/password/forgot", ["email": "nobody@example.com"])
            #expect(known.status == .accepted)
            #expect(Self.sameAnswer(known, unknown), "\(known.json) vs \(unknown.json)")
            #expect(try await h.messages(to: "nobody@example.com").isEmpty)
            let mail = try await h.messages(to: "ama@example.com")
            #expect((mail.first?["subject"] as? String)?.contains("Reset") == true, "\(mail.first ?? [:])")
        }
    }

    @Test("a password reset ends every session, works once, and swaps the password")
    func passwordReset() async throws {
        try await IdentityHarness.forEachEngine { h in
            let one = try await h.registerAndLogIn("ama@example.com")
            let two = try await Self.logIn(h, "ama@example.com")
            #expect(two.status == .ok)
            _ = try await h.send(.post, "/v1/auth/password/forgot", ["email": "ama@example.com"])
            let token = try await h.latestEmailToken(to: "ama@example.com")
            h.advance(seconds: 5)
            let newPassword = "a brand new passphrase"
            let reset = try await h.send(.post, "/v1/auth/password/reset", ["token": token, "password": newPassword])
            #expect(reset.status == .noContent, "\(reset.json)")
            for session in [one, two] {
                Self.expectProblem(
                    try await h.send(.get, "/v1/me", token: session.accessToken), .unauthorized, "auth.session_revoked")
                #expect(try await Self.refresh(h, session.refreshToken).status == .unauthorized)
            }
            let again = try await h.send(
                .post, "/v1/auth/password/reset", ["token": token, "password": "yet another passphrase"])
            Self.expectProblem(again, .unauthorized, "auth.token_invalid")
            Self.expectProblem(try await Self.logIn(h, "ama@example.com"), .unauthorized, "auth.invalid_credentials")
            let fresh = try await Self.logIn(h, "ama@example.com", newPassword)
            #expect(fresh.status == .ok, "\(fresh.json)")
            #expect(try await h.send(.get, "/v1/me", token: fresh.accessToken).status == .ok)
            let notice = try await h.messages(to: "ama@example.com").first
            #expect((notice?["subject"] as? String)?.contains("changed") == true, "\(notice ?? [:])")
        }
    }

    @Test("a reset token older than an hour answers 401 auth.token_expired and changes nothing")
    func passwordResetExpired() async throws {
        try await IdentityHarness.forEachEngine { h in
            let session = try await h.registerAndLogIn("ama@example.com")
            _ = try await h.send(.post, "/v1/auth/password/forgot", ["email": "ama@example.com"])
            let token = try await h.latestEmailToken(to: "ama@example.com")
            h.advance(seconds: 3601)
            let reset = try await h.send(
                .post, "/v1/auth/password/reset", ["token": token, "password": "a brand new passphrase"])
            Self.expectProblem(reset, .unauthorized, "auth.token_expired")
            #expect(try await Self.refresh(h, session.refreshToken).status == .ok, "sessions survive a failed reset")
            #expect(try await Self.logIn(h, "ama@example.com").status == .ok)
        }
    }

    // MARK: 7. TOTP

    @Test("TOTP enrolment answers a base32 secret and an otpauth URL; a wrong confirmation code is refused")
    func totpEnrollAndConfirm() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.registerAndLogIn("ama@example.com")
            let enrolled = try await h.send(.post, "/v1/auth/totp/enroll", token: signIn.accessToken)
            #expect(enrolled.status == .ok, "\(enrolled.json)")
            let secret = try #require(enrolled["secret"] as? String)
            let url = try #require(enrolled["otpauth_url"] as? String)
            #expect(url.hasPrefix("otpauth://totp/"), "\(url)")
            #expect(url.contains("secret=\(secret)"), "\(url)")
            let decoded = String(decoding: try #require(Self.base32Decode(secret)), as: UTF8.self)
            #expect(decoded.count == 32 && decoded.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
            let wrong = try await h.send(
                .post, "/v1/auth/totp/confirm", ["code": try Self.wrongTOTPCode(secret, h)], token: signIn.accessToken)
            Self.expectProblem(wrong, .unauthorized, "auth.totp_invalid")
            let me = try await h.send(.get, "/v1/me", token: signIn.accessToken)
            #expect(me["totp_enabled"] as? Bool == false)
            let confirmed = try await h.send(
                .post, "/v1/auth/totp/confirm", ["code": try Self.totpCode(secret, h)], token: signIn.accessToken)
            #expect(confirmed.status == .ok, "\(confirmed.json)")
            let codes = try #require(confirmed["recovery_codes"] as? [String])
            #expect(codes.count == 10)
            #expect(Set(codes).count == 10)
            #expect(try await h.send(.get, "/v1/me", token: signIn.accessToken)["totp_enabled"] as? Bool == true)
            let again = try await h.send(.post, "/v1/auth/totp/enroll", token: signIn.accessToken)
            Self.expectProblem(again, .conflict, "auth.totp_already_enabled")
        }
    }

    @Test("with TOTP on, password login needs a code; a code works once per step; the next step's code works")
    func totpLogin() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.registerAndLogIn("ama@example.com")
            let (secret, _) = try await Self.enableTOTP(h, token: signIn.accessToken)
            h.advance(seconds: 30)
            Self.expectProblem(try await Self.logIn(h, "ama@example.com"), .unauthorized, "auth.totp_required")
            let code = try Self.totpCode(secret, h)
            let withCode = try await Self.logIn(h, "ama@example.com", extra: ["totp_code": code])
            #expect(withCode.status == .ok, "\(withCode.json)")
            let replay = try await Self.logIn(h, "ama@example.com", extra: ["totp_code": code])
            Self.expectProblem(replay, .unauthorized, "auth.totp_invalid", "the same code twice in one step")
            let wrong = try await Self.logIn(
                h, "ama@example.com", extra: ["totp_code": try Self.wrongTOTPCode(secret, h)])
            Self.expectProblem(wrong, .unauthorized, "auth.totp_invalid")
            h.advance(seconds: 30)
            let next = try await Self.logIn(h, "ama@example.com", extra: ["totp_code": try Self.totpCode(secret, h)])
            #expect(next.status == .ok, "\(next.json)")
            let badPassword = try await Self.logIn(
                h, "ama@example.com", "wrong horse battery",
                extra: ["totp_code": try Self.totpCode(secret, h, stepOffset: 1)])
            Self.expectProblem(
                badPassword, .unauthorized, "auth.invalid_credentials", "a wrong password with a good code")
        }
    }

    @Test("a recovery code signs in once")
    func totpRecoveryCode() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.registerAndLogIn("ama@example.com")
            let (_, codes) = try await Self.enableTOTP(h, token: signIn.accessToken)
            let recovery = try #require(codes.first)
            let first = try await Self.logIn(h, "ama@example.com", extra: ["recovery_code": recovery.uppercased()])
            #expect(first.status == .ok, "\(first.json)")
            let second = try await Self.logIn(h, "ama@example.com", extra: ["recovery_code": recovery])
            Self.expectProblem(second, .unauthorized, "auth.totp_invalid")
            let other = try await Self.logIn(h, "ama@example.com", extra: ["recovery_code": codes[1]])
            #expect(other.status == .ok, "\(other.json)")
        }
    }

    @Test("phone sign-in of a user with TOTP needs the second factor too")
    func totpPhoneSignIn() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signIn = try await h.signInByPhone(Self.phoneA)
            let (secret, _) = try await Self.enableTOTP(h, token: signIn.accessToken)
            h.advance(seconds: 30)
            let requested = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phoneA])
            #expect(requested.status == .accepted)
            let code = try await h.latestCode(to: Self.phoneA)
            let without = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phoneA, "code": code])
            Self.expectProblem(without, .unauthorized, "auth.totp_required")
            #expect(without.accessToken == nil)
            let with = try await h.send(
                .post, "/v1/auth/otp/verify",
                ["phone": Self.phoneA, "code": code, "totp_code": try Self.totpCode(secret, h)])
            #expect(with.status == .ok, "\(with.json)")
            #expect(with.user?["id"] as? String == signIn.user?["id"] as? String)
        }
    }

    // MARK: 8. Isolation between users

    @Test("GET /v1/me and GET /v1/me/sessions show only the caller's own data")
    func isolationMeAndSessions() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let a2 = try await h.signInByPhone(Self.phoneA)
            let b = try await h.signInByPhone(Self.phoneB)
            let meA = try await h.send(.get, "/v1/me", token: a.accessToken)
            let meB = try await h.send(.get, "/v1/me", token: b.accessToken)
            #expect(meA["phone"] as? String == Self.phoneA)
            #expect(meB["phone"] as? String == Self.phoneB)
            #expect(meA["id"] as? String != meB["id"] as? String)
            let sessionA = try await Self.currentSessionID(h, token: a.accessToken)
            let sessionA2 = try await Self.currentSessionID(h, token: a2.accessToken)
            let sessionB = try await Self.currentSessionID(h, token: b.accessToken)
            #expect(try await Self.sessionIDs(h, token: a.accessToken) == [sessionA, sessionA2])
            #expect(try await Self.sessionIDs(h, token: b.accessToken) == [sessionB])
        }
    }

    @Test("DELETE /v1/me/sessions/{another user's session} answers 404 and that session keeps working")
    func isolationEndSession() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let a2 = try await h.signInByPhone(Self.phoneA)
            let b = try await h.signInByPhone(Self.phoneB)
            let sessionB = try await Self.currentSessionID(h, token: b.accessToken)
            let deleted = try await h.send(.delete, "/v1/me/sessions/\(sessionB)", token: a.accessToken)
            Self.expectProblem(deleted, .notFound, "auth.session_not_found")
            Self.expectProblem(
                try await h.send(.delete, "/v1/me/sessions/not-a-session", token: a.accessToken), .notFound,
                "auth.session_not_found")
            #expect(try await h.send(.get, "/v1/me", token: b.accessToken).status == .ok)
            #expect(try await Self.refresh(h, b.refreshToken).status == .ok)
            // Ending one's own other session works.
            let sessionA2 = try await Self.currentSessionID(h, token: a2.accessToken)
            #expect(
                try await h.send(.delete, "/v1/me/sessions/\(sessionA2)", token: a.accessToken).status == .noContent)
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: a2.accessToken), .unauthorized, "auth.session_revoked")
            #expect(try await h.send(.get, "/v1/me", token: a.accessToken).status == .ok)
        }
    }

    @Test("a non-admin gets 403 auth.forbidden on GET and PATCH /v1/users/{id}; the admin key gets 200")
    func isolationAdminRoutes() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let b = try await h.signInByPhone(Self.phoneB)
            let idA = try #require(a.user?["id"] as? String)
            let idB = try #require(b.user?["id"] as? String)
            for id in [idA, idB] {
                Self.expectProblem(
                    try await h.send(.get, "/v1/users/\(id)", token: a.accessToken), .forbidden, "auth.forbidden")
                let patch = try await h.send(.patch, "/v1/users/\(id)", ["roles": ["admin"]], token: a.accessToken)
                Self.expectProblem(patch, .forbidden, "auth.forbidden")
            }
            Self.expectProblem(try await h.send(.get, "/v1/users/\(idB)"), .unauthorized, "auth.unauthenticated")
            let asAdmin = try await h.send(.get, "/v1/users/\(idB)", token: IdentityHarness.adminKey)
            #expect(asAdmin.status == .ok, "\(asAdmin.json)")
            #expect(asAdmin["id"] as? String == idB)
            #expect(try await h.send(.get, "/v1/me", token: a.accessToken)["roles"] as? [String] == ["customer"])
            Self.expectProblem(
                try await h.send(.get, "/v1/users/usr_nope", token: IdentityHarness.adminKey), .notFound,
                "auth.user_not_found")
        }
    }

    @Test("PATCH /v1/me by one user never changes another")
    func isolationPatchMe() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let b = try await h.signInByPhone(Self.phoneB)
            let before = try await h.send(.get, "/v1/me", token: b.accessToken)
            let patched = try await h.send(.patch, "/v1/me", ["name": "Ama"], token: a.accessToken)
            #expect(patched.status == .ok, "\(patched.json)")
            #expect(patched["id"] as? String == a.user?["id"] as? String)
            let after = try await h.send(.get, "/v1/me", token: b.accessToken)
            #expect(after["name"] is NSNull)
            #expect(NSDictionary(dictionary: before.json) == NSDictionary(dictionary: after.json))
        }
    }

    // MARK: 9. Admin and trial

    @Test("the admin sets a user's roles")
    func adminSetsRoles() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let id = try #require(a.user?["id"] as? String)
            let patched = try await h.send(
                .patch, "/v1/users/\(id)", ["roles": ["customer", "seller"]], token: IdentityHarness.adminKey)
            #expect(patched.status == .ok, "\(patched.json)")
            #expect(patched["roles"] as? [String] == ["customer", "seller"])
            #expect(
                try await h.send(.get, "/v1/me", token: a.accessToken)["roles"] as? [String] == ["customer", "seller"])
            let bad = try await h.send(.patch, "/v1/users/\(id)", ["roles": ["root"]], token: IdentityHarness.adminKey)
            #expect(bad.status == .unprocessableContent, "\(bad.json)")
        }
    }

    @Test("a disabled user's tokens answer 401 auth.session_revoked and sign-in answers 403 auth.account_disabled")
    func adminDisablesUser() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let b = try await h.signInByPhone(Self.phoneB)
            let id = try #require(a.user?["id"] as? String)
            let patched = try await h.send(
                .patch, "/v1/users/\(id)", ["disabled": true], token: IdentityHarness.adminKey)
            #expect(patched.status == .ok, "\(patched.json)")
            #expect(patched["disabled"] as? Bool == true)
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: a.accessToken), .unauthorized, "auth.session_revoked")
            #expect(try await Self.refresh(h, a.refreshToken).status == .unauthorized)
            _ = try await h.send(.post, "/v1/auth/otp", ["phone": Self.phoneA])
            let code = try await h.latestCode(to: Self.phoneA)
            let signIn = try await h.send(.post, "/v1/auth/otp/verify", ["phone": Self.phoneA, "code": code])
            Self.expectProblem(signIn, .forbidden, "auth.account_disabled")
            #expect(try await h.send(.get, "/v1/me", token: b.accessToken).status == .ok, "other users are unaffected")
        }
    }

    @Test("a disabled email user cannot log in with the right password")
    func adminDisablesPasswordUser() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.registerAndLogIn("ama@example.com")
            let id = try #require(a.user?["id"] as? String)
            _ = try await h.send(.patch, "/v1/users/\(id)", ["disabled": true], token: IdentityHarness.adminKey)
            Self.expectProblem(try await Self.logIn(h, "ama@example.com"), .forbidden, "auth.account_disabled")
        }
    }

    @Test("trial_ends_at set by the admin shows on GET /v1/me and PaidAccessPolicy refuses an ended trial")
    func trial() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let id = try #require(a.user?["id"] as? String)
            let now = h.clock.now()
            let past = Timestamp(unixMilliseconds: now.unixMilliseconds - 86_400_000)
            let future = now.adding(milliseconds: 86_400_000)
            let patched = try await h.send(
                .patch, "/v1/users/\(id)", ["trial_ends_at": past.rfc3339], token: IdentityHarness.adminKey)
            #expect(patched.status == .ok, "\(patched.json)")
            let me = try await h.send(.get, "/v1/me", token: a.accessToken)
            #expect(me["trial_ends_at"] as? String == past.rfc3339)

            let policy = PaidAccessPolicy(clock: h.clock)
            let request = Self.anyRequest()
            func allowed(_ roles: Set<Role>, _ ends: Timestamp?) async throws -> Bool {
                try await policy.isAuthorized(
                    identity: Caller(ownerReference: "x", roles: roles, trialEndsAt: ends), request: request)
            }
            #expect(try await allowed([.customer], past) == false)
            #expect(try await allowed([.customer], future) == true)
            #expect(try await allowed([.customer], nil) == true)
            #expect(try await allowed([.admin], past) == true)
            #expect(try await allowed([.customer], now) == false, "the trial ends at trial_ends_at")

            // The caller the access token stands for carries the stored trial end.
            let (caller, _) = try await h.identity.authenticate(accessToken: try #require(a.accessToken))
            #expect(caller.trialEndsAt == past)
            #expect(try await policy.isAuthorized(identity: caller, request: request) == false)

            let cleared = try await h.send(
                .patch, "/v1/users/\(id)", ["trial_ends_at": NSNull()], token: IdentityHarness.adminKey)
            #expect(cleared["trial_ends_at"] is NSNull, "\(cleared.json)")
            let bad = try await h.send(
                .patch, "/v1/users/\(id)", ["trial_ends_at": "tomorrow"], token: IdentityHarness.adminKey)
            #expect(bad.status == .unprocessableContent, "\(bad.json)")
        }
    }

    // MARK: 10. Profile

    @Test("PATCH /v1/me changes the name")
    func profileName() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.signInByPhone(Self.phoneA)
            let patched = try await h.send(.patch, "/v1/me", ["name": "Ama"], token: a.accessToken)
            #expect(patched.status == .ok, "\(patched.json)")
            #expect(patched["name"] as? String == "Ama")
            #expect(try await h.send(.get, "/v1/me", token: a.accessToken)["name"] as? String == "Ama")
            let blank = try await h.send(.patch, "/v1/me", ["name": "   "], token: a.accessToken)
            #expect(blank.status == .unprocessableContent, "\(blank.json)")
        }
    }

    @Test("a new email is pending until the link sent to it is used")
    func profileEmail() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.registerAndLogIn("ama@example.com")
            let patched = try await h.send(.patch, "/v1/me", ["email": "ama.new@example.com"], token: a.accessToken)
            #expect(patched.status == .ok, "\(patched.json)")
            #expect(patched["pending_email"] as? String == "ama.new@example.com")
            #expect(patched["email"] as? String == "ama@example.com")
            let token = try await h.latestEmailToken(to: "ama.new@example.com")
            let verified = try await h.send(.post, "/v1/auth/email/verify", ["token": token])
            #expect(verified.status == .ok, "\(verified.json)")
            #expect(verified["email"] as? String == "ama.new@example.com")
            #expect(verified["pending_email"] is NSNull)
            let me = try await h.send(.get, "/v1/me", token: a.accessToken)
            #expect(me["email"] as? String == "ama.new@example.com")
            #expect(try await Self.logIn(h, "ama.new@example.com").status == .ok)
            Self.expectProblem(try await Self.logIn(h, "ama@example.com"), .unauthorized, "auth.invalid_credentials")
        }
    }

    @Test("a new phone is confirmed with the code texted to it")
    func profilePhone() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.registerAndLogIn("ama@example.com")
            let patched = try await h.send(.patch, "/v1/me", ["phone": Self.phoneB], token: a.accessToken)
            #expect(patched.status == .ok, "\(patched.json)")
            #expect(patched["phone_code_sent"] as? Bool == true)
            #expect(patched["phone"] is NSNull, "the phone changes only once confirmed")
            let code = try await h.latestCode(to: Self.phoneB)
            let confirmed = try await h.send(
                .post, "/v1/me/phone/verify", ["phone": Self.phoneB, "code": code], token: a.accessToken)
            #expect(confirmed.status == .ok, "\(confirmed.json)")
            #expect(confirmed["phone"] as? String == Self.phoneB)
            #expect(try await h.send(.get, "/v1/me", token: a.accessToken)["phone"] as? String == Self.phoneB)
        }
    }

    @Test("confirming a phone another user has answers 409 auth.phone_taken")
    func profilePhoneTaken() async throws {
        try await IdentityHarness.forEachEngine { h in
            let a = try await h.registerAndLogIn("ama@example.com")
            let b = try await h.signInByPhone(Self.phoneKenya)
            let patched = try await h.send(.patch, "/v1/me", ["phone": Self.phoneKenya], token: a.accessToken)
            #expect(patched.status == .ok, "\(patched.json)")
            #expect(patched["phone_code_sent"] as? Bool == true)
            let code = try await h.latestCode(to: Self.phoneKenya)
            let confirmed = try await h.send(
                .post, "/v1/me/phone/verify", ["phone": Self.phoneKenya, "code": code], token: a.accessToken)
            Self.expectProblem(confirmed, .conflict, "auth.phone_taken")
            #expect(try await h.send(.get, "/v1/me", token: a.accessToken)["phone"] is NSNull)
            #expect(try await h.send(.get, "/v1/me", token: b.accessToken)["phone"] as? String == Self.phoneKenya)
        }
    }

    @Test("a retry of a rotated refresh token from a different client is reuse, even within the grace window")
    func refreshRetryFromOtherClient() async throws {
        try await IdentityHarness.forEachEngine { h in
            let first = try await h.signInByPhone(Self.phoneA)
            let app: HTTPFields = [.userAgent: "kauri-app/1.0"]
            let rotated = try await h.send(
                .post, "/v1/auth/refresh", ["refresh_token": first.refreshToken ?? ""], headers: app)
            #expect(rotated.status == .ok, "\(rotated.json)")
            h.advance(seconds: 2)
            let thief = try await h.send(
                .post, "/v1/auth/refresh", ["refresh_token": first.refreshToken ?? ""],
                headers: [.userAgent: "curl/8.0"])
            Self.expectProblem(thief, .unauthorized, "auth.refresh_token_reused")
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: rotated.accessToken), .unauthorized, "auth.session_revoked")
        }
    }

    @Test("a stale access token sent along does not block refresh or sign-in; protected routes name the problem")
    func staleAccessTokenOnPublicRoutes() async throws {
        try await IdentityHarness.forEachEngine { h in
            let first = try await h.signInByPhone(Self.phoneA)
            h.advance(seconds: 700)
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: first.accessToken), .unauthorized, "auth.token_expired")
            let refreshed = try await h.send(
                .post, "/v1/auth/refresh", ["refresh_token": first.refreshToken ?? ""], token: first.accessToken)
            #expect(refreshed.status == .ok, "\(refreshed.json)")
            #expect(try await h.send(.get, "/healthz", token: "forged.token.value").status == .ok)
        }
    }

    @Test("a change made by another instance (straight in the database) shows within a second; a revocation too")
    func cachedSessionStateExpires() async throws {
        try await IdentityHarness.forEachEngine { h in
            let signedIn = try await h.signInByPhone(Self.phoneA)
            let id = try #require(signedIn.user?["id"] as? String)
            #expect(try await h.send(.get, "/v1/me", token: signedIn.accessToken).status == .ok)
            try await h.database.withConnection { connection in
                try await connection.raw("UPDATE users SET name = 'Elsewhere' WHERE id = \(bind: id)").run()
                try await connection.raw("UPDATE sessions SET revoked_at = 1 WHERE user_id = \(bind: id)").run()
            }
            try await Task.sleep(for: .milliseconds(1_100))
            Self.expectProblem(
                try await h.send(.get, "/v1/me", token: signedIn.accessToken), .unauthorized, "auth.session_revoked")
            let again = try await h.signInByPhone(Self.phoneA)
            #expect(try await h.send(.get, "/v1/me", token: again.accessToken)["name"] as? String == "Elsewhere")
        }
    }

    @Test("a route marked for paid access answers 402 account.trial_expired once the caller's trial has ended")
    func paidRouteAfterTrial() async throws {
        for kind in TestDatabases.kinds {
            try await IdentityHarness.with(
                kind,
                routes: { api, dependencies in
                    api.on(
                        .get, "/v1/test/paid",
                        OperationDoc("paidTest", summary: "A paid route.", tag: "test", responses: [])
                    ) { request, context in
                        try await context.requirePaidAccess(request: request, clock: dependencies.clock)
                        return Response(status: .noContent)
                    }
                }
            ) { h in
                let signedIn = try await h.signInByPhone(Self.phoneA)
                let id = try #require(signedIn.user?["id"] as? String)
                #expect(try await h.send(.get, "/v1/test/paid", token: signedIn.accessToken).status == .noContent)
                let ends = IdentityHarness.start.adding(milliseconds: 60_000).rfc3339
                let set = try await h.send(
                    .patch, "/v1/users/\(id)", ["trial_ends_at": ends], token: IdentityHarness.adminKey)
                #expect(set.status == .ok, "\(set.json)")
                #expect(try await h.send(.get, "/v1/test/paid", token: signedIn.accessToken).status == .noContent)
                h.advance(seconds: 61)
                Self.expectProblem(
                    try await h.send(.get, "/v1/test/paid", token: signedIn.accessToken), .init(code: 402),
                    "account.trial_expired")
                // The admin key is not subject to trials.
                #expect(try await h.send(.get, "/v1/test/paid", token: IdentityHarness.adminKey).status == .noContent)
                #expect(try await h.send(.get, "/v1/test/paid").status == .unauthorized)
            }
        }
    }
}
