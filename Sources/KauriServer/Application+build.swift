import Foundation
import Hummingbird
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriLedger
import Logging
import Metrics
import Prometheus

/// What the application is built from: its settings and the effects it uses, passed in so tests control them.
public struct AppDependencies: Sendable {
    /// The validated settings.
    public var settings: ServerSettings
    /// The open database (migrated).
    public var database: Database
    /// The application logger.
    public var logger: Logger
    /// The logger access-log lines go to.
    public var accessLogger: Logger
    /// The wall clock.
    public var clock: any WallClock
    /// The id generator.
    public var ids: IDGenerator
    /// Where metrics are kept and rendered from.
    public var metrics: PrometheusCollectorRegistry
    /// The ledger, over `database`.
    public var ledger: Ledger

    /// Collects the dependencies; the clock, ids and metrics default to real ones.
    public init(
        settings: ServerSettings,
        database: Database,
        logger: Logger,
        accessLogger: Logger? = nil,
        clock: any WallClock = SystemClock(),
        ids: IDGenerator? = nil,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        ledger: Ledger? = nil
    ) {
        self.settings = settings
        self.database = database
        self.logger = logger
        self.accessLogger = accessLogger ?? logger
        self.clock = clock
        self.ids = ids ?? IDGenerator(clock: clock)
        self.metrics = metrics
        self.ledger = ledger ?? Ledger(database: database, clock: clock, logger: logger)
    }
}

/// The migrations of every module, in dependency order. Modules append theirs as they arrive.
public let allMigrations: [Migration] = PlatformMigrations.all + LedgerMigrations.all

/// The Kauri version reported by the OpenAPI document and the CLI.
public let kauriVersion = "0.1.0"

/// Builds the HTTP application: the platform middleware, every module's routes, and the OpenAPI document.
///
/// This is the composition root: the only place that wires concrete implementations together.
/// - Parameter configureRoutes: Adds extra routes after the built-in ones (tests use it).
public func buildApplication(
    _ dependencies: AppDependencies,
    configureRoutes: (DocumentedRouter) -> Void = { _ in }
) -> some ApplicationProtocol {
    let settings = dependencies.settings
    let router = Router(context: AppRequestContext.self)
    let registry = RouteRegistry()
    let api = DocumentedRouter(router: router, registry: registry)
    let metricsFactory = PrometheusMetricsFactory(registry: dependencies.metrics)

    router.add(
        middleware: PlatformMiddleware(
            configuration: PlatformConfiguration(
                limits: settings.limits, corsAllowedOrigins: settings.corsAllowedOrigins,
                accessLog: settings.accessLog),
            registry: registry,
            ids: dependencies.ids,
            accessLogger: dependencies.accessLogger,
            metricsFactory: metricsFactory))
    router.add(middleware: AdminKeyAuthenticator(key: settings.adminAPIKey?.value))

    let openAPI = OpenAPIHolder()
    PlatformRoutes(
        database: dependencies.database, metrics: dependencies.metrics,
        readinessTimeoutMilliseconds: settings.limits.readinessTimeoutMilliseconds, openAPI: openAPI
    ).addRoutes(to: api)
    LedgerRoutes(ledger: dependencies.ledger, limits: settings.limits).addRoutes(to: api)
    configureRoutes(api)

    do {
        openAPI.set(Array(try OpenAPIDocument.render(registry: registry, title: "Kauri API", version: kauriVersion)))
    } catch {
        preconditionFailure("the OpenAPI document must encode: \(error)")
    }

    return Application(
        router: router,
        configuration: ApplicationConfiguration(
            address: .hostname(settings.host, port: settings.port),
            serverName: nil),
        services: [PendingExpiryService(ledger: dependencies.ledger, logger: dependencies.logger)],
        onServerRunning: { channel in
            let address = channel.localAddress
            let port = address?.port ?? settings.port
            dependencies.logger.info(
                "kauri ready",
                metadata: [
                    "url": .string("http://\(settings.host):\(port)"),
                    "database": .string(dependencies.database.configuration.description),
                    "mode": .string(settings.mode.rawValue),
                ])
        },
        logger: dependencies.logger)
}
