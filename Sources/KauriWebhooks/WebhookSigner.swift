import Crypto
import Foundation
import KauriCore

/// Signs webhook messages the Standard Webhooks v1 way: HMAC-SHA256 over `"{msg_id}.{timestamp}.{payload}"`,
/// keyed by the endpoint's secret, sent as `webhook-signature: v1,<base64>`.
///
/// A secret is `whsec_` followed by the base64 of 24–64 random bytes (Kauri makes 32). During a rotation a
/// message is signed with both secrets and the header holds both signatures, space-separated, so a receiver
/// that knows either secret accepts it.
public struct WebhookSigner: Sendable {
    /// The prefix of every serialised secret.
    public static let secretPrefix = "whsec_"
    /// How many random bytes Kauri puts in a new secret.
    public static let secretBytesGenerated = 32
    /// The fewest key bytes a secret may have (Standard Webhooks: 24).
    public static let secretBytesMin = 24
    /// The most key bytes a secret may have (Standard Webhooks: 64).
    public static let secretBytesMax = 64
    /// The signature scheme identifier of symmetric signatures.
    public static let version = "v1"

    /// Why a secret string is not a usable secret.
    public enum SecretError: Error, Sendable, Hashable {
        /// It does not start with `whsec_`.
        case missingPrefix
        /// The rest is not base64.
        case notBase64
        /// The key is shorter than 24 or longer than 64 bytes.
        case lengthOutOfRange(Int)
    }

    private let key: SymmetricKey

    /// A signer for one serialised secret (`whsec_…`).
    public init(secret: Secret<String>) throws(SecretError) {
        self.key = SymmetricKey(data: try Self.keyBytes(of: secret))
    }

    /// The key bytes inside a serialised secret, checked for the prefix and the allowed length.
    public static func keyBytes(of secret: Secret<String>) throws(SecretError) -> [UInt8] {
        guard secret.value.hasPrefix(Self.secretPrefix) else { throw .missingPrefix }
        guard let bytes = Data(base64Encoded: String(secret.value.dropFirst(Self.secretPrefix.count))) else {
            throw .notBase64
        }
        guard (Self.secretBytesMin...Self.secretBytesMax).contains(bytes.count) else {
            throw .lengthOutOfRange(bytes.count)
        }
        return Array(bytes)
    }

    /// A new secret of `secretBytesGenerated` bytes from `random` (the system's CSPRNG unless a test seeds one).
    public static func makeSecret(
        random: inout some RandomNumberGenerator
    ) -> Secret<String> {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.secretBytesGenerated)
        while bytes.count < Self.secretBytesGenerated {
            withUnsafeBytes(of: random.next()) { bytes.append(contentsOf: $0) }
        }
        return Secret(Self.secretPrefix + Data(bytes.prefix(Self.secretBytesGenerated)).base64EncodedString())
    }

    /// A new secret from the system's CSPRNG.
    public static func makeSecret() -> Secret<String> {
        var random = SystemRandomNumberGenerator()
        return Self.makeSecret(random: &random)
    }

    /// The signature of one message: `v1,<base64 of HMAC-SHA256("{messageID}.{timestamp}.{payload}")>`.
    public func signature(messageID: String, timestamp: Int64, payload: some Collection<UInt8>) -> String {
        var content = Array("\(messageID).\(timestamp).".utf8)
        content.append(contentsOf: payload)
        let code = HMAC<SHA256>.authenticationCode(for: content, using: self.key)
        return Self.version + "," + Data(code).base64EncodedString()
    }

    /// The `webhook-signature` header value: every signer's signature, space-separated.
    public static func header(
        signers: [WebhookSigner], messageID: String, timestamp: Int64, payload: some Collection<UInt8>
    ) -> String {
        signers.map { $0.signature(messageID: messageID, timestamp: timestamp, payload: payload) }
            .joined(separator: " ")
    }

    /// Whether `header` holds a valid `v1` signature of the message by this signer, compared in constant time.
    /// Receivers should also check the timestamp against their tolerance; this only checks the signature.
    public func verify(header: String, messageID: String, timestamp: Int64, payload: some Collection<UInt8>) -> Bool {
        let expected = Array(self.signature(messageID: messageID, timestamp: timestamp, payload: payload).utf8)
        var matched = false
        for candidate in header.split(separator: " ") where ConstantTime.isEqual(Array(candidate.utf8), expected) {
            matched = true
        }
        return matched
    }
}
