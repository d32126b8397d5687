import Foundation
import Hummingbird
import KauriDatabase
import KauriHTTP
import KauriServer
import NIOCore
import NIOPosix
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("Graceful shutdown")
struct ShutdownTests {
    static func freePort() async throws -> Int {
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = probe.localAddress!.port!
        try await probe.close()
        return port
    }

    @Test("a shutdown lets the in-flight request finish, then stops serving")
    func inFlightRequestFinishes() async throws {
        try await TestApp.withDataDirectory { directory in
            var settings = ServerSettings(port: try await Self.freePort(), dataDirectory: directory)
            settings.limits.shutdownGraceSeconds = 10
            let database = try await Server.openDatabase(settings, logger: TestApp.quietLogger)
            let app = buildApplication(
                AppDependencies(settings: settings, database: database, logger: TestApp.quietLogger)
            ) { api in
                api.on(.get, "/test/slow", OperationDoc("testSlow", summary: "slow", tag: "test", responses: [])) {
                    _, _ in
                    try await Task.sleep(for: .milliseconds(700))
                    return "done"
                }
            }
            let group = Server.makeServiceGroup(app, settings: settings, logger: TestApp.quietLogger)
            let running = Task { try await group.run() }
            let base = "http://127.0.0.1:\(settings.port)"
            var up = false
            for _ in 0..<100 where !up {
                up = (try? await URLSession.shared.data(from: URL(string: base + "/healthz")!)) != nil
                if !up { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(up)
            let slow = Task { try await URLSession.shared.data(from: URL(string: base + "/test/slow")!) }
            try await Task.sleep(for: .milliseconds(200))
            await group.triggerGracefulShutdown()
            let (body, response) = try await slow.value
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            #expect(String(decoding: body, as: UTF8.self) == "done")
            try await running.value
            await #expect(throws: (any Error).self) {
                _ = try await URLSession.shared.data(from: URL(string: base + "/healthz")!)
            }
            await database.shutdown()
        }
    }
}
