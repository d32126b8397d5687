import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import KauriCore
import KauriDatabase
import KauriTestSupport
import KauriWebhooks
import Logging
import NIOCore
import NIOPosix
import SQLKit
import Synchronization
import Testing

/// One request the test receiver got.
struct ReceivedRequest: Sendable {
    /// The path it was POSTed to.
    let path: String
    /// Header names in lower case, with their values.
    let headers: [String: String]
    /// The raw body.
    let body: String
    /// When it arrived, on the monotonic clock.
    let arrivedAt: ContinuousClock.Instant

    var webhookID: String { self.headers["webhook-id"] ?? "" }
    var webhookTimestamp: Int64 { Int64(self.headers["webhook-timestamp"] ?? "") ?? -1 }
    var webhookSignature: String { self.headers["webhook-signature"] ?? "" }
}

/// How the receiver answers one request.
struct ScriptedReply: Sendable {
    var status: Int
    var headers: [String: String] = [:]
    var hangMilliseconds: Int = 0

    static let ok = ScriptedReply(status: 200)
}

/// A loopback HTTP receiver (a Hummingbird application on 127.0.0.1, port 0) that records every request and
/// answers from a per-path script (200 once the script runs out).
final class TestReceiver: Sendable {
    private struct State {
        var requests: [ReceivedRequest] = []
        var scripts: [String: [ScriptedReply]] = [:]
    }

    private let state = Mutex(State())
    let port: Int
    private let task: Task<Void, any Error>
    private let close: @Sendable () async -> Void

    private init(port: Int, task: Task<Void, any Error>, close: @escaping @Sendable () async -> Void) {
        self.port = port
        self.task = task
        self.close = close
    }

    /// The URL of one path on the receiver.
    func url(_ path: String) -> String { "http://127.0.0.1:\(self.port)\(path)" }

    /// Queues replies for a path, used in order.
    func script(_ path: String, _ replies: [ScriptedReply]) {
        self.state.withLock { $0.scripts[path, default: []] += replies }
    }

    /// Every request so far, in arrival order.
    var requests: [ReceivedRequest] { self.state.withLock { $0.requests } }

    /// The requests to one path.
    func requests(to path: String) -> [ReceivedRequest] { self.requests.filter { $0.path == path } }

    fileprivate func receive(_ request: ReceivedRequest) -> ScriptedReply {
        self.state.withLock { state in
            state.requests.append(request)
            guard var replies = state.scripts[request.path], !replies.isEmpty else { return .ok }
            let reply = replies.removeFirst()
            state.scripts[request.path] = replies
            return reply
        }
    }

    static func start() async throws -> TestReceiver {
        let holder = Mutex<TestReceiver?>(nil)
        let router = Router()
        router.post("/**") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1_048_576)
            var headers: [String: String] = [:]
            for field in request.headers {
                let name = field.name.canonicalName
                headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
            }
            let received = ReceivedRequest(
                path: request.uri.path, headers: headers, body: String(buffer: body), arrivedAt: .now)
            guard let receiver = holder.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            let reply = receiver.receive(received)
            if reply.hangMilliseconds > 0 { try await Task.sleep(for: .milliseconds(reply.hangMilliseconds)) }
            var fields = HTTPFields()
            for (name, value) in reply.headers { fields[HTTPField.Name(name)!] = value }
            return Response(status: .init(code: reply.status), headers: fields)
        }
        var logger = Logger(label: "webhook.receiver")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream.makeStream(of: (Int?, @Sendable () async -> Void).self)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                continuation.yield((channel.localAddress?.port, { try? await channel.close() }))
                continuation.finish()
            },
            logger: logger)
        let task = Task {
            defer { continuation.finish() }
            try await app.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let (port, close) = await iterator.next(), let port else {
            task.cancel()
            throw CancellationError()
        }
        let receiver = TestReceiver(port: port, task: task, close: close)
        holder.withLock { $0 = receiver }
        return receiver
    }

    /// Stops accepting and cancels whatever is still running (hung handlers included).
    func shutdown() async {
        await self.close()
        self.task.cancel()
        _ = await self.task.result
    }
}

/// A DNS stub whose answers the test sets and changes.
final class StubResolver: WebhookHostResolver {
    private let answers = Mutex<[String: [WebhookIPAddress]]>([:])

    init(_ answers: [String: [String]] = [:]) {
        for (host, addresses) in answers { self.set(host, addresses) }
    }

