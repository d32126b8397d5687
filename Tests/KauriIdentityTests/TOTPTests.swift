import Crypto
import Foundation
import HummingbirdOTP
import KauriCore
import Testing

@testable import KauriIdentity

@Suite("TOTP, recovery codes and secrets at rest")
struct TOTPTests {
    /// RFC 6238 Appendix B: time, then the 8-digit codes for SHA-1, SHA-256 and SHA-512.
    static let vectors: [(Double, Int, Int, Int)] = [
        (59, 94_287_082, 46_119_246, 90_693_936),
        (1_111_111_109, 07_081_804, 68_084_774, 25_091_201),
        (1_111_111_111, 14_050_471, 67_062_674, 99_943_326),
        (1_234_567_890, 89_005_924, 91_819_424, 93_441_116),
        (2_000_000_000, 69_279_037, 90_698_825, 38_618_901),
        (20_000_000_000, 65_353_130, 77_737_706, 47_863_826),
    ]
    static let sha1Secret = "12345678901234567890"
    static let sha256Secret = "12345678901234567890123456789012"
    static let sha512Secret = "1234567890123456789012345678901234567890123456789012345678901234"

    @Test("HummingbirdOTP reproduces the RFC 6238 Appendix B vectors", arguments: vectors)
    func rfc6238(vector: (time: Double, sha1: Int, sha256: Int, sha512: Int)) {
        let (time, sha1, sha256, sha512) = vector
        let date = Date(timeIntervalSince1970: time)
        #expect(TOTP(secret: Self.sha1Secret, length: 8, hashFunction: .sha1).compute(date: date) == sha1)
        #expect(TOTP(secret: Self.sha256Secret, length: 8, hashFunction: .sha256).compute(date: date) == sha256)
        #expect(TOTP(secret: Self.sha512Secret, length: 8, hashFunction: .sha512).compute(date: date) == sha512)
    }

    /// The 6-digit code of a time step, computed independently of `TOTPCodes`.
    static func code(_ secret: String, step: Int64) -> String {
        let value = HOTP(secret: secret, length: 6, hashFunction: .sha1).compute(counter: UInt64(step))
        let text = String(value)
        return String(repeating: "0", count: 6 - text.count) + text
    }

    static let time = Timestamp(unixMilliseconds: 1_800_000_015_000)
    static var step: Int64 { Int64(Self.time.unixMilliseconds / 1_000 / 30) }

    @Test("codes of the current step and one step either side match; two steps away do not")
    func window() {
        let secret = TOTPCodes.generateSecret()
        for offset: Int64 in [-1, 0, 1] {
            let code = Self.code(secret, step: Self.step + offset)
            let step = TOTPCodes.matchingStep(code: code, secret: secret, at: Self.time, lastUsedStep: nil)
            #expect(step == Self.step + offset)
        }
        for offset: Int64 in [-2, 2] {
            let code = Self.code(secret, step: Self.step + offset)
            // Guard against the one-in-a-million chance that the code collides with a neighbouring step.
            let collides = (-1...1).contains { Self.code(secret, step: Self.step + $0) == code }
            if !collides {
                #expect(TOTPCodes.matchingStep(code: code, secret: secret, at: Self.time, lastUsedStep: nil) == nil)
            }
        }
        let current = TOTP(secret: secret).compute(date: Date(timeIntervalSince1970: 1_800_000_015))
        #expect(Self.code(secret, step: Self.step) == TOTPCodes.format(current))
    }

    @Test("a code works once: steps up to lastUsedStep are refused")
    func reuse() {
        let secret = TOTPCodes.generateSecret()
        let code = Self.code(secret, step: Self.step)
        let used = TOTPCodes.matchingStep(code: code, secret: secret, at: Self.time, lastUsedStep: nil)
        #expect(used == Self.step)
        #expect(TOTPCodes.matchingStep(code: code, secret: secret, at: Self.time, lastUsedStep: used) == nil)
        let previous = Self.code(secret, step: Self.step - 1)
        if previous != code {
            #expect(TOTPCodes.matchingStep(code: previous, secret: secret, at: Self.time, lastUsedStep: used) == nil)
        }
        let next = Self.code(secret, step: Self.step + 1)
        #expect(TOTPCodes.matchingStep(code: next, secret: secret, at: Self.time, lastUsedStep: used) == Self.step + 1)
    }

    @Test("malformed codes are refused", arguments: [
        "", "12345", "1234567", "12a456", " 123456", "123 456", "١٢٣٤٥٦", "+12345", "-12345",
    ])
    func malformedCodes(code: String) {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        #expect(TOTPCodes.matchingStep(code: code, secret: secret, at: Self.time, lastUsedStep: nil) == nil)
    }

