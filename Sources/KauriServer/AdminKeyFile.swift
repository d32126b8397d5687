import Foundation
import KauriCore
import Logging

/// The sandbox's admin API key: generated once from the system CSPRNG and kept in the data directory (mode 0600).
enum AdminKeyFile {
    /// Reads the key at `path`, or creates it.
    static func loadOrCreate(path: String, logger: Logger) throws -> Secret<String> {
        if let data = FileManager.default.contents(atPath: path),
            let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            text.utf8.count >= 32
        {
            logger.info("admin API key loaded", metadata: ["path": .string(path)])
            return Secret(text)
        }
        var random = SystemRandom()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        // 40 characters of a 36-letter alphabet: about 206 bits.
        let key = "sk_sandbox_" + String((0..<40).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw Server.StartupError(description: "cannot write the admin API key to \(path)")
        }
        logger.info("admin API key generated", metadata: ["path": .string(path)])
        return Secret(key)
    }
}
