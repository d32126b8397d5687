import AsyncHTTPClient
import Hummingbird
import KauriCore
import Logging

/// A standalone HTTP server running every messaging and payment simulator, for tests and local development.
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
    /// The payment simulators: what they accepted, and the callback settings.
    public let payments: SandboxPayments

    /// How long `shutdown` lets open connections finish before cancelling them.
    public static let shutdownGracePeriod: Duration = .seconds(2)

    private let listener: Listener
    private let task: Task<Void, any Error>
    /// Sends the payment simulators' callbacks; owned by the server and shut down with it.
    private let httpClient: HTTPClient

    /// The server did not start listening.
    public struct StartError: Error, CustomStringConvertible {
        /// Why.
        public var description: String
    }

    /// Starts the server and returns once it listens.
    /// - Parameters:
    ///   - host: The address to bind; loopback by default.
    ///   - port: The port; 0 picks a free one.
    ///   - callbackDelay: How long after accepting a payment operation its outcome happens and its callbacks go out.
    ///   - paystackWebhookURL: Where Paystack webhooks go; settable later with `payments.setPaystackWebhookURL`.
    ///   - clock: The payment simulators' clock (token expiry, timestamps, dates on the wire).
    /// - Throws: `StartError` or the binding error when the server cannot listen.
    public static func start(
        credentials: SandboxCredentials = SandboxCredentials(),
        log: SandboxMessageLog = SandboxMessageLog(),
        faults: SandboxFaults = SandboxFaults(),
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger = Logger(label: "kauri.sandbox"),
        callbackDelay: Duration = SandboxPayments.callbackDelayDefault,
        paystackWebhookURL: String? = nil,
        clock: any WallClock = SystemClock()
    ) async throws -> SandboxServer {
        let httpClient = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))
        let payments = SandboxPayments(
            credentials: credentials, faults: faults, httpClient: httpClient, clock: clock,
            callbackDelay: callbackDelay, paystackWebhookURL: paystackWebhookURL, logger: logger)
        let router = Router()
        addSmsSimulatorRoutes(to: router, log: log, faults: faults, credentials: credentials)
        addEmailSimulatorRoutes(to: router, log: log, faults: faults, credentials: credentials)
        payments.addRoutes(to: router)
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
            try? await httpClient.shutdown()
            try await task.value
            throw StartError(description: "the sandbox server stopped before it listened")
        }
        guard let boundPort = listener.port else {
            await Self.stop(listener: listener, task: task)
            try? await httpClient.shutdown()
            throw StartError(description: "the sandbox server listens on an address without a port")
        }
        let baseURL = "http://\(host):\(boundPort)"
        payments.setBaseURL(baseURL)
        return SandboxServer(
            baseURL: baseURL, port: boundPort, log: log, faults: faults, credentials: credentials,
            payments: payments, listener: listener, task: task, httpClient: httpClient)
    }

    private init(
        baseURL: String, port: Int, log: SandboxMessageLog, faults: SandboxFaults, credentials: SandboxCredentials,
        payments: SandboxPayments, listener: Listener, task: Task<Void, any Error>, httpClient: HTTPClient
    ) {
        self.baseURL = baseURL
        self.port = port
        self.log = log
        self.faults = faults
        self.credentials = credentials
        self.payments = payments
        self.listener = listener
        self.task = task
        self.httpClient = httpClient
    }

    /// The listening socket: its port, and how to stop it accepting connections.
    private struct Listener: Sendable {
        var port: Int?
        var close: @Sendable () async -> Void
    }

    /// Stops the server and waits until it has: cancels the payment outcomes and callbacks still scheduled, stops
    /// accepting connections, lets open ones finish for up to `shutdownGracePeriod`, cancels what is left, then shuts
    /// the callback client down. Shut HTTP clients down first, so their idle keep-alive connections do not hold the
    /// server for the whole grace period.
    public func shutdown() async {
        await self.payments.cancelScheduled()
        await Self.stop(listener: self.listener, task: self.task)
        do {
            try await self.httpClient.shutdown()
        } catch {
            // Shutting down twice is the only failure, and it leaves nothing to clean up.
        }
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