    /// Makes `host` resolve to `addresses`.
    func set(_ host: String, _ addresses: [String]) {
        self.answers.withLock { $0[host] = addresses.compactMap { WebhookIPAddress($0) } }
    }

    func resolve(host: String) async throws -> [WebhookIPAddress] {
        guard let answer = self.answers.withLock({ $0[host] }) else {
            throw SystemHostResolver.ResolutionError(description: "no stub answer for \(host)")
        }
        return answer
    }
}

/// The pieces of one delivery test: a migrated database, a receiver, an HTTP client that refuses redirects, a
/// manual clock that starts at the real time (the reference verifiers check the timestamp against it).
struct WebhookRig: Sendable {
    let database: Database
    let receiver: TestReceiver
    let httpClient: HTTPClient
    let clock: ManualClock
    let ids: IDGenerator
    let events: WebhookEvents

    static let logger: Logger = {
        var logger = Logger(label: "kauri.webhooks.tests")
        logger.logLevel = .critical
        return logger
    }()

    /// A service for this rig, allowed to reach the loopback receiver unless told otherwise.
    func service(
        _ configuration: WebhookDeliveryService.Configuration = .init(allowPrivateAddresses: true)
    )
        -> WebhookDeliveryService
    {
        WebhookDeliveryService(
            database: self.database, httpClient: self.httpClient, clock: self.clock, logger: Self.logger,
            configuration: configuration, events: self.events)
    }

    /// Registers an endpoint at a receiver path.
    func register(_ path: String, events: [String] = ["*"]) async throws -> (WebhookEndpoint, Secret<String>) {
        try await self.events.store.createEndpoint(url: self.receiver.url(path), eventTypes: events, description: nil)
    }

    /// Emits one event in its own committed transaction.
    @discardableResult
    func emit(_ type: String, _ data: [String: String]) async throws -> PrefixedID<WebhookMessageIDKind>? {
        let id = try await self.database.transaction { connection in
            try await self.events.emit(type: type, data: data, on: connection)
        }
        self.events.notifyCommitted()
        return id
    }

    /// The single delivery of a message.
    func delivery(_ messageID: PrefixedID<WebhookMessageIDKind>?) async throws -> WebhookDelivery {
        let messageID = try #require(messageID)
        let deliveries = try await self.events.store.deliveries(messageID: messageID)
        try #require(deliveries.count == 1)
        return deliveries[0]
    }

    /// Runs `body` once per engine with a fresh rig.
    static func with(_ body: @escaping @Sendable (WebhookRig) async throws -> Void) async throws {
        for kind in TestDatabases.kinds {
            try await TestDatabases.with(kind) { databases in
                try await MigrationRunner(
                    database: databases[0], migrations: WebhookMigrations.all, logger: TestDatabases.logger
                ).migrate()
                let receiver = try await TestReceiver.start()
                let httpClient = WebhookDeliveryService.makeHTTPClient()
                let clock = ManualClock(SystemClock().now())
                let ids = IDGenerator(clock: clock, random: SeededRandom(seed: 7))
                let rig = WebhookRig(
                    database: databases[0], receiver: receiver, httpClient: httpClient, clock: clock, ids: ids,
                    events: WebhookEvents(database: databases[0], ids: ids, clock: clock))
                do {
                    try await body(rig)
                } catch {
                    try? await httpClient.shutdown()
                    await receiver.shutdown()
                    throw error
                }
                try await httpClient.shutdown()
                await receiver.shutdown()
            }
        }
    }
}

/// Runs scripts/verify_standard_webhook.py: true when both `standardwebhooks` and `svix` accept the delivery.
enum ReferenceVerifier {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/verify_standard_webhook.py")

    /// Runs the script on NIO's thread pool: waiting for a subprocess blocks, and blocking the two threads of the
    /// Swift concurrency pool on this two-core machine would stall every other test running alongside.
    static func verify(_ request: ReceivedRequest, secret: String) async throws -> (accepted: Bool, output: String) {
        try await NIOThreadPool.singleton.runIfActive { try Self.verifyBlocking(request, secret: secret) }
    }

    private static func verifyBlocking(
        _ request: ReceivedRequest, secret: String
    ) throws -> (accepted: Bool, output: String) {
        let input: [String: Any] = ["secret": secret, "headers": request.headers, "body": request.body]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script.path]
        let stdin = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(try JSONSerialization.data(withJSONObject: input))
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0, output)
    }
}
