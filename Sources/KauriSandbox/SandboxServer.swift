import Hummingbird
import Logging

/// A standalone HTTP server running every messaging simulator, for tests and local development.
///
/// ```swift
/// let sandbox = try await SandboxServer.start()
/// let sender = HubtelSmsSender(configuration: .init(..., baseURL: sandbox.baseURL), httpClient: client)
/// ...
/// await sandbox.shutdown()
/// ```
public struct SandboxServer: Sendable {
    /// The server's root, e.g. `http://127.0.0.1:52114`; every simulator's paths hang off it.
    public let baseURL: String
    /// The port the server listens on.
    public let port: Int
    /// What the simulators accepted.
    public let log: SandboxMessageLog
    /// Failures to inject.
    public let faults: SandboxFaults
    /// The credentials the simulators expect.
    public let credentials: SandboxCredentials

    /// How long `shutdown` lets open connections finish before cancelling them.
    public static let shutdownGracePeriod: Duration = .seconds(2)

    private let listener: Listener
    private let task: Task<Void, any Error>

    /// The server did not start listening.
    public struct StartError: Error, CustomStringConvertible {
        /// Why.
        public var description: String
    }

    /// Starts the server and returns once it listens.
    /// - Parameters:
    ///   - host: The address to bind; loopback by default.
    ///   - port: The port; 0 picks a free one.
    /// - Throws: `StartError` or the binding error when the server cannot listen.
    public static func start(
        credentials: SandboxCredentials = SandboxCredentials(),
        log: SandboxMessageLog = SandboxMessageLog(),
        faults: SandboxFaults = SandboxFaults(),
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger = Logger(label: "kauri.sandbox")
    ) async throws -> SandboxServer {
        let router = Router()
        addSmsSimulatorRoutes(to: router, log: log, faults: faults, credentials: credentials)
        addEmailSimulatorRoutes(to: router, log: log, faults: faults, credentials: credentials)
        let (listeners, continuation) = AsyncStream.makeStream(of: Listener.self)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "kauri-sandbox"),
            onServerRunning: { channel in
                continuation.yield(Listener(port: channel.localAddress?.port, close: { try? await channel.close() }))
                continuation.finish()
            },
            logger: logger)
        let task = Task {
            defer { continuation.finish() }
            try await app.run()
        }
        var iterator = listeners.makeAsyncIterator()
        guard let listener = await iterator.next() else {
            try await task.value
            throw StartError(description: "the sandbox server stopped before it listened")
        }
        guard let boundPort = listener.port else {
            await Self.stop(listener: listener, task: task)
            throw StartError(description: "the sandbox server listens on an address without a port")
        }
        return SandboxServer(
            baseURL: "http://\(host):\(boundPort)", port: boundPort, log: log, faults: faults,
            credentials: credentials, listener: listener, task: task)
    }

    private init(
        baseURL: String, port: Int, log: SandboxMessageLog, faults: SandboxFaults, credentials: SandboxCredentials,
        listener: Listener, task: Task<Void, any Error>
    ) {
        self.baseURL = baseURL
        self.port = port
        self.log = log
        self.faults = faults
        self.credentials = credentials
        self.listener = listener
        self.task = task
    }

    /// The listening socket: its port, and how to stop it accepting connections.
    private struct Listener: Sendable {
        var port: Int?
        var close: @Sendable () async -> Void
    }

    /// Stops the server and waits until it has: stops accepting connections, lets open ones finish for up to
    /// `shutdownGracePeriod`, then cancels what is left. Shut HTTP clients down first, so their idle
    /// keep-alive connections do not hold the server for the whole grace period.
    public func shutdown() async {
        await Self.stop(listener: self.listener, task: self.task)
    }

    /// Closing the listening channel first, rather than cancelling at once, lets the server hand every
    /// connection it already accepted to a handler; cancelling while a connection is being accepted can drop
    /// it half set up.
    private static func stop(listener: Listener, task: Task<Void, any Error>) async {
        await listener.close()
        let deadline = Task {
            try await Task.sleep(for: self.shutdownGracePeriod)
            task.cancel()
        }
        _ = await task.result
        deadline.cancel()
    }
}