    @Test("secrets are 32 base32 characters, different each time; the URL carries them")
    func secrets() throws {
        let secrets = (0..<50).map { _ in TOTPCodes.generateSecret() }
        #expect(Set(secrets).count == 50)
        for secret in secrets {
            #expect(secret.count == 32)
            #expect(secret.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
        }
        let url = TOTPCodes.authenticatorURL(secret: secrets[0], account: "ada@example.com", issuer: "Kauri")
        #expect(url.hasPrefix("otpauth://totp/Kauri:ada@example.com?secret="))
        #expect(url.contains("&issuer=Kauri"))
        #expect(!url.contains("digits=") && !url.contains("algorithm="))
    }

    @Test("recovery codes: unique, four groups of six, at least 120 bits, normalised for comparison")
    func recoveryCodes() {
        #expect(RecoveryCodes.alphabet.count == 32 && Set(RecoveryCodes.alphabet).count == 32)
        #expect(RecoveryCodes.groupCount * RecoveryCodes.groupLength * 5 >= 120)
        let codes = RecoveryCodes.generate()
        #expect(codes.count == 10 && Set(codes).count == 10)
        for code in codes {
            let groups = code.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.count == 4 && groups.allSatisfy { $0.count == 6 })
            #expect(code.allSatisfy { $0 == "-" || RecoveryCodes.alphabet.contains($0) })
            #expect(!code.contains { "01lo".contains($0) })
        }
        #expect(RecoveryCodes.generate(count: 3).count == 3)
        #expect(RecoveryCodes.normalize(" ABCDEF-ghijkm \tNPQRST - uvwxyz ") == "abcdefghijkmnpqrstuvwxyz")
    }

    @Test("recovery code hashes are keyed HMACs of the normalised code")
    func recoveryCodeHashes() {
        let key = SymmetricKey(size: .bits256)
        let code = "abcdef-ghijkm-npqrst-uvwxyz"
        let hash = RecoveryCodes.hash(code, key: key)
        #expect(hash.count == 64 && hash.allSatisfy(\.isHexDigit) && hash == hash.lowercased())
        #expect(RecoveryCodes.hash("ABCDEF GHIJKM NPQRST UVWXYZ", key: key) == hash)
        #expect(RecoveryCodes.hash(code, key: SymmetricKey(size: .bits256)) != hash)
        #expect(RecoveryCodes.hash("abcdef-ghijkm-npqrst-uvwxy2", key: key) != hash)
        let expected = HMAC<SHA256>.authenticationCode(for: Data("abcdefghijkmnpqrstuvwxyz".utf8), using: key)
        #expect(hash == expected.map { String(format: "%02x", $0) }.joined())
    }

    @Test("SecretBox round-trips and detects tampering")
    func secretBox() throws {
        let box = SecretBox(key: SymmetricKey(size: .bits256))
        let sealed = try box.seal("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        #expect(try box.open(sealed) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        #expect(try box.seal("same") != box.seal("same"))
        #expect(!sealed.contains("JBSWY3DP"))

        var bytes = try #require(Data(base64Encoded: sealed))
        bytes[bytes.count / 2] ^= 0x01
        #expect(throws: SecretBox.Error.cannotOpen) { try box.open(bytes.base64EncodedString()) }
        #expect(throws: SecretBox.Error.cannotOpen) { try SecretBox(key: SymmetricKey(size: .bits256)).open(sealed) }
        #expect(throws: SecretBox.Error.cannotOpen) { try box.open("not base64!") }
        #expect(throws: SecretBox.Error.cannotOpen) { try box.open("AAAA") }
    }

    @Test("AuthSecret derives a stable, different key per purpose")
    func authSecret() throws {
        let secret = AuthSecret.generate()
        let restored = try AuthSecret(base64: secret.base64)
        let bytes = { (key: SymmetricKey) in key.withUnsafeBytes { Array($0) } }
        #expect(bytes(secret.key(for: "totp-secrets")) == bytes(restored.key(for: "totp-secrets")))
        #expect(bytes(secret.key(for: "totp-secrets")) != bytes(secret.key(for: "recovery-codes")))
        #expect(bytes(secret.key(for: "totp-secrets")) != bytes(AuthSecret.generate().key(for: "totp-secrets")))
        #expect(secret.key(for: "x").bitCount == 256)
        #expect("\(secret)" == "AuthSecret(***)")
        #expect(throws: KeyMaterialError.wrongLength(expected: 32, actual: 16)) {
            try AuthSecret(base64: Data(repeating: 7, count: 16).base64EncodedString())
        }
        #expect(throws: KeyMaterialError.invalidBase64) { try AuthSecret(base64: "***") }
        // url-safe and unpadded forms are accepted.
        let urlSafe = secret.base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        #expect(bytes(try AuthSecret(base64: urlSafe).key(for: "a")) == bytes(secret.key(for: "a")))
    }
}
