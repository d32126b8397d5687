import AsyncHTTPClient
import KauriSandbox
import Logging

/// Runs a test body against a fresh sandbox server over loopback HTTP, with one HTTP client, and shuts both
/// down afterwards whether the body passed or threw.
enum SandboxHarness {
    /// A logger that keeps the server and the adapters quiet.
    static let quietLogger: Logger = {
        var logger = Logger(label: "kauri.messaging.tests")
        logger.logLevel = .critical
        return logger
    }()

    static func run(_ body: (SandboxServer, HTTPClient) async throws -> Void) async throws {
        let sandbox = try await SandboxServer.start(logger: self.quietLogger)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await body(sandbox, client)
        } catch {
            try await client.shutdown()
            await sandbox.shutdown()
            throw error
        }
        try await client.shutdown()
        await sandbox.shutdown()
    }
}
