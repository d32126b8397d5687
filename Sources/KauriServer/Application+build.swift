import Foundation
import Hummingbird
import KauriCore
import KauriDatabase
import KauriEscrow
import KauriHTTP
import KauriIdentity
import KauriLedger
import KauriMessaging
import KauriPayments
import KauriWebhooks
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import SQLKit

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
    /// The transactional outbox for SMS and email.
    public var outbox: Outbox
    /// Delivers SMS.
    public var sms: any SmsSender
    /// Delivers email.
    public var email: any EmailSender
    /// Sign-in, sessions and profiles.
    public var identity: Identity
    /// How the outbox delivery service paces itself.
    public var outboxDelivery: OutboxDeliveryService.Configuration
    /// Payment intents, refunds, the webhook inbox and reconciliation.
    public var payments: Payments
    /// How often the payments worker reconciles.
    public var reconcileInterval: Duration
    /// The outbox of events for the operator's webhook endpoints.
    public var webhookEvents: WebhookEvents
    /// How outgoing webhooks are delivered (private addresses are allowed in sandbox mode).
    public var webhookDelivery: WebhookDeliveryService.Configuration
    /// Payment links and escrows.
    public var escrows: Escrows
    /// How often the settlement service looks for escrows to release.
    public var settlementInterval: Duration

    /// Collects the dependencies; the clock, ids and metrics default to real ones.
    public init(
        settings: ServerSettings,
        database: Database,
        logger: Logger,
        accessLogger: Logger? = nil,
        clock: any WallClock = SystemClock(),
        ids: IDGenerator? = nil,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        ledger: Ledger? = nil,
        identityKeys: IdentityKeys? = nil,
        identityConfiguration: IdentityConfiguration? = nil,
        bcryptCost: UInt8 = 12,
        sms: (any SmsSender)? = nil,
        email: (any EmailSender)? = nil,
        outboxDelivery: OutboxDeliveryService.Configuration = .init(),
        gateways: [any PaymentGateway] = [],
        paymentsConfiguration: ((inout Payments.Configuration) -> Void)? = nil,
        reconcileInterval: Duration = .seconds(5),
        webhookDelivery: WebhookDeliveryService.Configuration? = nil,
        escrowConfiguration: ((inout Escrows.Configuration) -> Void)? = nil,
        settlementInterval: Duration = .seconds(30)
    ) {
        self.settings = settings
        self.database = database
        self.logger = logger
        self.accessLogger = accessLogger ?? logger
        self.clock = clock
        self.ids = ids ?? IDGenerator(clock: clock)
        self.metrics = metrics
        self.ledger = ledger ?? Ledger(database: database, clock: clock, logger: logger)
        let keys = identityKeys ?? IdentityKeys(settings: settings) ?? .generate()
        self.outbox = Outbox(
            sealer: SecretBox(key: keys.authSecret.key(for: "kauri.messaging.outbox-body")), ids: self.ids,
            clock: clock)
        let sink = DevSink(database: database, ids: self.ids, clock: clock)
        self.sms = sms ?? sink
        self.email = email ?? sink
        self.outboxDelivery = outboxDelivery
        var configuration = identityConfiguration ?? IdentityConfiguration()
        if identityConfiguration == nil {
            configuration.publicURL = settings.publicURL
            configuration.bootstrapAdmins = settings.admins
        }
        self.identity = Identity(
            database: database, outbox: self.outbox, keys: keys,
            passwords: PasswordHasher(cost: bcryptCost, threadPool: PasswordHashingPool.shared), clock: clock,
            ids: self.ids, logger: logger, configuration: configuration)
        var payments = Payments.Configuration(
            publicURL: settings.payments.apiURL ?? "http://\(settings.host):\(settings.port)",
            callbackKey: keys.authSecret.key(for: "kauri.payments.callback-token"),
            paymentLifetimeMilliseconds: UInt64(settings.payments.paymentLifetimeMinutes) * 60_000)
        paymentsConfiguration?(&payments)
        self.webhookEvents = WebhookEvents(database: database, ids: self.ids, clock: clock)
        self.webhookDelivery =
            webhookDelivery ?? WebhookDeliveryService.Configuration(allowPrivateAddresses: settings.mode == .sandbox)
        var escrow = Escrows.Configuration(
            fees: EscrowFees(basisPoints: settings.escrow.feeBasisPoints, fixed: settings.escrow.feeFixed),
            inspectionWindowMilliseconds: UInt64(settings.escrow.inspectionHours) * 3_600_000)
        escrow.risk = settings.escrow.riskRules
        escrow.sessionHoldMilliseconds = UInt64(settings.escrow.sessionHoldHours) * 3_600_000
        escrow.sessionShares = settings.escrow.sessionShares
        escrow.automaticPayouts = settings.escrow.automaticPayouts
        escrowConfiguration?(&escrow)
        let transitions = EscrowTransitions(
            database: database, ledger: self.ledger, outbox: self.outbox, logger: logger,
            inspectionWindowMilliseconds: escrow.inspectionWindowMilliseconds,
            sessionHoldMilliseconds: escrow.sessionHoldMilliseconds,
            events: WebhookEscrowEvents(events: self.webhookEvents), automaticPayouts: escrow.automaticPayouts)
        self.payments = Payments(
            database: database, ledger: self.ledger, gateways: PaymentGateways(gateways),
            publisher: PaymentEventPublishers([
                EscrowPaymentEvents(transitions: transitions, clock: clock, logger: logger),
                WebhookEventPublisher(events: self.webhookEvents),
            ]), clock: clock, ids: self.ids, logger: logger, configuration: payments)
        self.reconcileInterval = reconcileInterval
        self.escrows = Escrows(
            database: database, ledger: self.ledger, outbox: self.outbox, payments: self.payments,
            parties: IdentityEscrowParties(identity: self.identity), transitions: transitions, clock: clock,
            ids: self.ids, logger: logger, configuration: escrow)
        self.settlementInterval = settlementInterval
    }
}

