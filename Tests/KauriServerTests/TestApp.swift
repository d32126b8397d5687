import Foundation
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriServer
import KauriTestSupport
import Logging

/// Builds the real application on a fresh SQLite file (or the given database) for API tests.
enum TestApp {
    static let quietLogger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    /// A temporary data directory, removed after `body`.
    static func withDataDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kauri-test-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try await body(directory)
    }

    /// Runs `body` against the application through Hummingbird's router test client.
    static func run(
        settings: ServerSettings = ServerSettings(),
        accessLog: LogOutput? = nil,
        configureRoutes: @escaping (DocumentedRouter, Database) -> Void = { _, _ in },
        database providedDatabase: Database? = nil,
        _ body: @escaping @Sendable (any TestClientProtocol, Database) async throws -> Void
    ) async throws {
        try await withDataDirectory { directory in
            var settings = settings
            settings.dataDirectory = directory
            let database = try Database(
                settings.database, logger: quietLogger,
                connectionRequestTimeout: TestDatabases.connectionRequestTimeout)
            do {
                try await self.serve(
                    settings: settings, database: providedDatabase ?? database, migrate: providedDatabase == nil,
                    accessLog: accessLog, configureRoutes: configureRoutes, body)
            } catch {
                await database.shutdown()
                throw error
            }
            await database.shutdown()
        }
    }

    private static func serve(
        settings: ServerSettings,
        database: Database,
        migrate: Bool,
        accessLog: LogOutput?,
        configureRoutes: @escaping (DocumentedRouter, Database) -> Void,
        _ body: @escaping @Sendable (any TestClientProtocol, Database) async throws -> Void
    ) async throws {
        if migrate {
            try await MigrationRunner(database: database, migrations: allMigrations, logger: quietLogger).migrate()
        }
        var accessLogger = quietLogger
        if let accessLog {
            accessLogger = Logger(label: "kauri.http") {
                JSONLogHandler(label: $0, level: .info, output: accessLog, clock: SystemClock())
            }
        }
        let app = buildApplication(
            AppDependencies(settings: settings, database: database, logger: quietLogger, accessLogger: accessLogger)
        ) { api in
            configureRoutes(api, database)
        }
        try await app.test(.router) { client in try await body(client, database) }
    }

    /// Parses a JSON body into a dictionary.
    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        let data = Data(buffer.readableBytesView)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.coderReadCorrupt)
        }
        return object
    }
}
