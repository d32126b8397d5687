import Configuration
import Foundation
import KauriServer
import Testing

@Suite("Settings")
struct SettingsTests {
    @Test("defaults need no configuration at all")
    func defaults() async throws {
        let settings = try await SettingsLoader.load(flags: [:], environment: [:])
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 8080)
        #expect(settings.dataDirectory == "./.kauri")
        #expect(settings.databaseURL == nil)
        #expect(settings.mode == .sandbox)
        #expect(settings.sqlitePath == "./.kauri/kauri.sqlite")
    }

    @Test("precedence is flags over environment over config file over defaults")
    func precedence() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kauri-config-\(UUID()).json")
        try Data(
            #"{"KAURI_PORT": 7001, "KAURI_HOST": "0.0.0.0", "KAURI_DATA_DIR": "/srv/file", "KAURI_MODE": "live"}"#.utf8
        )
        .write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let settings = try await SettingsLoader.load(
            flags: [.port: .int(7003)],
            environment: [
                "KAURI_PORT": "7002", "KAURI_DATA_DIR": "/srv/env",
                "KAURI_CORS_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            ],
            configFile: file.path)
        #expect(settings.port == 7003)
        #expect(settings.dataDirectory == "/srv/env")
        #expect(settings.host == "0.0.0.0")
        #expect(settings.mode == .live)
        #expect(settings.corsAllowedOrigins == ["https://a.example", "https://b.example"])
    }

    @Test(
        "an unparseable value names the setting",
        arguments: [
            (["KAURI_PORT": "eighty"], "KAURI_PORT"),
            (["KAURI_PORT": "70000"], "KAURI_PORT"),
            (["KAURI_MODE": "production"], "KAURI_MODE"),
            (["KAURI_DATABASE_POOL_SIZE": "0"], "KAURI_DATABASE_POOL_SIZE"),
            (["KAURI_ACCESS_LOG": "maybe"], "KAURI_ACCESS_LOG"),
            (["KAURI_LOG_LEVEL": "loud"], "KAURI_LOG_LEVEL"),
            (["DATABASE_URL": "mysql://root:pw@db/x"], "DATABASE_URL"),
            (["KAURI_CORS_ALLOWED_ORIGINS": "shop.example"], "KAURI_CORS_ALLOWED_ORIGINS"),
        ])
    func invalid(environment: [String: String], name: String) async {
        do {
            _ = try await SettingsLoader.load(flags: [:], environment: environment)
            Issue.record("accepted \(environment)")
        } catch {
            #expect(error.description.contains(name))
            #expect(!error.description.contains("root:pw"))
        }
    }

    @Test("a PostgreSQL URL selects PostgreSQL and is never printed")
    func databaseURLIsSecret() async throws {
        let settings = try await SettingsLoader.load(
            flags: [:], environment: ["DATABASE_URL": "postgres://kauri:hunter2@db.internal:5432/kauri"])
        #expect(settings.databaseURL?.value == "postgres://kauri:hunter2@db.internal:5432/kauri")
        #expect(!"\(settings.database)".contains("hunter2"))
        #expect(!String(reflecting: settings).contains("hunter2"))
    }
}
