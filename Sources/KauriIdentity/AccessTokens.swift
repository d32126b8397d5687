import Crypto
import Foundation
import JWTKit
import KauriCore

/// An Ed25519 key that signs (and, once rotated out, only verifies) access tokens.
///
/// Its description shows only the key id, so logging it cannot leak the private key.
public struct SigningKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let privateKey: Curve25519.Signing.PrivateKey

    /// The key's identifier, put in the `kid` header of every token it signs.
    public let keyID: String

    init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
        let digest = SHA256.hash(data: privateKey.publicKey.rawRepresentation)
        self.keyID = Base64URL.encode(Array(digest.prefix(12)))
    }

    /// A new random key from the system's CSPRNG.
    public static func generate() -> SigningKey {
        SigningKey(privateKey: Curve25519.Signing.PrivateKey())
    }

    /// Restores a key from its 32-byte private seed, base64 (standard or url-safe, padding optional).
    public init(base64Seed: String) throws {
        guard let seed = Base64URL.decodeAnyAlphabet(base64Seed) else { throw KeyMaterialError.invalidBase64 }
        guard seed.count == 32 else { throw KeyMaterialError.wrongLength(expected: 32, actual: seed.count) }
        self.init(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: seed))
    }

    /// The 32-byte private seed in standard base64, to persist the key. Keep it secret.
    public var base64Seed: String { self.privateKey.rawRepresentation.base64EncodedString() }

    /// The public half, which is all verification needs.
    var publicKey: Curve25519.Signing.PublicKey { self.privateKey.publicKey }

    /// `SigningKey(kid: ...)`, never the private key.
    public var description: String { "SigningKey(kid: \(self.keyID))" }
    /// `SigningKey(kid: ...)`, never the private key.
    public var debugDescription: String { self.description }
    /// A mirror with no children, so `dump` prints nothing of the key.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// Why key material (a signing key seed, an auth secret) could not be loaded.
public enum KeyMaterialError: Error, Sendable, Hashable {
    /// The text is not base64.
    case invalidBase64
    /// The decoded bytes have the wrong length.
    case wrongLength(expected: Int, actual: Int)
}

/// What a verified access token says.
public struct AccessTokenClaims: Sendable, Hashable {
    /// The user the token was issued to (`sub`).
    public var userID: String
    /// The session (refresh-token family) the token belongs to (`sid`).
    public var sessionID: String
    /// The token's unique identifier (`jti`).
    public var tokenID: String
    /// When the token was issued (`iat`), to the second.
    public var issuedAt: Timestamp
    /// When the token stops being accepted (`exp`), before leeway.
    public var expiresAt: Timestamp

