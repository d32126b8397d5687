// Identity benchmark: the real application (KauriServer's buildApplication) served on loopback in this process,
// driven over HTTP by `--connections` concurrent clients (AsyncHTTPClient), on a fresh SQLite file or PostgreSQL
// schema. Sign-in codes are captured from the SMS sender in memory, so no sandbox round trip is measured.
//
// Scenarios:
//   verify   POST /v1/auth/otp/verify: each request signs in with a fresh code (prepared before measuring).
//   refresh  POST /v1/auth/refresh: each client rotates its own session's refresh token again and again.
//   bcrypt   Bcrypt.hash at cost 12 on one thread: hashes per second per core (no server).
//
// Prints one JSON object: requests per second, p50/p99/max latency in microseconds, errors.
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import Hummingbird
import HummingbirdBcrypt
import KauriCore
import KauriDatabase
import KauriIdentity
import KauriMessaging
import KauriServer
import Logging
import NIOCore
import SQLKit
import Synchronization

@main
struct KauriIdentityBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kauri-identity-bench", abstract: "Sign-in and token refresh throughput over HTTP; bcrypt cost.")

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case verify, refresh, bcrypt
    }

    enum Engine: String, ExpressibleByArgument {
        case sqlite, postgres
    }

    @Option(help: "sqlite or postgres (postgres reads POSTGRES_URL).")
    var database: Engine = .sqlite

    @Option(help: "verify, refresh or bcrypt.")
    var scenario: Scenario = .refresh

    @Option(help: "Concurrent HTTP connections.")
    var connections = 64

    @Option(help: "Seconds to measure (after a 1 s warm-up).")
    var duration = 10.0

    @Option(help: "verify: sign-in codes to prepare (each request uses one).")
    var codes = 20_000

    func run() async throws {
        if self.scenario == .bcrypt {
            return try self.bcrypt()
        }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let (database, cleanup) = try await self.openDatabase(logger: logger)
        try await MigrationRunner(database: database, migrations: allMigrations, logger: logger).migrate()
        let sms = CapturingSms()
        var settings = ServerSettings(port: 0, accessLog: false)
        settings.rateLimit = nil
        settings.authRateLimit = nil
        var configuration = IdentityConfiguration()
        configuration.codesPerClientPerHour = Int.max / 2
        let dependencies = AppDependencies(
            settings: settings, database: database, logger: logger, identityConfiguration: configuration, sms: sms,
            outboxDelivery: .init(pollMilliseconds: 50, batchSize: 200))
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = buildApplication(dependencies, onListening: { portContinuation.yield($0) })
        let server = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("the server did not start") }
        let base = "http://127.0.0.1:\(port)"

        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: self.connections)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

        let identity = dependencies.identity
        let work: Work
        switch self.scenario {
        case .verify:
            work = try await Self.prepareCodes(self.codes, identity: identity, sms: sms)
        case .refresh:
            work = try await Self.prepareSessions(self.connections, identity: identity, sms: sms)
        case .bcrypt:
            fatalError("handled above")
        }

        let shared = Shared()
        let clock = ContinuousClock()
        let scenario = self.scenario
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<self.connections {
                group.addTask {
                    var refreshToken = work.refreshTokens.isEmpty ? "" : work.refreshTokens[worker]
                    while !shared.stop.load(ordering: .relaxed) {
                        let body: String
                        switch scenario {
                        case .verify:
                            let index = shared.next.add(1, ordering: .relaxed).oldValue
                            guard index < work.codes.count else { return }
                            let (phone, code) = work.codes[index]
                            body = #"{"phone":"\#(phone)","code":"\#(code)"}"#
                        default:
                            body = #"{"refresh_token":"\#(refreshToken)"}"#
                        }
                        var request = HTTPClientRequest(
                            url: base + (scenario == .verify ? "/v1/auth/otp/verify" : "/v1/auth/refresh"))
                        request.method = .POST
                        request.headers.add(name: "content-type", value: "application/json")
                        request.body = .bytes(ByteBuffer(string: body))
                        let begin = clock.now
                        let response = try await http.execute(request, timeout: .seconds(30))
                        let data = try await response.body.collect(upTo: 1 << 20)
                        let elapsed = clock.now - begin
                        guard response.status == .ok else {
                            shared.errors.add(1, ordering: .relaxed)
                            if scenario == .refresh { return }
                            continue
                        }
                        if scenario == .refresh {
                            let object = try JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any]
                            refreshToken = object?["refresh_token"] as? String ?? ""
                        }
                        if shared.recording.load(ordering: .relaxed) {
                            let micros =
                                elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds
                                / 1_000_000_000_000
                            shared.sink.withLock { _ = $0.record(UInt64(max(1, micros))) }
                            shared.counter.add(1, ordering: .relaxed)
                        }
                    }
                }
            }
            try await Task.sleep(for: .seconds(1))
            shared.recording.store(true, ordering: .relaxed)
            let start = clock.now
            try await Task.sleep(for: .seconds(self.duration))
            shared.recording.store(false, ordering: .relaxed)
            shared.elapsed.withLock { $0 = clock.now - start }
            shared.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let elapsed = shared.elapsed.withLock { $0 }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let histogram = shared.sink.withLock { $0 }
        let count = shared.counter.load(ordering: .relaxed)
        Self.print([
            "database": self.database.rawValue, "scenario": scenario.rawValue, "connections": self.connections,
            "requests": count, "per_second": Int(Double(count) / max(seconds, 0.001)),
            "p50_us": histogram.valueAtPercentile(50), "p99_us": histogram.valueAtPercentile(99),
            "max_us": histogram.max, "errors": shared.errors.load(ordering: .relaxed),
            "codes_left": max(0, work.codes.count - shared.next.load(ordering: .relaxed)),
        ])
        try await http.shutdown()
        server.cancel()
        await cleanup()
    }

    /// Hashes at cost 12 on this thread for `duration` seconds.
    func bcrypt() throws {
        let clock = ContinuousClock()
        let start = clock.now
        var hashes = 0
        var hash = ""
        while clock.now - start < .seconds(self.duration) {
            hash = Bcrypt.hash("correct horse battery \(hashes)", cost: 12)
            hashes += 1
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let verifyStart = clock.now
        _ = Bcrypt.verify("correct horse battery \(hashes - 1)", hash: hash)
        let verify = clock.now - verifyStart
        Self.print([
            "scenario": "bcrypt", "cost": 12, "hashes": hashes, "per_second_per_core": Double(hashes) / seconds,
            "ms_per_hash": seconds * 1_000 / Double(hashes),
            "verify_ms": Double(verify.components.attoseconds) / 1e15 + Double(verify.components.seconds) * 1_000,
        ])
    }

    static func print(_ object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        Swift.print(String(decoding: data, as: UTF8.self))
    }

    /// What the clients use: codes for `verify`, one refresh token per client for `refresh`.
    struct Work: Sendable {
        var codes: [(String, String)] = []
        var refreshTokens: [String] = []
    }

    /// Sends `count` sign-in codes to distinct phones through the service and waits for the captured SMS.
    static func prepareCodes(_ count: Int, identity: Identity, sms: CapturingSms) async throws -> Work {
        let phones = (0..<count).map { "+23324\(String(format: "%07d", $0))" }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for slice in stride(from: 0, to: count, by: max(1, count / 16)) {
                let chunk = phones[slice..<min(slice + max(1, count / 16), count)]
                group.addTask {
                    for phone in chunk {
                        _ = try await identity.requestSignInCode(
                            phone: try PhoneNumber(parsing: phone), client: ClientInfo(address: nil, userAgent: nil))
                    }
                }
            }
            try await group.waitForAll()
        }
        let codes = try await sms.waitForCodes(phones)
        return Work(codes: Array(zip(phones, codes)))
    }

    /// Signs `count` users in by code; returns their refresh tokens.
    static func prepareSessions(_ count: Int, identity: Identity, sms: CapturingSms) async throws -> Work {
        var work = try await Self.prepareCodes(count, identity: identity, sms: sms)
        for (phone, code) in work.codes {
            let signIn = try await identity.signInWithCode(
                phone: try PhoneNumber(parsing: phone), code: code, secondFactor: nil,
                client: ClientInfo(address: nil, userAgent: nil))
            work.refreshTokens.append(signIn.refreshToken)
        }
        work.codes = []
        return work
    }

    func openDatabase(logger: Logger) async throws -> (Database, @Sendable () async -> Void) {
        switch self.database {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kauri-bench-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let database = try Database(
                .sqlite(path: directory.appendingPathComponent("kauri.sqlite").path, poolSize: 8), logger: logger)
            return (
                database,
                {
                    await database.shutdown()
                    try? FileManager.default.removeItem(at: directory)
                }
            )
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["POSTGRES_URL"] else {
                throw ValidationError("set POSTGRES_URL to benchmark PostgreSQL")
            }
            let schema = "bench_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let admin = try Database(.postgres(url: Secret(url), poolSize: 1), logger: logger)
            try await admin.withConnection { try await $0.raw("CREATE SCHEMA \(unsafeRaw: schema)").run() }
            let database = try Database(
                .postgres(url: Secret(url), poolSize: 16, searchPath: [schema]), logger: logger)
            return (
                database,
                {
                    await database.shutdown()
                    try? await admin.withConnection {
                        try await $0.raw("DROP SCHEMA \(unsafeRaw: schema) CASCADE").run()
                    }
                    await admin.shutdown()
                }
            )
        }
    }
}

/// An SMS "provider" that keeps each phone's latest code in memory.
final class CapturingSms: SmsSender, Sendable {
    var providerName: String { "bench" }
    private let latest = Mutex<[String: String]>([:])

    func send(_ message: SmsMessage) async throws -> DeliveryReceipt {
        if let code = message.body.firstMatch(of: /\d{6}/) {
            self.latest.withLock { $0[message.to] = String(code.output) }
        }
        return DeliveryReceipt(provider: "bench", providerMessageID: nil)
    }

    /// The codes of `phones`, once all arrived.
    func waitForCodes(_ phones: [String]) async throws -> [String] {
        while true {
            let codes = self.latest.withLock { latest in phones.compactMap { latest[$0] } }
            if codes.count == phones.count { return codes }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Counters the clients share.
final class Shared: Sendable {
    let counter = Atomic<Int>(0)
    let next = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let recording = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let elapsed = Mutex<Duration>(.zero)
    let sink = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))
}
