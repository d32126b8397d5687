import Crypto
import Foundation
import KauriCore
import KauriIdentity
import Testing

@Suite("Access tokens")
struct AccessTokenTests {
    static let start = Timestamp(unixMilliseconds: 1_800_000_000_000)
    static let nowSeconds = 1_800_000_000
    static let issuer = "https://kauri.example"
    static let audience = "kauri-api"

    let clock = ManualClock(Self.start)
    let key = SigningKey.generate()

    func tokens(signingKey: SigningKey? = nil, verificationKeys: [SigningKey] = []) -> AccessTokens {
        AccessTokens(
            signingKey: signingKey ?? self.key, verificationKeys: verificationKeys, issuer: Self.issuer,
            audience: Self.audience, clock: self.clock)
    }

    // MARK: Building hostile tokens by hand

    static func base64URL(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: some StringProtocol) -> Data? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard)
    }

    /// The JSON object a token segment encodes.
    static func object(of segment: some StringProtocol) throws -> [String: Any] {
        let data = try #require(Self.decodeBase64URL(segment))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func segment(_ object: [String: Any]) -> String {
        // swiftlint:disable:next force_try
        base64URL(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    func header(alg: String = "EdDSA", typ: String? = "at+jwt", kid: String? = nil) -> [String: Any] {
        var header: [String: Any] = ["alg": alg]
        if let typ { header["typ"] = typ }
        header["kid"] = kid ?? self.key.keyID
        return header
    }

    static func claims(
        iss: String = issuer, aud: Any = audience, iat: Int = nowSeconds, nbf: Int? = nowSeconds,
        exp: Int = nowSeconds + 600
    ) -> [String: Any] {
        var claims: [String: Any] = [
            "iss": iss, "aud": aud, "sub": "usr_1", "sid": "ses_1", "jti": "jti_1", "iat": iat, "exp": exp,
        ]
        if let nbf { claims["nbf"] = nbf }
        return claims
    }

    /// A token whose signature is made with `privateKey` (Ed25519) over exactly the given header and claims.
    static func signed(
        header: [String: Any], claims: [String: Any], with privateKey: Curve25519.Signing.PrivateKey
    ) throws -> String {
        let input = segment(header) + "." + segment(claims)
        return input + "." + base64URL(try privateKey.signature(for: Data(input.utf8)))
    }

    func signedByOurKey(header: [String: Any]? = nil, claims: [String: Any] = claims()) throws -> String {
        try Self.signed(header: header ?? self.header(), claims: claims, with: self.privateKey(of: self.key))
    }

    func privateKey(of key: SigningKey) throws -> Curve25519.Signing.PrivateKey {
        try Curve25519.Signing.PrivateKey(rawRepresentation: try #require(Data(base64Encoded: key.base64Seed)))
    }

    func expectRefused(_ token: String, _ error: AccessTokenError, tokens: AccessTokens? = nil) async {
        let tokens = tokens ?? self.tokens()
        await #expect(throws: error) { try await tokens.verify(token) }
    }

    // MARK: Tests

    @Test("an issued token verifies and carries the expected header and claims")
    func roundTrip() async throws {
        let tokens = self.tokens()
        #expect(tokens.lifetimeSeconds == 600)
        let (token, claims) = try await tokens.issue(userID: "usr_42", sessionID: "ses_7")
        #expect(claims.userID == "usr_42" && claims.sessionID == "ses_7")
        #expect(claims.issuedAt == Self.start)
        #expect(claims.expiresAt == Self.start.adding(milliseconds: 600_000))
        #expect(try await tokens.verify(token) == claims)

        let parts = token.split(separator: ".")
        #expect(parts.count == 3)
        let header = try Self.object(of: parts[0])
        #expect(header["alg"] as? String == "EdDSA")
        #expect(header["typ"] as? String == "at+jwt")
        #expect(header["kid"] as? String == self.key.keyID)
        let payload = try Self.object(of: parts[1])
        #expect(payload["iss"] as? String == Self.issuer)
        #expect(payload["aud"] as? String == Self.audience)
        #expect(payload["sub"] as? String == "usr_42")
        #expect(payload["sid"] as? String == "ses_7")
        #expect(payload["iat"] as? Int == Self.nowSeconds)
        #expect(payload["nbf"] as? Int == Self.nowSeconds)
        #expect(payload["exp"] as? Int == Self.nowSeconds + 600)
        let jti = try #require(payload["jti"] as? String)
        #expect(Self.decodeBase64URL(jti)?.count == 16)

        let (other, otherClaims) = try await tokens.issue(userID: "usr_42", sessionID: "ses_7")
        #expect(other != token && otherClaims.tokenID != claims.tokenID)
    }

    @Test("a token is refused more than the 60 s leeway after it expires")
    func expiry() async throws {
        let tokens = self.tokens()
        let (token, _) = try await tokens.issue(userID: "usr_1", sessionID: "ses_1")
        self.clock.advance(milliseconds: (600 + 59) * 1_000)
        _ = try await tokens.verify(token)
        self.clock.advance(milliseconds: 2_000)
        await self.expectRefused(token, .expired, tokens: tokens)
    }

    @Test("a token that is not valid yet is refused")
    func notYetValid() async throws {
        await self.expectRefused(try self.signedByOurKey(claims: Self.claims(nbf: Self.nowSeconds + 61)), .notYetValid)
        await self.expectRefused(
            try self.signedByOurKey(claims: Self.claims(iat: Self.nowSeconds + 120, nbf: nil)), .notYetValid)
        // Within the leeway, clock skew is tolerated.
        _ = try await self.tokens().verify(try self.signedByOurKey(claims: Self.claims(nbf: Self.nowSeconds + 59)))
    }

    @Test("the issuer and audience must be ours")
    func issuerAndAudience() async throws {
        let foreign = try self.signedByOurKey(claims: Self.claims(iss: "https://evil.example"))
        await self.expectRefused(foreign, .wrongIssuer)
        await self.expectRefused(try self.signedByOurKey(claims: Self.claims(aud: "other-api")), .wrongAudience)
        await self.expectRefused(try self.signedByOurKey(claims: Self.claims(aud: ["a", "b"])), .wrongAudience)
        _ = try await self.tokens().verify(try self.signedByOurKey(claims: Self.claims(aud: ["other", Self.audience])))
    }

    @Test("required claims must be present")
    func missingClaims() async throws {
        for name in ["iss", "aud", "sub", "sid", "jti", "iat", "exp"] {
            var claims = Self.claims()
            claims[name] = nil
            await self.expectRefused(try self.signedByOurKey(claims: claims), .missingClaim)
        }
        var wrongType = Self.claims()
        wrongType["sub"] = 42
        await self.expectRefused(try self.signedByOurKey(claims: wrongType), .malformed)
    }

    @Test("alg none is refused")
    func algorithmNone() async throws {
        let unsigned = Self.segment(self.header(alg: "none")) + "." + Self.segment(Self.claims()) + "."
        await self.expectRefused(unsigned, .algorithmNotAllowed)
        await self.expectRefused(unsigned + "c2ln", .algorithmNotAllowed)
        let noAlg = Self.segment(["typ": "at+jwt", "kid": self.key.keyID]) + "." + Self.segment(Self.claims()) + ".c2ln"
        await self.expectRefused(noAlg, .algorithmNotAllowed)
    }

    @Test("HS256 signed with the public key as the HMAC secret is refused (algorithm confusion)")
    func algorithmConfusion() async throws {
        let publicKey = try self.privateKey(of: self.key).publicKey
        for secret in [publicKey.rawRepresentation, Data(publicKey.pemRepresentation.utf8)] {
            let input = Self.segment(self.header(alg: "HS256")) + "." + Self.segment(Self.claims())
            let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: secret))
            await self.expectRefused(input + "." + Self.base64URL(Data(mac)), .algorithmNotAllowed)
        }
        for alg in ["ES256", "RS256", "eddsa", "Ed25519"] {
            await self.expectRefused(try self.signedByOurKey(header: self.header(alg: alg)), .algorithmNotAllowed)
        }
    }

    @Test("a tampered payload or signature is refused")
    func tampering() async throws {
        let tokens = self.tokens()
        let (token, _) = try await tokens.issue(userID: "usr_1", sessionID: "ses_1")
        let parts = token.split(separator: ".").map(String.init)
        var payload = try Self.object(of: parts[1])
        payload["sub"] = "usr_admin"
        await self.expectRefused([parts[0], Self.segment(payload), parts[2]].joined(separator: "."), .badSignature)

        // Flip the first signature character (the last one carries padding bits a decoder may ignore).
        let signature = parts[2]
        let flipped = (signature.first == "A" ? "B" : "A") + signature.dropFirst()
        await self.expectRefused([parts[0], parts[1], flipped].joined(separator: "."), .badSignature)
        let shortened = [parts[0], parts[1], String(signature.dropLast(4))].joined(separator: ".")
        await self.expectRefused(shortened, .badSignature)
    }

    @Test("only typ at+jwt is accepted")
    func tokenType() async throws {
        await self.expectRefused(try self.signedByOurKey(header: self.header(typ: "JWT")), .wrongType)
        await self.expectRefused(try self.signedByOurKey(header: self.header(typ: "id+jwt")), .wrongType)
        await self.expectRefused(try self.signedByOurKey(header: self.header(typ: nil)), .wrongType)
        _ = try await self.tokens().verify(try self.signedByOurKey(header: self.header(typ: "application/at+jwt")))
    }

    @Test("unknown kid, or another key claiming our kid, is refused")
    func keyIdentification() async throws {
        await self.expectRefused(try self.signedByOurKey(header: self.header(kid: "not-our-key")), .unknownKey)
        var noKid = self.header()
        noKid["kid"] = nil
        await self.expectRefused(try self.signedByOurKey(header: noKid), .unknownKey)

        let impostor = Curve25519.Signing.PrivateKey()
        let forged = try Self.signed(header: self.header(), claims: Self.claims(), with: impostor)
        await self.expectRefused(forged, .badSignature)
    }

    @Test("headers that bring their own key or demand extensions are refused", arguments: [
        ("jku", #""https://evil.example/jwks.json""#), ("x5u", #""https://evil.example/cert.pem""#),
        ("jwk", #"{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#),
        ("x5c", #"["MIIB"]"#), ("crit", #"["exp"]"#),
    ])
    func forbiddenHeaders(name: String, json: String) async throws {
        var header = self.header()
        header[name] = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        await self.expectRefused(try self.signedByOurKey(header: header), .forbiddenHeader)
    }

    @Test("opaque strings and broken structure are malformed", arguments: [
        "rt_abc", "", ".", "..", "a.b", "a.b.c", "a.b.c.d", "!!!.???.###", String(repeating: "a", count: 10_000),
    ])
    func malformed(token: String) async {
        await self.expectRefused(token, .malformed)
    }

    @Test("a header that is not JSON, or a payload that is not JSON, is malformed")
    func malformedSegments() async throws {
        let valid = try self.signedByOurKey().split(separator: ".").map(String.init)
        let notJSON = Self.base64URL(Data("not json".utf8))
        await self.expectRefused([notJSON, valid[1], valid[2]].joined(separator: "."), .malformed)
        let input = valid[0] + "." + notJSON
        let signature = try self.privateKey(of: self.key).signature(for: Data(input.utf8))
        await self.expectRefused(input + "." + Self.base64URL(signature), .malformed)
        await self.expectRefused([valid[0], valid[1], valid[2] + "="].joined(separator: "."), .malformed)
    }

    @Test("tokens signed by a retired key still verify while it is listed in verificationKeys")
    func rotation() async throws {
        let old = SigningKey.generate()
        let (oldToken, oldClaims) = try await self.tokens(signingKey: old).issue(userID: "usr_1", sessionID: "ses_1")
        let rotated = self.tokens(signingKey: self.key, verificationKeys: [old])
        #expect(try await rotated.verify(oldToken) == oldClaims)
        let (newToken, _) = try await rotated.issue(userID: "usr_1", sessionID: "ses_1")
        #expect(try Self.object(of: newToken.split(separator: ".")[0])["kid"] as? String == self.key.keyID)
        _ = try await rotated.verify(newToken)
        await self.expectRefused(oldToken, .unknownKey, tokens: self.tokens())
    }

    @Test("signing keys persist through their seed; the kid is 16 base64url characters")
    func signingKeySeeds() throws {
        let restored = try SigningKey(base64Seed: self.key.base64Seed)
        #expect(restored.keyID == self.key.keyID)
        #expect(self.key.keyID.count == 16)
        #expect(self.key.keyID.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        let urlSafe = self.key.base64Seed.replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect(try SigningKey(base64Seed: urlSafe).keyID == self.key.keyID)
        #expect(SigningKey.generate().keyID != self.key.keyID)
        #expect(!"\(self.key)".contains(self.key.base64Seed))
        #expect(throws: (any Error).self) { try SigningKey(base64Seed: "c2hvcnQ=") }
        #expect(throws: (any Error).self) { try SigningKey(base64Seed: "not base64 at all!") }
    }
}
