import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriDatabase
import KauriEscrow
import KauriHTTP
import KauriLedger
import KauriPayments
import KauriSandbox
import KauriServer
import KauriTestSupport
import SQLKit
import Synchronization
import Testing

/// The payments API under test, end to end: the real application served over loopback HTTP (the gateways'
/// callbacks must reach it), the sandbox's simulators as the gateways, a fresh database, and a manual clock for
/// reconciliation and expiry.
struct PaymentHarness: Sendable {
    static let adminKey = "test-admin-key-0123456789abcdef0123456789"
    /// Adapter timeout in tests: short, so "slower than our timeout" takes a moment.
    static let gatewayTimeout: Duration = .seconds(1)

    let client: any TestClientProtocol
    let dependencies: AppDependencies
    let sandbox: SandboxServer
    let clock: ManualClock
    let gateways: [GatewayName: any PaymentGateway]
    /// The port the application listens on, for clients other than `client` (concurrent requests).
    let port: Int

    var database: Database { self.dependencies.database }
    var payments: Payments { self.dependencies.payments }

    /// A decoded answer.
    struct Reply: @unchecked Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let json: [String: Any]
        let bytes: [UInt8]

        var code: String? { self.json["code"] as? String }
        subscript(key: String) -> Any? { self.json[key] }
        var id: String { self.json["id"] as? String ?? "" }
        var paymentStatus: String? { self.json["status"] as? String }
    }

    /// Runs `body` against a fresh application and sandbox on each engine the environment offers.
    static func forEachEngine(_ body: @escaping @Sendable (PaymentHarness) async throws -> Void) async throws {
        for kind in TestDatabases.kinds {
            try await self.with(kind, body)
        }
    }

    static func with(
        _ kind: Database.Kind, escrow: (@Sendable (inout Escrows.Configuration) -> Void)? = nil,
        _ body: @escaping @Sendable (PaymentHarness) async throws -> Void
    ) async throws {
        let sandbox = try await SandboxServer.start()
        sandbox.payments.setCallbackDelay(.milliseconds(20))
        // The adapters' own client, shut down before the sandbox so no idle keep-alive connection holds the
        // sandbox for its whole shutdown grace period.
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await TestDatabases.with(kind) { databases in
                let database = databases[0]
                try await MigrationRunner(database: database, migrations: allMigrations, logger: TestDatabases.logger)
                    .migrate()
                var settings = ServerSettings()
                settings.adminAPIKey = Secret(Self.adminKey)
                settings.port = 0
                settings.rateLimit = nil
                settings.authRateLimit = nil
                let clock = ManualClock(SystemClock().now())
                let credentials = sandbox.credentials
                let gateways: [any PaymentGateway] = [
                    PaystackGateway(
                        configuration: .init(
                            secretKey: Secret(credentials.paystackSecretKey), baseURL: sandbox.baseURL + "/paystack",
                            requestTimeout: Self.gatewayTimeout),
                        httpClient: httpClient),
                    DarajaGateway(
                        configuration: .init(
                            consumerKey: Secret(credentials.darajaConsumerKey),
                            consumerSecret: Secret(credentials.darajaConsumerSecret),
                            shortCode: credentials.darajaShortCode, passkey: Secret(credentials.darajaPasskey),
                            b2cShortCode: credentials.darajaB2CShortCode,
                            initiatorName: credentials.darajaInitiatorName,
                            securityCredential: Secret(credentials.darajaSecurityCredential),
                            baseURL: sandbox.baseURL + "/daraja", requestTimeout: Self.gatewayTimeout),
                        httpClient: httpClient, clock: clock),
                    PayHeroGateway(
                        configuration: .init(
                            username: Secret(credentials.payheroUsername),
                            password: Secret(credentials.payheroPassword), channelID: credentials.payheroChannelID,
                            baseURL: sandbox.baseURL + "/payhero/api/v2", requestTimeout: Self.gatewayTimeout),
                        httpClient: httpClient),
                ]
                let dependencies = AppDependencies(
                    settings: settings, database: database, logger: TestDatabases.logger, clock: clock,
                    bcryptCost: 4, gateways: gateways, reconcileInterval: .milliseconds(200),
                    escrowConfiguration: escrow, settlementInterval: .seconds(3_600))
                let listening = Mutex(0)
                let app = buildApplication(
                    dependencies,
                    onListening: { port in
                        listening.withLock { $0 = port }
                        sandbox.payments.setPaystackWebhookURL("http://127.0.0.1:\(port)/v1/webhooks/paystack")
                    })
                try await app.test(.live) { client in
                    try await body(
                        PaymentHarness(
                            client: client, dependencies: dependencies, sandbox: sandbox, clock: clock,
                            gateways: Dictionary(uniqueKeysWithValues: gateways.map { ($0.name, $0) }),
                            port: listening.withLock { $0 }))
                }
            }
        } catch {
            try? await httpClient.shutdown()
            await sandbox.shutdown()
            throw error
        }
        try? await httpClient.shutdown()
        await sandbox.shutdown()
    }

    // MARK: Requests

    /// Sends JSON (or nothing) as the admin unless `token` says otherwise.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, _ body: [String: Any]? = nil, token: String? = Self.adminKey,
        idempotencyKey: String? = nil, headers extra: HTTPFields = [:], rawBody: [UInt8]? = nil
    ) async throws -> Reply {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        var buffer: ByteBuffer?
        if let body {
            headers[.contentType] = "application/json"
            buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))
        } else if let rawBody {
            buffer = ByteBuffer(bytes: rawBody)
        }
        let response = try await self.client.execute(uri: uri, method: method, headers: headers, body: buffer)
        let bytes = Array(response.body.readableBytesView)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
        return Reply(status: response.status, headers: response.headers, json: json, bytes: bytes)
    }

    /// `POST /v1/payments` with a fresh idempotency key unless one is given.
    func createPayment(_ body: [String: Any], key: String = UUID().uuidString, token: String? = Self.adminKey)
        async throws -> Reply
    {
        try await self.send(.post, "/v1/payments", body, token: token, idempotencyKey: key)
    }

    /// `GET /v1/payments/{id}`.
    func payment(_ id: String) async throws -> Reply {
        try await self.send(.get, "/v1/payments/\(id)")
    }

    /// Polls until the payment has `status` (the worker applies webhooks in the background), up to `timeout`.
    @discardableResult
    func waitFor(
        _ id: String, status: String, timeout: Duration = .seconds(10),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let deadline = ContinuousClock.now + timeout
        var last = try await self.payment(id)
        while last.paymentStatus != status && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            last = try await self.payment(id)
        }
        #expect(last.paymentStatus == status, "\(last.json)", sourceLocation: sourceLocation)
        return last
    }

    /// Moves the clock past the next status check and runs reconciliation now.
    func reconcile(afterMilliseconds: UInt64 = 16_000) async throws {
        self.clock.advance(milliseconds: afterMilliseconds)
        try await self.payments.reconcileDue()
    }

    /// Waits until every stored webhook has been handled.
    func drainInbox() async throws {
        for _ in 0..<500 {
            try await self.payments.applyDueEvents()
            let pending = try await self.count(
                "SELECT COUNT(*) AS n FROM payment_webhook_events WHERE state = 'pending'")
            if pending == 0 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("webhook events still pending after 5 s")
    }

    /// Ledger transfers whose id starts with `prefix`.
    func transfers(startingWith prefix: String) async throws -> Int {
        try await self.database.withConnection { connection in
            try await connection.raw(
                "SELECT COUNT(*) AS n FROM ledger_transfers WHERE id LIKE \(bind: prefix + "%")"
            ).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    /// One integer from a `SELECT COUNT(*) AS n …`.
    func count(_ sql: String) async throws -> Int {
        try await self.database.withConnection { connection in
            try await connection.raw(SQLQueryString(sql)).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    /// The platform's payable balance in `currency` (credits posted − debits posted).
    func payable(_ currency: String) async throws -> Int64 {
        let account = try await self.dependencies.ledger.account(
            LedgerAccount.ID("seller_payable:platform:\(currency)")!)
        return account.map { $0.balances.creditsPosted - $0.balances.debitsPosted } ?? 0
    }
}
