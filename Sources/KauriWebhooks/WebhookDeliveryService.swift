import AsyncHTTPClient
import KauriCore
import KauriDatabase
import Logging
import NIOCore
import NIOPosix
import SQLKit
import ServiceLifecycle
import Synchronization

/// Delivers webhook deliveries: claims due rows under a lease, POSTs each, signed, to its endpoint, and records
/// the outcome — delivered (2xx), retried on the schedule (honouring `Retry-After`), failed once the schedule
/// runs out, or the endpoint disabled (410 Gone).
///
/// Attempts run concurrently, at most `concurrencyMax` in all and `concurrencyPerEndpointMax` per endpoint, each
/// under `requestTimeoutMilliseconds`, and the claim skips endpoints already at their cap: one slow or hung
/// endpoint never holds up the others. Safe with several instances on one PostgreSQL: claims use
/// `FOR UPDATE SKIP LOCKED` and a lease, so two workers never hold the same delivery at once; a worker that dies
/// mid-attempt leaves a lease that runs out, and the delivery is tried again with the same `webhook-id`.
public struct WebhookDeliveryService: Service {
    /// How delivery paces and protects itself.
    public struct Configuration: Sendable {
        /// The attempt schedule (Standard Webhooks' by default).
        public var schedule: WebhookRetrySchedule
        /// How long one attempt may take, from connecting to the end of the response.
        public var requestTimeoutMilliseconds: UInt64
        /// Most attempts in flight at once.
        public var concurrencyMax: Int
        /// Most attempts in flight to one endpoint at once.
        public var concurrencyPerEndpointMax: Int
        /// Most deliveries claimed in one pass.
        public var batchSize: Int
        /// How long a claim reserves a delivery; longer than the request timeout, so a live attempt keeps it.
        public var leaseMilliseconds: UInt64
        /// How often to look for due deliveries when nothing woke the service.
        public var pollMilliseconds: Int
        /// The longest `Retry-After` honoured; a receiver asking for more waits this long.
        public var retryAfterMaxMilliseconds: UInt64
        /// Whether endpoints may resolve to loopback and private addresses (the sandbox and tests only).
        public var allowPrivateAddresses: Bool
        /// The DNS resolver the SSRF guard uses before every attempt.
        public var resolver: any WebhookHostResolver
        /// The randomness of the jitter (seed it in tests that must repeat).
        public var random: any RandomNumberGenerator & Sendable

        /// The defaults: the standard schedule ±10%, 15 s per request, 16 attempts at once and 4 per endpoint,
        /// 32 per pass, a 60 s lease, a 1 s poll, `Retry-After` up to 24 h, public addresses only.
        public init(
            schedule: WebhookRetrySchedule = .standard,
            requestTimeoutMilliseconds: UInt64 = 15_000,
            concurrencyMax: Int = 16,
            concurrencyPerEndpointMax: Int = 4,
            batchSize: Int = 32,
            leaseMilliseconds: UInt64 = 60_000,
            pollMilliseconds: Int = 1_000,
            retryAfterMaxMilliseconds: UInt64 = 86_400_000,
            allowPrivateAddresses: Bool = false,
            resolver: any WebhookHostResolver = SystemHostResolver(),
            random: any RandomNumberGenerator & Sendable = SystemRandom()
        ) {
            precondition(concurrencyMax >= 1 && concurrencyPerEndpointMax >= 1 && batchSize >= 1)
            precondition(leaseMilliseconds > requestTimeoutMilliseconds, "the lease must outlast an attempt")
            self.schedule = schedule
            self.requestTimeoutMilliseconds = requestTimeoutMilliseconds
            self.concurrencyMax = concurrencyMax
            self.concurrencyPerEndpointMax = concurrencyPerEndpointMax
            self.batchSize = batchSize
            self.leaseMilliseconds = leaseMilliseconds
            self.pollMilliseconds = pollMilliseconds
            self.retryAfterMaxMilliseconds = retryAfterMaxMilliseconds
            self.allowPrivateAddresses = allowPrivateAddresses
            self.resolver = resolver
            self.random = random
        }
    }

    /// How many due rows a claim looks at per free slot, so rows of endpoints at their cap do not hide others.
    static let claimScanFactor = 4
    /// The statuses after which a receiver's `Retry-After` is honoured.
    static let throttlingStatuses: Set<Int> = [429, 502, 503, 504]

