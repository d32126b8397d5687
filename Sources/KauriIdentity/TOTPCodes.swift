import Crypto
import Foundation
import HummingbirdOTP
import KauriCore

/// Time-based one-time passwords (RFC 6238) for authenticator apps: SHA-1, 6 digits, 30-second steps.
///
/// A secret is 32 characters of the base32 alphabet; following HummingbirdOTP's convention its UTF-8 bytes are
/// the HMAC key (so the key is 32 bytes, of which 160 bits are random), and the authenticator URL carries the
/// base32 encoding of those bytes.
public enum TOTPCodes {
    /// The number of digits of a code.
    public static let digits = 6
    /// The length of a time step, in seconds.
    public static let stepSeconds: Int64 = 30
    /// How many steps before and after the current one are accepted, for clock skew (RFC 6238 §5.2).
    public static let skewSteps: Int64 = 1

    static let base32Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    /// A new secret: 32 characters from A–Z2–7 drawn from the system's CSPRNG (160 bits).
    public static func generateSecret() -> String {
        var random = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in Self.base32Alphabet[Int.random(in: 0..<32, using: &random)] })
    }

    /// The `otpauth://totp/...` URL to show as a QR code, labelled `issuer:account`.
    public static func authenticatorURL(secret: String, account: String, issuer: String) -> String {
        TOTP(secret: secret, length: Self.digits, timeStep: Int(Self.stepSeconds), hashFunction: .sha1)
            .createAuthenticatorURL(label: "\(issuer):\(account)", issuer: issuer)
    }

    /// The time step `code` matches within ±1 step of `time` (SHA-1, 6 digits, 30 s), only if that step is greater
    /// than `lastUsedStep` (a code works once); nil otherwise. Constant-time comparison of the digits.
    ///
    /// Callers store the returned step as the new `lastUsedStep`, in the same transaction that accepts the code.
    public static func matchingStep(code: String, secret: String, at time: Timestamp, lastUsedStep: Int64?) -> Int64? {
        let given = Array(code.utf8)
        guard given.count == Self.digits, given.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            !secret.isEmpty
        else { return nil }
        let current = Int64(time.unixMilliseconds / 1_000) / Self.stepSeconds
        let hotp = HOTP(secret: secret, length: Self.digits, hashFunction: .sha1)
        var matched: Int64?
        // Every candidate is computed and compared, so the time does not reveal which one matched.
        for step in (current - Self.skewSteps)...(current + Self.skewSteps) where step >= 0 {
            let expected = Array(Self.format(hotp.compute(counter: UInt64(step))).utf8)
            if ConstantTime.isEqual(expected, given), step > (lastUsedStep ?? -1) {
                matched = step
            }
        }
        return matched
    }

    /// A code as its fixed number of digits, with leading zeros.
    static func format(_ code: Int) -> String {
        let text = String(code)
        return String(repeating: "0", count: max(0, Self.digits - text.count)) + text
    }
}

/// Single-use recovery codes for when the authenticator is lost.
///
/// Each code is 24 characters (120 bits) from a 32-character alphabet without look-alikes (no 0, 1, l, o),
/// shown in four dash-separated groups of six. With at least 112 bits of entropy they may be stored as a keyed
/// HMAC rather than a slow password hash (ASVS 6.5.2).
public enum RecoveryCodes {
    static let alphabet = Array("23456789abcdefghijkmnpqrstuvwxyz")
    static let groupCount = 4
    static let groupLength = 6

    /// New random codes, e.g. `k7m2qa-x9ptbe-...`.
    public static func generate(count: Int = 10) -> [String] {
        precondition(count > 0 && count <= 100)
        var random = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            (0..<Self.groupCount).map { _ in
                String((0..<Self.groupLength).map { _ in Self.alphabet[Int.random(in: 0..<32, using: &random)] })
            }.joined(separator: "-")
        }
    }

    /// The code as compared and hashed: lower-cased, with spaces and dashes removed.
    public static func normalize(_ input: String) -> String {
        String(input.lowercased().filter { !$0.isWhitespace && $0 != "-" })
    }

    /// The hex HMAC-SHA256 of the normalized code, to store and look up.
    public static func hash(_ code: String, key: SymmetricKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(Self.normalize(code).utf8), using: key)
        return mac.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

/// Encrypts small secrets (TOTP secrets) at rest with AES-GCM.
public struct SecretBox: Sendable {
    /// Why a sealed value could not be opened.
    public enum Error: Swift.Error, Sendable, Hashable {
        /// Not base64, too short, tampered with, sealed under another key, or not UTF-8 inside.
        case cannotOpen
    }

    private let key: SymmetricKey

    /// Creates a box with a 256-bit key (see `AuthSecret.key(for:)`).
    public init(key: SymmetricKey) {
        precondition(key.bitCount == 256, "SecretBox needs a 256-bit key")
        self.key = key
    }

    /// Encrypts with a fresh random nonce; returns base64 of nonce‖ciphertext‖tag.
    public func seal(_ plaintext: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: self.key)
        guard let combined = box.combined else { throw Error.cannotOpen }
        return combined.base64EncodedString()
    }

    /// Decrypts and authenticates what `seal` produced.
    public func open(_ sealed: String) throws -> String {
        do {
            guard let data = Data(base64Encoded: sealed) else { throw Error.cannotOpen }
            let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: self.key)
            guard let text = String(data: plaintext, encoding: .utf8) else { throw Error.cannotOpen }
            return text
        } catch {
            throw Error.cannotOpen
        }
    }
}

/// Derives purpose-specific keys from the server's auth secret (HKDF-SHA256).
public struct AuthSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The fewest bytes an auth secret may have.
    public static let bytesMin = 32

    private let bytes: [UInt8]

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// A new random 32-byte secret from the system's CSPRNG.
    public static func generate() -> AuthSecret {
        var random = SystemRandomNumberGenerator()
        return AuthSecret(bytes: (0..<Self.bytesMin).map { _ in UInt8.random(in: .min ... .max, using: &random) })
    }

    /// Loads a secret from base64 (standard or url-safe); it must hold at least 32 bytes.
    public init(base64: String) throws {
        guard let bytes = Base64URL.decodeAnyAlphabet(base64) else { throw KeyMaterialError.invalidBase64 }
        guard bytes.count >= Self.bytesMin else {
            throw KeyMaterialError.wrongLength(expected: Self.bytesMin, actual: bytes.count)
        }
        self.init(bytes: bytes)
    }

    /// The secret in standard base64, to persist it. Keep it secret.
    public var base64: String { Data(self.bytes).base64EncodedString() }

    /// A 256-bit key for one purpose (`"totp-secrets"`, `"recovery-codes"`, ...): HKDF-SHA256 with the purpose as
    /// `info`, so keys for different purposes are independent.
    public func key(for purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: self.bytes), info: Data(purpose.utf8), outputByteCount: 32)
    }

    /// Always `AuthSecret(***)`.
    public var description: String { "AuthSecret(***)" }
    /// Always `AuthSecret(***)`.
    public var debugDescription: String { "AuthSecret(***)" }
    /// A mirror with no children, so `dump` prints nothing of the secret.
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}
