import Foundation
import KauriCore
import KauriIdentity
import Logging

/// Secrets sandbox mode generates once and keeps in the data directory (mode 0600), so a restart keeps its
/// sessions and admin key: the admin API key, the access-token signing key and the server secret.
enum SandboxSecretFile {
    /// Reads the secret at `path` if `isValid` accepts it, or writes `generate()` there.
    static func loadOrCreate(
        path: String, name: String, logger: Logger, isValid: (String) -> Bool, generate: () -> String
    ) throws -> Secret<String> {
        if let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            isValid(text)
        {
            logger.info("\(name) loaded", metadata: ["path": .string(path)])
            return Secret(text)
        }
        let value = generate()
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((value + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw Server.StartupError(description: "cannot write the \(name) to \(path)")
        }
        logger.info("\(name) generated", metadata: ["path": .string(path)])
        return Secret(value)
    }

    /// The admin API key: `sk_sandbox_` and 40 characters of a 36-letter alphabet (about 206 bits).
    static func adminKey(path: String, logger: Logger) throws -> Secret<String> {
        try self.loadOrCreate(path: path, name: "admin API key", logger: logger, isValid: { $0.utf8.count >= 32 }) {
            var random = SystemRandom()
            let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
            return "sk_sandbox_"
                + String((0..<40).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
        }
    }

    /// The Ed25519 seed that signs access tokens.
    static func signingKey(path: String, logger: Logger) throws -> Secret<String> {
        try self.loadOrCreate(
            path: path, name: "access-token signing key", logger: logger,
            isValid: { (try? SigningKey(base64Seed: $0)) != nil }, generate: { SigningKey.generate().base64Seed })
    }

    /// The server secret.
    static func authSecret(path: String, logger: Logger) throws -> Secret<String> {
        try self.loadOrCreate(
            path: path, name: "auth secret", logger: logger, isValid: { (try? AuthSecret(base64: $0)) != nil },
            generate: { AuthSecret.generate().base64 })
    }
}