    let database: Database
    let httpClient: HTTPClient
    let clock: any WallClock
    let logger: Logger
    let configuration: Configuration
    let events: WebhookEvents
    let urlGuard: WebhookURLGuard
    let inFlight = InFlight()
    let jitter: Jitter

    /// A service delivering the deliveries `events` writes to `database`, through `httpClient`.
    ///
    /// `httpClient` must not follow redirects (a 3xx is a failure, and following one would bypass the SSRF
    /// guard): make it with `WebhookDeliveryService.makeHTTPClient()`. `events.notifyCommitted()` wakes the
    /// service at once instead of at the next poll.
    public init(
        database: Database, httpClient: HTTPClient, clock: any WallClock, logger: Logger,
        configuration: Configuration = .init(), events: WebhookEvents
    ) {
        self.database = database
        self.httpClient = httpClient
        self.clock = clock
        self.logger = logger
        self.configuration = configuration
        self.events = events
        self.urlGuard = WebhookURLGuard(
            resolver: configuration.resolver, allowPrivateAddresses: configuration.allowPrivateAddresses)
        self.jitter = Jitter(configuration.random)
    }

    /// An HTTP client fit for webhooks: redirects refused, 5 s to connect, 15 s between reads, no decompression.
    /// Shut it down after the service stops.
    public static func makeHTTPClient(
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(5), read: .seconds(15))
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: eventLoopGroup, configuration: configuration)
    }

    /// Delivers until graceful shutdown: claims whatever is due and fits the concurrency limits, starts those
    /// attempts without waiting for them, and sleeps until woken (an emit, a finished attempt) or the poll.
    /// On shutdown it stops claiming and lets the attempts in flight finish (each within its timeout).
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                var started = 0
                do {
                    let claims = try await self.claim()
                    for claim in claims {
                        group.addTask { await self.attempt(claim) }
                    }
                    started = claims.count
                } catch {
                    self.logger.warning("webhook claim failed", metadata: ["error": "\(error)"])
                }
                if started == 0 {
                    await self.events.wake.wait(milliseconds: self.configuration.pollMilliseconds)
                }
            }
        }
    }

    /// One pass, for tests and tools: claims what is due (within the limits) and waits for those attempts.
    /// Returns how many it attempted. Do not call it while `run()` is running.
    @discardableResult
    public func deliverDue() async throws -> Int {
        let claims = try await self.claim()
        await withDiscardingTaskGroup { group in
            for claim in claims {
                group.addTask { await self.attempt(claim) }
            }
        }
        return claims.count
    }
}

extension WebhookDeliveryService {
    /// A claimed delivery and what is needed to send it.
    struct Claim: Sendable {
        let delivery: WebhookDelivery
        let endpoint: EndpointSigning?
    }

    /// An endpoint's URL, state and secrets, read at claim time.
    struct EndpointSigning: Sendable {
        let url: String
        let state: WebhookEndpoint.State
        let secret: Secret<String>
        let previousSecret: Secret<String>?
        let previousSecretExpiresAt: Timestamp?
    }