extension IdentityKeys {
    /// The keys the settings name, or nil when either is missing.
    init?(settings: ServerSettings) {
        guard let seed = settings.jwtSigningKey?.value, let secret = settings.authSecret?.value,
            let signingKey = try? SigningKey(base64Seed: seed), let authSecret = try? AuthSecret(base64: secret)
        else { return nil }
        self.init(
            signingKey: signingKey,
            verificationKeys: settings.jwtVerificationKeys.compactMap { try? SigningKey(base64Seed: $0.value) },
            authSecret: authSecret)
    }
}

extension SecretBox: MessageSealer {}

/// Payment and refund events go to the operator's webhook endpoints through the outgoing webhook outbox.
struct WebhookEventPublisher: PaymentEventPublisher {
    let events: WebhookEvents

    func publish(type: String, data: PaymentEventData, on connection: any SQLDatabase) async throws {
        try await self.events.emit(type: type, data: data, on: connection)
    }

    func notifyCommitted() {
        self.events.notifyCommitted()
    }
}

/// Escrow and dispute events go to the operator's webhook endpoints through the outgoing webhook outbox.
struct WebhookEscrowEvents: EscrowEventSink {
    let events: WebhookEvents

    func publish(type: String, data: [EscrowEventData], on connection: any SQLDatabase) async throws {
        try await self.events.emit(type: type, each: data, on: connection)
    }

    func notifyCommitted() {
        self.events.notifyCommitted()
    }
}

/// Per currency, an owner's money across modules: available in the payable, held in escrow, in transit out.
func balanceSummaries(of owner: String, _ dependencies: AppDependencies) async throws -> [BalanceSummary] {
    let held = try await dependencies.escrows.heldAmounts(sellerReference: owner)
    let inTransit = try await dependencies.payments.payoutsInTransit(ownerReference: owner)
    var available: [Currency: Int64] = [:]
    for account in try await dependencies.ledger.accounts(ownerReference: owner) where account.code == .sellerPayable {
        let balances = account.balances
        available[account.currency] = balances.creditsPosted - balances.debitsPosted - balances.debitsPending
    }
    let currencies = Set(held.keys).union(inTransit.keys).union(available.keys).sorted { $0.code < $1.code }
    return currencies.map { currency in
        BalanceSummary(
            currency: currency.code, available: available[currency] ?? 0, held: held[currency] ?? 0,
            inTransit: inTransit[currency] ?? 0)
    }
}

/// Several publishers, each told in turn inside the payment's transaction.
struct PaymentEventPublishers: PaymentEventPublisher {
    let publishers: [any PaymentEventPublisher]

    init(_ publishers: [any PaymentEventPublisher]) {
        self.publishers = publishers
    }

    func publish(type: String, data: PaymentEventData, on connection: any SQLDatabase) async throws {
        for publisher in self.publishers {
            try await publisher.publish(type: type, data: data, on: connection)
        }
    }

    func notifyCommitted() {
        for publisher in self.publishers { publisher.notifyCommitted() }
    }
}

/// The escrow module learns a party's phone from the identity module.
struct IdentityEscrowParties: EscrowParties {
    let identity: Identity

    func phone(of ownerReference: String) async throws -> PhoneNumber? {
        guard let id = UserID(ownerReference), let text = try await self.identity.user(id)?.phone else { return nil }
        return try? PhoneNumber(parsing: text)
    }
}

/// The HTTP client outgoing webhooks are sent with: redirects refused, for the life of the process (like
/// `HTTPClient.shared`, it is never shut down).
enum WebhookHTTPClient {
    static let shared = WebhookDeliveryService.makeHTTPClient()
}

/// The threads bcrypt runs on: one fewer than the cores (at least one), so sign-ins in progress never take every
/// core from the event loops.
enum PasswordHashingPool {
    static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: max(1, System.coreCount - 1))
        pool.start()
        return pool
    }()
}

