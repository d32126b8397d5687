import Foundation
import Hummingbird
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriMessaging
import KauriPayments
import KauriSandbox
import Logging
import ServiceLifecycle

/// Starting and stopping the server process: open and migrate the database, serve until SIGTERM/SIGINT,
/// let in-flight requests finish, close the pool.
public enum Server {
    /// Why the server could not start; the CLI prints the description as one line.
    public struct StartupError: Error, CustomStringConvertible {
        /// The line to print.
        public let description: String

        /// Creates the error from the line to print.
        public init(description: String) {
            self.description = description
        }
    }

    /// Opens the database the settings select: creates the data directory, checks the database answers, and
    /// applies pending migrations.
    public static func openDatabase(_ settings: ServerSettings, logger: Logger) async throws -> Database {
        do {
            try FileManager.default.createDirectory(
                atPath: settings.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw StartupError(description: "cannot create data directory \(settings.dataDirectory): \(error)")
        }
        let database: Database
        do {
            database = try Database(settings.database, logger: logger)
        } catch {
            throw StartupError(description: "\(error)")
        }
        do {
            try await database.ping(timeoutMilliseconds: 5_000)
            try await MigrationRunner(database: database, migrations: allMigrations, logger: logger).migrate()
        } catch {
            await database.shutdown()
            throw StartupError(
                description: "cannot use database \(settings.database.description): \(Self.oneLine(error))")
        }
        return database
    }

    /// Serves until a shutdown signal, then drains in-flight requests (bounded by the grace period) and
    /// closes the database pool.
    public static func serve(_ settings: ServerSettings, logger: Logger, accessLogger: Logger) async throws {
        try await Self.withDependencies(settings, logger: logger, accessLogger: accessLogger) {
            dependencies, sandbox in
            let paystackWebhookPath = "/v1/webhooks/paystack"
            let settings = dependencies.settings
            let app = buildApplication(
                dependencies,
                onListening: { [settings, sandbox] port in
                    // The simulated Paystack dashboard's webhook URL: this server.
                    sandbox?.payments.setPaystackWebhookURL(
                        (settings.payments.apiURL ?? "http://\(settings.host):\(port)") + paystackWebhookPath)
                })
            try await Self.makeServiceGroup(app, settings: settings, logger: logger).run()
        }
        logger.info("kauri stopped")
    }

    /// One settlement pass now (`kauri settle --now`): releases every escrow whose inspection window ended and
    /// creates the refunds resolved disputes and rated sessions still owe, and the automatic payouts released escrows
    /// still owe. Returns how many of each.
    public static func settleNow(_ settings: ServerSettings, logger: Logger) async throws -> (Int, Int, Int) {
        try await Self.withDependencies(settings, logger: logger, accessLogger: logger) { dependencies, _ in
            let escrows = dependencies.escrows
            var released = 0
            while true {
                let count = try await escrows.releaseDue()
                released += count
                if count < escrows.configuration.releaseBatchSize { break }
            }
            let refunds = try await escrows.createOwedRefunds()
            return (released, refunds, try await escrows.createOwedPayouts())
        }
    }

    /// Opens what the application runs on — the migrated database, the message senders, the gateways (and, in
    /// sandbox mode, the sandbox they talk to) — runs `body` with it, and closes it all afterwards.
    static func withDependencies<T: Sendable>(
        _ settings: ServerSettings, logger: Logger, accessLogger: Logger,
        _ body: (AppDependencies, SandboxServer?) async throws -> T
    ) async throws -> T {
        var settings = settings
        let database = try await Self.openDatabase(settings, logger: logger)
        let sms: (any SmsSender)?
        let email: (any EmailSender)?
        var sandbox: SandboxServer?
        let gateways: [any PaymentGateway]
        do {
            try Self.fillSandboxSecrets(&settings, logger: logger)
            sms = try MessagingProviders.sms(settings.messaging, logger: logger)
            email = try MessagingProviders.email(settings.messaging, logger: logger)
            if settings.mode == .sandbox {
                sandbox = try await SandboxServer.start(
                    port: settings.payments.sandboxPort, logger: Logger(label: "kauri.sandbox"))
                if let sandbox {
                    logger.info("gateway sandbox ready", metadata: ["url": .string(sandbox.baseURL)])
                }
            }
            gateways = try PaymentProviders.gateways(settings.payments, sandbox: sandbox, clock: SystemClock())
        } catch {
            await sandbox?.shutdown()
            await database.shutdown()
            throw error
        }
        let dependencies = AppDependencies(
            settings: settings, database: database, logger: logger, accessLogger: accessLogger, sms: sms,
            email: email, gateways: gateways)
        let result: T
        do {
            result = try await body(dependencies, sandbox)
        } catch {
            await sandbox?.shutdown()
            await database.shutdown()
            throw error
        }
        await sandbox?.shutdown()
        await database.shutdown()
        return result
    }

    /// In sandbox mode, keys that are not configured are generated once into the data directory; in live mode
    /// the signing key and server secret are required.
    static func fillSandboxSecrets(_ settings: inout ServerSettings, logger: Logger) throws {
        guard settings.mode == .sandbox else {
            if settings.adminAPIKey == nil { logger.warning("no KAURI_ADMIN_API_KEY: admin routes answer 401") }
            guard settings.jwtSigningKey != nil, settings.authSecret != nil else {
                throw StartupError(
                    description: "live mode needs KAURI_JWT_SIGNING_KEY and KAURI_AUTH_SECRET (`kauri keys` makes them)"
                )
            }
            if (settings.messaging.smsProvider ?? .devSink) == .devSink {
                throw StartupError(description: "live mode needs a real SMS provider (KAURI_SMS_PROVIDER)")
            }
            if (settings.messaging.emailProvider ?? .devSink) == .devSink {
                throw StartupError(description: "live mode needs a real email provider (KAURI_EMAIL_PROVIDER)")
            }
            return
        }
        if settings.adminAPIKey == nil {
            settings.adminAPIKey = try SandboxSecretFile.adminKey(path: settings.adminAPIKeyPath, logger: logger)
        }
        if settings.jwtSigningKey == nil {
            settings.jwtSigningKey = try SandboxSecretFile.signingKey(path: settings.jwtSigningKeyPath, logger: logger)
        }
        if settings.authSecret == nil {
            settings.authSecret = try SandboxSecretFile.authSecret(path: settings.authSecretPath, logger: logger)
        }
    }

    /// The service group that runs the application: SIGTERM and SIGINT start a graceful shutdown in which the
    /// server stops accepting connections and in-flight requests finish, for at most the grace period.
    public static func makeServiceGroup(
        _ app: some ApplicationProtocol, settings: ServerSettings, logger: Logger
    ) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(
                    service: app, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup)
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(settings.limits.shutdownGraceSeconds)
        configuration.maximumCancellationDuration = .seconds(5)
        return ServiceGroup(configuration: configuration)
    }

    /// Error text on one line, for the command line.
    static func oneLine(_ error: any Error) -> String {
        String(describing: error).replacingOccurrences(of: "\n", with: " ")
    }
}

/// Makes the process's loggers: JSON lines to standard output at the configured level.
public enum ProcessLoggers {
    /// The application logger and the access logger.
    public static func makeLoggers(level: Logger.Level) -> (app: Logger, access: Logger) {
        var app = Logger(label: "kauri") { JSONLogHandler(label: $0, level: level) }
        app.logLevel = level
        var access = Logger(label: "kauri.http") { JSONLogHandler(label: $0, level: level) }
        access.logLevel = level
        return (app, access)
    }
}
