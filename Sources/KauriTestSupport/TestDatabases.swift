import Foundation
import KauriDatabase
import NIOCore
import Logging

/// Real databases for tests, shared by every test target: a fresh SQLite file always, and a fresh PostgreSQL
/// schema when POSTGRES_URL is set.
public enum TestDatabases {
    public static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    /// How long a test's transaction may wait for a pooled connection: the suite runs its tests in parallel on
    /// two cores, so a test that queues 50 transactions on a pool of 4 can wait far longer than production would.
    public static let connectionRequestTimeout: TimeAmount = .seconds(60)

    /// The engines to run a test on.
    public static var kinds: [Database.Kind] {
        ProcessInfo.processInfo.environment["POSTGRES_URL"].map { _ in [.sqlite, .postgres] } ?? [.sqlite]
    }

    /// A fresh, isolated database of the given kind; `body` runs with it and it is torn down afterwards.
    public static func with<T>(
        _ kind: Database.Kind, instances: Int = 1, _ body: ([Database]) async throws -> T
    ) async throws -> T {
        switch kind {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kauri-test-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("kauri.sqlite").path
            let databases = try (0..<instances).map { _ in
                try Database(
                    .sqlite(path: path, poolSize: 4), logger: logger,
                    connectionRequestTimeout: connectionRequestTimeout)
            }
            do {
                let result = try await body(databases)
                for database in databases { await database.shutdown() }
                return result
            } catch {
                for database in databases { await database.shutdown() }
                throw error
            }
        case .postgres:
            let url = ProcessInfo.processInfo.environment["POSTGRES_URL"]!
            let schema = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let admin = try Database(.postgres(url: .init(url), poolSize: 1), logger: logger)
            do {
                try await admin.withConnection { try await $0.raw("CREATE SCHEMA \(unsafeRaw: schema)").run() }
            } catch {
                // A pool must be shut down before it is released, or it traps and hides this error.
                await admin.shutdown()
                throw error
            }
            let databases = try (0..<instances).map { _ in
                try Database(
                    .postgres(url: .init(url), poolSize: 4, searchPath: [schema]), logger: logger,
                    connectionRequestTimeout: connectionRequestTimeout)
            }
            func teardown() async {
                for database in databases { await database.shutdown() }
                try? await admin.withConnection { try await $0.raw("DROP SCHEMA \(unsafeRaw: schema) CASCADE").run() }
                await admin.shutdown()
            }
            do {
                let result = try await body(databases)
                await teardown()
                return result
            } catch {
                await teardown()
                throw error
            }
        }
    }
}