/// The migrations of every module, in dependency order. Modules append theirs as they arrive.
public let allMigrations: [Migration] =
    PlatformMigrations.all + LedgerMigrations.all + MessagingMigrations.all + IdentityMigrations.all
    + IdempotencyMigrations.all + WebhookMigrations.all + PaymentMigrations.all + EscrowMigrations.all

/// The Kauri version reported by the OpenAPI document and the CLI.
public let kauriVersion = "0.1.0"

/// Builds the HTTP application: the platform middleware, every module's routes, and the OpenAPI document.
///
/// This is the composition root: the only place that wires concrete implementations together.
/// - Parameters:
///   - configureRoutes: Adds extra routes after the built-in ones (tests use it).
///   - onListening: Told the port once the server listens (benchmarks and tests bind port 0).
public func buildApplication(
    _ dependencies: AppDependencies,
    configureRoutes: (DocumentedRouter) -> Void = { _ in },
    onListening: @escaping @Sendable (Int) async -> Void = { _ in }
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
    if let limit = settings.rateLimit {
        router.add(
            middleware: RateLimitMiddleware(limiter: TokenBucketLimiter(limit: limit, clock: dependencies.clock)))
    }
    if let limit = settings.authRateLimit {
        router.add(
            middleware: RateLimitMiddleware(
                limiter: TokenBucketLimiter(limit: limit, clock: dependencies.clock), pathPrefixes: ["/v1/auth/"]))
    }
    router.add(middleware: AdminKeyAuthenticator(key: settings.adminAPIKey?.value))
    router.add(middleware: AccessTokenAuthenticator(identity: dependencies.identity))
    let idempotencyRetention = Duration.seconds(settings.payments.idempotencyRetentionHours * 3_600)
    router.add(
        middleware: IdempotencyMiddleware(
            database: dependencies.database, clock: dependencies.clock,
            configuration: .init(
                requiredPaths: PaymentRoutes.idempotentPaths, retention: idempotencyRetention,
                leaseDuration: .seconds(settings.payments.idempotencyLeaseSeconds))))

    let openAPI = OpenAPIHolder()
    PlatformRoutes(
        database: dependencies.database, metrics: dependencies.metrics,
        readinessTimeoutMilliseconds: settings.limits.readinessTimeoutMilliseconds, openAPI: openAPI
    ).addRoutes(to: api)
    LedgerRoutes(
        ledger: dependencies.ledger, limits: settings.limits,
        summaries: { owner in try await balanceSummaries(of: owner, dependencies) }
    ).addRoutes(to: api)
    IdentityRoutes(identity: dependencies.identity, clock: dependencies.clock).addRoutes(to: api)
    PaymentRoutes(payments: dependencies.payments, limits: settings.limits).addRoutes(to: api)
    PayoutRoutes(payments: dependencies.payments, limits: settings.limits).addRoutes(to: api)
    EscrowPages(escrows: dependencies.escrows, clock: dependencies.clock).addRoutes(to: api)
    EscrowRoutes(
        escrows: dependencies.escrows, clock: dependencies.clock, limits: settings.limits,
        publicURL: { dependencies.payments.publicBaseURL }
    ).addRoutes(to: api)
    WebhookEndpointRoutes(
        events: dependencies.webhookEvents,
        urlGuard: WebhookURLGuard(
            resolver: dependencies.webhookDelivery.resolver,
            allowPrivateAddresses: dependencies.webhookDelivery.allowPrivateAddresses),
        limits: settings.limits
    ).addRoutes(to: api)
    if settings.mode == .sandbox {
        DevMessagesRoutes(database: dependencies.database, limits: settings.limits).addRoutes(to: api)
    }
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
        services: [
            PendingExpiryService(ledger: dependencies.ledger, logger: dependencies.logger),
            OutboxDeliveryService(
                outbox: dependencies.outbox, database: dependencies.database, sms: dependencies.sms,
                email: dependencies.email, clock: dependencies.clock, logger: dependencies.logger,
                configuration: dependencies.outboxDelivery),
            PaymentsWorker(payments: dependencies.payments, reconcileInterval: dependencies.reconcileInterval),
            EscrowSettlementService(escrows: dependencies.escrows, interval: dependencies.settlementInterval),
            IdempotencyPurgeService(
                database: dependencies.database, clock: dependencies.clock, retention: idempotencyRetention,
                logger: dependencies.logger),
            WebhookDeliveryService(
                database: dependencies.database, httpClient: WebhookHTTPClient.shared, clock: dependencies.clock,
                logger: dependencies.logger, configuration: dependencies.webhookDelivery,
                events: dependencies.webhookEvents),
        ],
        onServerRunning: { channel in
            let address = channel.localAddress
            let port = address?.port ?? settings.port
            if settings.payments.apiURL == nil {
                dependencies.payments.setPublicURL("http://\(settings.host):\(port)")
            }
            await onListening(port)
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