    /// Creates claims.
    public init(userID: String, sessionID: String, tokenID: String, issuedAt: Timestamp, expiresAt: Timestamp) {
        self.userID = userID
        self.sessionID = sessionID
        self.tokenID = tokenID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// Why an access token was refused. The distinctions are for logs and tests; clients all get the same 401.
public enum AccessTokenError: Error, Sendable, Hashable {
    /// Not three base64url segments of JSON, a claim of the wrong type, or oversized.
    case malformed
    /// `exp` is more than the leeway in the past.
    case expired
    /// `nbf` or `iat` is more than the leeway in the future.
    case notYetValid
    /// The signature does not verify with the key named by `kid`.
    case badSignature
    /// `alg` is anything but `EdDSA` (`none`, `HS256`, ...).
    case algorithmNotAllowed
    /// `typ` is not `at+jwt`: an ID token, a refresh token or a plain JWT.
    case wrongType
    /// `kid` is missing or names no key we hold.
    case unknownKey
    /// The header carries `jku`, `x5u`, `jwk`, `x5c` or `crit`.
    case forbiddenHeader
    /// `iss` is not ours.
    case wrongIssuer
    /// `aud` does not name us.
    case wrongAudience
    /// A required claim (`iss`, `aud`, `sub`, `sid`, `jti`, `iat`, `exp`) is absent or empty.
    case missingClaim
}

/// Issues and verifies short-lived EdDSA access tokens (RFC 9068 profile: `typ` `at+jwt`).
///
/// Verification follows RFC 8725: the header is parsed and checked by us before any key is chosen — only
/// `EdDSA` is allowed, only keys we hold (`kid`), no key-carrying or critical headers — then jwt-kit checks the
/// signature, and finally the issuer, audience and times are checked against the injected clock.
public struct AccessTokens: Sendable {
    /// The longest token accepted, in bytes; ours are about 400.
    static let tokenBytesMax = 4_096
    /// The only signing algorithm accepted.
    static let algorithm = "EdDSA"
    /// The token type of access tokens (RFC 9068 §2.1).
    static let tokenType = "at+jwt"
    /// Header parameters that would let the token choose its own key, or demand extensions we do not know.
    static let forbiddenHeaders: Set<String> = ["jku", "x5u", "jwk", "x5c", "crit"]

    private let signingKey: SigningKey
    private let verificationKeys: [String: Curve25519.Signing.PublicKey]
    /// Tokens whose signature verified already (claims are still checked on every use).
    private let verified = VerifiedTokenCache<Payload>()
    private let issuer: String
    private let audience: String
    private let leewaySeconds: Int
    private let clock: any WallClock

    /// How long an issued token lives, in seconds.
    public let lifetimeSeconds: Int

    /// Creates the token service.
    ///
    /// - Parameters:
    ///   - signingKey: The key that signs new tokens; it also verifies them.
    ///   - verificationKeys: Retired keys whose unexpired tokens are still accepted (key rotation).
    ///   - issuer: The `iss` written and required.
    ///   - audience: The `aud` written and required.
    ///   - lifetimeSeconds: Token lifetime; at most 10 minutes (reliability.md §7E.19).
    ///   - leewaySeconds: Clock skew tolerated on `exp`, `nbf` and `iat`.
    ///   - clock: The source of the current time.
    public init(
        signingKey: SigningKey, verificationKeys: [SigningKey] = [], issuer: String, audience: String,
        lifetimeSeconds: Int = 600, leewaySeconds: Int = 60, clock: any WallClock
    ) {
        precondition(lifetimeSeconds > 0 && lifetimeSeconds <= 600, "access tokens live at most 10 minutes")
        precondition(leewaySeconds >= 0 && leewaySeconds <= 300, "leeway must be between 0 and 5 minutes")
        self.signingKey = signingKey
        var keys: [String: Curve25519.Signing.PublicKey] = [:]
        for key in verificationKeys { keys[key.keyID] = key.publicKey }
        keys[signingKey.keyID] = signingKey.publicKey
        self.verificationKeys = keys
        self.issuer = issuer
        self.audience = audience
        self.lifetimeSeconds = lifetimeSeconds
        self.leewaySeconds = leewaySeconds
        self.clock = clock
    }

    /// Signs a new access token for a user's session.
    public func issue(userID: String, sessionID: String) async throws -> (token: String, claims: AccessTokenClaims) {
        let issuedAtSeconds = Int64(self.clock.now().unixMilliseconds / 1_000)
        let expiresAtSeconds = issuedAtSeconds + Int64(self.lifetimeSeconds)
        var random = SystemRandomNumberGenerator()
        let tokenID = Base64URL.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &random) })
        let payload = Payload(
            iss: self.issuer, aud: .one(self.audience), sub: userID, sid: sessionID, jti: tokenID,
            iat: Double(issuedAtSeconds), nbf: Double(issuedAtSeconds), exp: Double(expiresAtSeconds))
        let keys = JWTKeyCollection()
        let kid = JWKIdentifier(string: self.signingKey.keyID)
        await keys.add(eddsa: EdDSA.PrivateKey(backing: self.signingKey.privateKey), kid: kid)
        let header: JWTHeader = ["alg": .string(Self.algorithm), "typ": .string(Self.tokenType)]
        let token = try await keys.sign(payload, kid: kid, header: header)
        let claims = AccessTokenClaims(
            userID: userID, sessionID: sessionID, tokenID: tokenID,
            issuedAt: Timestamp(unixMilliseconds: UInt64(issuedAtSeconds) * 1_000),
            expiresAt: Timestamp(unixMilliseconds: UInt64(expiresAtSeconds) * 1_000))
        return (token, claims)
    }

    /// Verifies a token and returns its claims, or says why it is refused.
    public func verify(_ token: String) async throws(AccessTokenError) -> AccessTokenClaims {
        // A token seen before passed every header and signature check then; only its claims (times) can change.
        if let payload = self.verified.payload(for: token) {
            return try self.checkClaims(payload)
        }
        let (kid, publicKey) = try self.checkHeader(of: token)

        // Only the one key the header named goes into the collection, so jwt-kit cannot fall back to another.
        let payload: Payload
        do {
            let keys = JWTKeyCollection()
            await keys.add(eddsa: EdDSA.PublicKey(backing: publicKey), kid: JWKIdentifier(string: kid))
            payload = try await keys.verify(token, as: Payload.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature
        } catch {
            throw .malformed
        }
        let claims = try self.checkClaims(payload)
        self.verified.insert(payload, for: token)
        return claims
    }

    /// Parses and checks the header without trusting anything else in the token; returns the key `kid` names.
    private func checkHeader(
        of token: String
    ) throws(AccessTokenError) -> (kid: String, key: Curve25519.Signing.PublicKey) {
        guard token.utf8.count <= Self.tokenBytesMax else { throw .malformed }
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        // The signature segment may be empty here (`alg: none`); the algorithm check below refuses that token.
        guard segments.count == 3, !segments[0].isEmpty, !segments[1].isEmpty,
            let headerBytes = Base64URL.decode(segments[0]),
            let object = try? JSONSerialization.jsonObject(with: Data(headerBytes)),
            let header = object as? [String: Any]
        else { throw .malformed }
        guard header["alg"] as? String == Self.algorithm else { throw .algorithmNotAllowed }
        guard Self.forbiddenHeaders.isDisjoint(with: header.keys) else { throw .forbiddenHeader }
        guard let type = (header["typ"] as? String)?.lowercased(),
            type == Self.tokenType || type == "application/" + Self.tokenType
        else { throw .wrongType }
        guard let kid = header["kid"] as? String, let key = self.verificationKeys[kid] else { throw .unknownKey }
        guard !segments[2].isEmpty, Base64URL.decode(segments[1]) != nil, Base64URL.decode(segments[2]) != nil else {
            throw .malformed
        }
        return (kid, key)
    }

    /// Checks issuer, audience, subject and the times, against our clock.
    private func checkClaims(_ payload: Payload) throws(AccessTokenError) -> AccessTokenClaims {
        guard let issuer = payload.iss, let audience = payload.aud,
            let userID = payload.sub, !userID.isEmpty, let sessionID = payload.sid, !sessionID.isEmpty,
            let tokenID = payload.jti, !tokenID.isEmpty, let issuedAt = payload.iat, let expiresAt = payload.exp
        else { throw .missingClaim }
        guard issuer == self.issuer else { throw .wrongIssuer }
        guard audience.values.contains(self.audience) else { throw .wrongAudience }
        guard let issuedAtMilliseconds = Self.milliseconds(issuedAt),
            let expiresAtMilliseconds = Self.milliseconds(expiresAt)
        else { throw .malformed }
        let now = self.clock.now().unixMilliseconds
        let leeway = UInt64(self.leewaySeconds) * 1_000
        guard now <= expiresAtMilliseconds + leeway else { throw .expired }
        guard issuedAtMilliseconds <= now + leeway else { throw .notYetValid }
        if let notBefore = payload.nbf {
            guard let notBeforeMilliseconds = Self.milliseconds(notBefore) else { throw .malformed }
            guard notBeforeMilliseconds <= now + leeway else { throw .notYetValid }
        }
        return AccessTokenClaims(
            userID: userID, sessionID: sessionID, tokenID: tokenID,
            issuedAt: Timestamp(unixMilliseconds: issuedAtMilliseconds),
            expiresAt: Timestamp(unixMilliseconds: expiresAtMilliseconds))
    }

    /// A NumericDate (seconds, possibly fractional) as milliseconds, if it is a sane time (1970 to year ~5138).
    private static func milliseconds(_ seconds: Double) -> UInt64? {
        guard seconds.isFinite, seconds >= 0, seconds < 1e11 else { return nil }
        return UInt64((seconds * 1_000).rounded(.down))
    }

    /// The claims as they travel. Every field is optional so that absence is reported as `missingClaim`.
    struct Payload: JWTPayload {
        var iss: String?
        var aud: Audience?
        var sub: String?
        var sid: String?
        var jti: String?
        var iat: Double?
        var nbf: Double?
        var exp: Double?

        /// Claims are checked by `AccessTokens` with its own clock, after jwt-kit verified the signature.
        func verify(using algorithm: some JWTAlgorithm) async throws {}

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(self.iss, forKey: .iss)
            try container.encodeIfPresent(self.aud, forKey: .aud)
            try container.encodeIfPresent(self.sub, forKey: .sub)
            try container.encodeIfPresent(self.sid, forKey: .sid)
            try container.encodeIfPresent(self.jti, forKey: .jti)
            // Whole seconds, written as integers.
            try container.encodeIfPresent(self.iat.map { Int64($0) }, forKey: .iat)
            try container.encodeIfPresent(self.nbf.map { Int64($0) }, forKey: .nbf)
            try container.encodeIfPresent(self.exp.map { Int64($0) }, forKey: .exp)
        }
    }

    /// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3).
    enum Audience: Codable, Sendable {
        case one(String)
        case many([String])

        var values: [String] {
            switch self {
            case .one(let value): [value]
            case .many(let values): values
            }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(String.self) {
                self = .one(value)
            } else {
                self = .many(try container.decode([String].self))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .one(let value): try container.encode(value)
            case .many(let values): try container.encode(values)
            }
        }
    }
}

/// Base64url without padding (RFC 4648 §5), as JWTs and our identifiers use it.
enum Base64URL {
    /// Encodes bytes as unpadded base64url.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Decodes unpadded base64url; nil for any other character (including `=`, `+`, `/`) or a bad length.
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var standard: [UInt8] = []
        standard.reserveCapacity(text.count + 3)
        for byte in text {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                standard.append(byte)
            case UInt8(ascii: "-"): standard.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): standard.append(UInt8(ascii: "/"))
            default: return nil
            }
        }
        guard standard.count % 4 != 1 else { return nil }
        while standard.count % 4 != 0 { standard.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(standard)).map { Array($0) }
    }

    /// Decodes standard or url-safe base64, with or without padding (for keys pasted into configuration).
    static func decodeAnyAlphabet(_ text: String) -> [UInt8]? {
        var trimmed = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        while trimmed.hasSuffix("=") { trimmed = trimmed.dropLast() }
        let urlSafe = trimmed.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return Self.decode(Array(urlSafe.utf8))
    }
}