    /// Claims due deliveries: locks candidates (`SKIP LOCKED` on PostgreSQL), keeps as many as the free slots
    /// allow per endpoint and in all, and leases them, counting the attempt, in one transaction.
    func claim() async throws -> [Claim] {
        let now = Int64(self.clock.now().unixMilliseconds)
        let leaseUntil = now + Int64(self.configuration.leaseMilliseconds)
        let perEndpointMax = self.configuration.concurrencyPerEndpointMax
        let (counts, total) = self.inFlight.snapshot()
        let take = min(self.configuration.batchSize, self.configuration.concurrencyMax - total)
        guard take > 0 else { return [] }
        let saturated = counts.filter { $0.value >= perEndpointMax }.map(\.key).sorted()
        let exclusion: SQLQueryString =
            saturated.isEmpty ? "" : "AND endpoint_id NOT IN (\(binds: saturated))"
        let skipLocked = self.database.kind == .postgres ? "FOR UPDATE SKIP LOCKED" : ""
        let scan = take * Self.claimScanFactor
        let claimed = try await self.database.transaction { connection -> [(any SQLRow, [String: any SQLRow])] in
            let candidates = try await connection.raw(
                """
                SELECT id, endpoint_id FROM webhook_deliveries
                WHERE state = 'pending' AND next_attempt_at <= \(bind: now) AND leased_until <= \(bind: now)
                    \(exclusion)
                ORDER BY next_attempt_at, id LIMIT \(bind: scan) \(unsafeRaw: skipLocked)
                """
            ).all()
            var perEndpoint = counts
            var picked: [String] = []
            for row in candidates where picked.count < take {
                let endpointID = try row.decode(column: "endpoint_id", as: String.self)
                guard perEndpoint[endpointID, default: 0] < perEndpointMax else { continue }
                perEndpoint[endpointID, default: 0] += 1
                picked.append(try row.decode(column: "id", as: String.self))
            }
            guard !picked.isEmpty else { return [] }
            let rows = try await connection.raw(
                """
                UPDATE webhook_deliveries SET leased_until = \(bind: leaseUntil), attempts = attempts + 1,
                    last_attempt_at = \(bind: now), updated_at = \(bind: now)
                WHERE id IN (\(binds: picked))
                RETURNING *
                """
            ).all()
            let endpointIDs = Set(try rows.map { try $0.decode(column: "endpoint_id", as: String.self) })
            let endpoints = try await connection.raw(
                "SELECT * FROM webhook_endpoints WHERE id IN (\(binds: endpointIDs.sorted()))"
            ).all()
            var byID: [String: any SQLRow] = [:]
            for endpoint in endpoints { byID[try endpoint.decode(column: "id", as: String.self)] = endpoint }
            return rows.map { ($0, byID) }
        }
        var claims: [Claim] = []
        for (row, endpoints) in claimed {
            do {
                let delivery = try WebhookStore.decodeDelivery(row)
                let endpoint = try endpoints[delivery.endpointID.description].map(Self.decodeSigning)
                self.inFlight.reserve(delivery.endpointID.description)
                claims.append(Claim(delivery: delivery, endpoint: endpoint))
            } catch {
                // The lease runs out and the row is claimed again, so an unreadable row is seen in the log.
                self.logger.error("webhook delivery unreadable", metadata: ["error": "\(error)"])
            }
        }
        return claims
    }

    static func decodeSigning(_ row: any SQLRow) throws -> EndpointSigning {
        let state = try row.decode(column: "state", as: String.self)
        return EndpointSigning(
            url: try row.decode(column: "url", as: String.self),
            state: WebhookEndpoint.State(rawValue: state) ?? .disabled,
            secret: Secret(try row.decode(column: "secret", as: String.self)),
            previousSecret: try row.decode(column: "previous_secret", as: String?.self).map { Secret($0) },
            previousSecretExpiresAt: try WebhookStore.timestamp(row, "previous_secret_expires_at"))
    }
}

/// The attempts in flight, per endpoint and in all, in this process.
final class InFlight: Sendable {
    private let state = Mutex<(perEndpoint: [String: Int], total: Int)>(([:], 0))

    /// The counts now.
    func snapshot() -> ([String: Int], Int) {
        self.state.withLock { ($0.perEndpoint, $0.total) }
    }

    /// Counts an attempt to `endpointID` as started.
    func reserve(_ endpointID: String) {
        self.state.withLock { state in
            state.perEndpoint[endpointID, default: 0] += 1
            state.total += 1
        }
    }

    /// Counts an attempt to `endpointID` as finished.
    func release(_ endpointID: String) {
        self.state.withLock { state in
            let remaining = state.perEndpoint[endpointID, default: 1] - 1
            state.perEndpoint[endpointID] = remaining > 0 ? remaining : nil
            state.total -= 1
        }
    }
}

/// The jitter's random source, shared by concurrent attempts.
final class Jitter: Sendable {
    private let random: Mutex<any RandomNumberGenerator & Sendable>

    init(_ random: any RandomNumberGenerator & Sendable) {
        self.random = Mutex(random)
    }

    /// The schedule's jittered delay after a failed attempt, or nil when it was the last.
    func delay(_ schedule: WebhookRetrySchedule, afterAttempt attempts: Int) -> UInt64? {
        self.random.withLock { random in
            var generator = random
            defer { random = generator }
            return schedule.delayAfterFailure(ofAttempt: attempts, random: &generator)
        }
    }
}
