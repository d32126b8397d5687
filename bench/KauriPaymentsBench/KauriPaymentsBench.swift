// Payments benchmark: the real application (KauriServer's buildApplication) and the gateway sandbox served on
// loopback in this process, driven over HTTP by `--connections` concurrent clients (AsyncHTTPClient), on a fresh
// SQLite file (WAL, synchronous=FULL) or PostgreSQL schema (fsync on). Everything is durable.
//
// Scenarios:
//   webhooks  POST /v1/webhooks/paystack: each request is a signed `charge.success` for one of `--payments`
//             payments prepared before measuring (created through the service against the sandbox, whose
//             charges never complete by themselves). The response (200) means verified and stored; the payments
//             worker applies events in the background (payment succeeded, ledger transfer posted, event emitted).
//             Reports the accepted rate with latency, and the applied rate: webhooks applied from the first
//             request until the inbox is empty.
//   checkout  The full flow: POST /v1/payments (Paystack mobile money) → the sandbox approves and sends its
//             signed webhook → the server stores and applies it → succeeded, ledger posted. Clients create for
//             `--duration` seconds; the flow rate counts payments that reached `succeeded`, from the first
//             request until the last one did.
//
// Prints one JSON object per run.
import ArgumentParser
import AsyncHTTPClient
import Crypto
import Foundation
import Histogram
import KauriCore
import KauriDatabase
import KauriEscrow
import KauriLedger
import KauriPayments
import KauriSandbox
import KauriServer
import Logging
import NIOCore
import SQLKit
import Synchronization

@main
struct KauriPaymentsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kauri-payments-bench", abstract: "Webhook ingestion and checkout flow throughput over HTTP.")

    enum Scenario: String, ExpressibleByArgument, CaseIterable {
        case webhooks, checkout, links, settlement, flow
    }

    enum Engine: String, ExpressibleByArgument {
        case sqlite, postgres
    }

    @Option(help: "sqlite or postgres (postgres reads POSTGRES_URL).")
    var database: Engine = .sqlite

    @Option(
        help: """
            webhooks, checkout, links (payment links created), settlement (due escrows released) or flow (the S4 \
            story: link → checkout → STK push confirmed → escrow held).
            """)
    var scenario: Scenario = .webhooks

    @Option(help: "Concurrent HTTP connections.")
    var connections = 64

    @Option(help: "checkout: seconds of creating (after a 1 s warm-up).")
    var duration = 10.0

    @Option(help: "webhooks: payments to prepare (each request settles one).")
    var payments = 20_000

    static let amount: Int64 = 5_000

    func run() async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let (database, cleanup) = try await self.openDatabase(logger: logger)
        try await MigrationRunner(database: database, migrations: allMigrations, logger: logger).migrate()
        let sandbox = try await SandboxServer.start(logger: logger, callbackDelay: .milliseconds(1))
        var settings = ServerSettings(port: 0, accessLog: false)
        settings.rateLimit = nil
        settings.authRateLimit = nil
        settings.adminAPIKey = Secret(Self.adminKey)
        settings.logLevel = .error
        // The flow's buyers each use their own phone, but every link is the one bench seller's: lift the per-seller
        // velocity rule, which would otherwise (rightly) refuse the 201st checkout of the hour.
        settings.escrow.riskRules.sellerCheckoutsPerHourMax = .max
        let gatewayClient = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
        let paystack = PaystackGateway(
            configuration: .init(
                secretKey: Secret(sandbox.credentials.paystackSecretKey), baseURL: sandbox.baseURL + "/paystack"),
            httpClient: gatewayClient)
        let dependencies = AppDependencies(
            settings: settings, database: database, logger: logger, gateways: [paystack],
            reconcileInterval: .seconds(3_600))
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = buildApplication(dependencies, onListening: { portContinuation.yield($0) })
        let server = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("the server did not start") }
        let base = "http://127.0.0.1:\(port)"
        sandbox.payments.setPaystackWebhookURL(base + "/v1/webhooks/paystack")

        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: self.connections)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

        let result: [String: Any]
        switch self.scenario {
        case .webhooks:
            result = try await self.webhooks(
                base: base, http: http, payments: dependencies.payments, database: database,
                secretKey: sandbox.credentials.paystackSecretKey)
        case .checkout:
            result = try await self.checkout(base: base, http: http, database: database)
        case .links:
            result = try await self.links(base: base, http: http, database: database)
        case .settlement:
            result = try await self.settlement(dependencies: dependencies, database: database)
        case .flow:
            result = try await self.flow(base: base, http: http, database: database)
        }
        Self.print(
            result.merging(
                [
                    "database": self.database.rawValue, "scenario": self.scenario.rawValue,
                    "connections": self.connections,
                ]
            ) { $1 })
        try await http.shutdown()
        server.cancel()
        _ = await server.result
        try await gatewayClient.shutdown()
        await sandbox.shutdown()
        await cleanup()
    }

    static let adminKey = "bench-admin-key-0123456789abcdef0123456789"

    // MARK: - Webhooks

    func webhooks(
        base: String, http: HTTPClient, payments: Payments, database: Database, secretKey: String
    ) async throws -> [String: Any] {
        // Prepare: payments whose charge waits forever at the sandbox (the phone's last digits 0004).
        let prepared = try await Self.preparePayments(self.payments, payments: payments)
        let key = SymmetricKey(data: Array(secretKey.utf8))
        let bodies: [(body: [UInt8], signature: String)] = prepared.enumerated().map { index, reference in
            let body = Array(
                #"{"event":"charge.success","data":{"id":\#(9_000_000 + index),"status":"success","reference":"\#(reference)","amount":\#(Self.amount),"currency":"GHS","channel":"mobile_money","paid_at":"2026-11-30T10:00:00.000Z"}}"#
                    .utf8)
            let code = HMAC<SHA512>.authenticationCode(for: body, using: key)
            return (body, code.map { String(format: "%02x", $0) }.joined())
        }
        let shared = Shared()
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.connections {
                group.addTask {
                    while true {
                        let index = shared.next.add(1, ordering: .relaxed).oldValue
                        guard index < bodies.count else { return }
                        var request = HTTPClientRequest(url: base + "/v1/webhooks/paystack")
                        request.method = .POST
                        request.headers.add(name: "content-type", value: "application/json")
                        request.headers.add(name: "x-paystack-signature", value: bodies[index].signature)
                        request.body = .bytes(ByteBuffer(bytes: bodies[index].body))
                        let begin = clock.now
                        let response = try await http.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        shared.record(clock.now - begin, ok: response.status == .ok)
                    }
                }
            }
            try await group.waitForAll()
        }
        let accepted = clock.now - start
        // Applied: wait until every payment succeeded.
        var remaining = bodies.count
        while remaining > 0 {
            remaining = try await Self.count(
                "SELECT COUNT(*) AS n FROM payments WHERE status <> 'succeeded'", database: database)
            if remaining > 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        let applied = clock.now - start
        let transfers = try await Self.count(
            "SELECT COUNT(*) AS n FROM ledger_transfers WHERE code = 'payment_captured'", database: database)
        let histogram = shared.sink.withLock { $0 }
        return [
            "webhooks": bodies.count, "accepted_per_second": Int(Double(bodies.count) / Self.seconds(accepted)),
            "applied_per_second": Int(Double(bodies.count) / Self.seconds(applied)),
            "p50_us": histogram.valueAtPercentile(50), "p99_us": histogram.valueAtPercentile(99),
            "max_us": histogram.max, "errors": shared.errors.load(ordering: .relaxed), "ledger_transfers": transfers,
        ]
    }

    /// Creates `count` Paystack mobile-money payments through the service; returns their gateway references.
    static func preparePayments(_ count: Int, payments: Payments) async throws -> [String] {
        let shared = Shared()
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<32 {
                group.addTask {
                    var references: [String] = []
                    while true {
                        let index = shared.next.add(1, ordering: .relaxed).oldValue
                        guard index < count else { return references }
                        let payment = try await payments.create(
                            Payments.NewPayment(
                                amount: Money(minorUnits: Self.amount, currency: .ghs), gateway: .paystack,
                                method: .mobileMoney(phone: try PhoneNumber(parsing: "+233551230004"), provider: .mtn),
                                customerEmail: "buyer@example.com"),
                            ownerReference: "platform", idempotencyKey: "prepare-\(index)")
                        references.append(payment.gatewayReference.value)
                    }
                }
            }
            var all: [String] = []
            for try await references in group { all += references }
            return all
        }
    }

    // MARK: - Checkout

    func checkout(base: String, http: HTTPClient, database: Database) async throws -> [String: Any] {
        let shared = Shared()
        let clock = ContinuousClock()
        let body = Array(
            #"{"amount":\#(Self.amount),"currency":"GHS","gateway":"paystack","method":{"type":"mobile_money","phone":"+233551234000","provider":"mtn"},"customer":{"email":"buyer@example.com"}}"#
                .utf8)
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.connections {
                group.addTask {
                    while !shared.stop.load(ordering: .relaxed) {
                        var request = HTTPClientRequest(url: base + "/v1/payments")
                        request.method = .POST
                        request.headers.add(name: "content-type", value: "application/json")
                        request.headers.add(name: "authorization", value: "Bearer \(Self.adminKey)")
                        request.headers.add(name: "idempotency-key", value: UUID().uuidString)
                        request.body = .bytes(ByteBuffer(bytes: body))
                        let begin = clock.now
                        let response = try await http.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        shared.record(clock.now - begin, ok: response.status == .created)
                    }
                }
            }
            try await Task.sleep(for: .seconds(self.duration))
            shared.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let created = clock.now - start
        let total = try await Self.count("SELECT COUNT(*) AS n FROM payments", database: database)
        var remaining = total
        let deadline = clock.now + .seconds(120)
        while remaining > 0 && clock.now < deadline {
            remaining = try await Self.count(
                "SELECT COUNT(*) AS n FROM payments WHERE status <> 'succeeded'", database: database)
            if remaining > 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        let finished = clock.now - start
        let transfers = try await Self.count(
            "SELECT COUNT(*) AS n FROM ledger_transfers WHERE code = 'payment_captured'", database: database)
        let histogram = shared.sink.withLock { $0 }
        return [
            "payments": total, "succeeded": total - remaining,
            "created_per_second": Int(Double(total) / Self.seconds(created)),
            "flows_per_second": Int(Double(total - remaining) / Self.seconds(finished)),
            "create_p50_us": histogram.valueAtPercentile(50), "create_p99_us": histogram.valueAtPercentile(99),
            "errors": shared.errors.load(ordering: .relaxed), "ledger_transfers": transfers,
        ]
    }

    // MARK: - Payment links

    /// `POST /v1/payment-links` at `connections` for `duration` seconds (issue #6's figure): links created per second
    /// and the latency of each request; every link is a durable commit.
    func links(base: String, http: HTTPClient, database: Database) async throws -> [String: Any] {
        let shared = Shared()
        let clock = ContinuousClock()
        let body = Array(#"{"title":"Kitenge dress","price":150000,"currency":"GHS","quantity":10}"#.utf8)
        // One request first, so the seller's ledger accounts exist before the clock starts.
        var warm = HTTPClientRequest(url: base + "/v1/payment-links")
        warm.method = .POST
        warm.headers.add(name: "content-type", value: "application/json")
        warm.headers.add(name: "authorization", value: "Bearer \(Self.adminKey)")
        warm.body = .bytes(ByteBuffer(bytes: body))
        _ = try await http.execute(warm, timeout: .seconds(30)).body.collect(upTo: 1 << 20)
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.connections {
                group.addTask {
                    while !shared.stop.load(ordering: .relaxed) {
                        var request = HTTPClientRequest(url: base + "/v1/payment-links")
                        request.method = .POST
                        request.headers.add(name: "content-type", value: "application/json")
                        request.headers.add(name: "authorization", value: "Bearer \(Self.adminKey)")
                        request.body = .bytes(ByteBuffer(bytes: body))
                        let begin = clock.now
                        let response = try await http.execute(request, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        shared.record(clock.now - begin, ok: response.status == .created)
                    }
                }
            }
            try await Task.sleep(for: .seconds(self.duration))
            shared.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        let total = try await Self.count("SELECT COUNT(*) AS n FROM payment_links", database: database) - 1
        let histogram = shared.sink.withLock { $0 }
        return [
            "links": total, "links_per_second": Int(Double(total) / Self.seconds(elapsed)),
            "p50_us": histogram.valueAtPercentile(50), "p99_us": histogram.valueAtPercentile(99),
            "max_us": histogram.max, "errors": shared.errors.load(ordering: .relaxed),
        ]
    }

    // MARK: - S4 flow

    /// The whole S4 story per client loop (issue #6's figure), for `duration` seconds: `POST /v1/payment-links` →
    /// `POST /v1/payment-links/{id}/checkout` (a new buyer phone each time: the STK push goes to the sandbox, which
    /// approves it and sends its signed webhook) → the server applies it → the escrow is paid, the money held.
    /// Steps 1 and 2 are timed by the client; step 3 (push sent → escrow held) from the escrow's own log
    /// (`escrow_transitions`: checkout → payment_succeeded, millisecond timestamps). Flows per second count escrows
    /// that reached paid, from the first request until the last one did.
    func flow(base: String, http: HTTPClient, database: Database) async throws -> [String: Any] {
        let links = Shared()
        let checkouts = Shared()
        let clock = ContinuousClock()
        let linkBody = Array(#"{"title":"Kitenge dress","price":150000,"currency":"GHS","quantity":1}"#.utf8)
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.connections {
                group.addTask {
                    while !links.stop.load(ordering: .relaxed) {
                        let index = links.next.add(1, ordering: .relaxed).oldValue
                        var create = HTTPClientRequest(url: base + "/v1/payment-links")
                        create.method = .POST
                        create.headers.add(name: "content-type", value: "application/json")
                        create.headers.add(name: "authorization", value: "Bearer \(Self.adminKey)")
                        create.body = .bytes(ByteBuffer(bytes: linkBody))
                        var begin = clock.now
                        let created = try await http.execute(create, timeout: .seconds(30))
                        let createdBody = try await created.body.collect(upTo: 1 << 20)
                        links.record(clock.now - begin, ok: created.status == .created)
                        guard created.status == .created,
                            let object = try? JSONSerialization.jsonObject(with: Data(buffer: createdBody))
                                as? [String: Any], let id = object["id"] as? String
                        else { continue }
                        // MTN Ghana numbers ending in 5: the sandbox approves them (see SandboxPhoneOutcome).
                        let phone = "+23355" + String(format: "%06d", index % 1_000_000) + "5"
                        let checkoutBody = Array(
                            #"{"phone":"\#(phone)","name":"Amina","email":"buyer@example.com"}"#.utf8)
                        var checkout = HTTPClientRequest(url: base + "/v1/payment-links/\(id)/checkout")
                        checkout.method = .POST
                        checkout.headers.add(name: "content-type", value: "application/json")
                        checkout.headers.add(name: "idempotency-key", value: UUID().uuidString)
                        checkout.body = .bytes(ByteBuffer(bytes: checkoutBody))
                        begin = clock.now
                        let response = try await http.execute(checkout, timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 20)
                        checkouts.record(clock.now - begin, ok: response.status == .created)
                    }
                }
            }
            try await Task.sleep(for: .seconds(self.duration))
            links.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let total = try await Self.count("SELECT COUNT(*) AS n FROM escrows", database: database)
        var remaining = total
        let deadline = clock.now + .seconds(120)
        while remaining > 0 && clock.now < deadline {
            remaining = try await Self.count(
                "SELECT COUNT(*) AS n FROM escrows WHERE status <> 'paid'", database: database)
            if remaining > 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        let finished = clock.now - start
        let heldRows = try await database.withConnection { connection in
            try await connection.raw(
                """
                SELECT CAST(p.at - c.at AS BIGINT) AS ms FROM escrow_transitions c
                JOIN escrow_transitions p ON p.escrow_id = c.escrow_id AND p.event = 'payment_succeeded'
                WHERE c.event = 'checkout'
                """
            ).all().map { try $0.decode(column: "ms", as: Int64.self) }
        }
        var held = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for ms in heldRows { _ = held.record(UInt64(max(1, ms * 1_000))) }
        let report = try await LedgerVerifier.verify(database)
        let linkLatency = links.sink.withLock { $0 }
        let checkoutLatency = checkouts.sink.withLock { $0 }
        return [
            "flows": total, "held": total - remaining,
            "flows_per_second": Int(Double(total - remaining) / Self.seconds(finished)),
            "link_p50_us": linkLatency.valueAtPercentile(50), "link_p99_us": linkLatency.valueAtPercentile(99),
            "checkout_p50_us": checkoutLatency.valueAtPercentile(50),
            "checkout_p99_us": checkoutLatency.valueAtPercentile(99),
            "held_p50_us": held.valueAtPercentile(50), "held_p99_us": held.valueAtPercentile(99),
            "errors": links.errors.load(ordering: .relaxed) + checkouts.errors.load(ordering: .relaxed),
            "ledger_valid": report.isValid,
        ]
    }

    // MARK: - Settlement

    /// `payments` delivered escrows whose inspection window ended, released by two settlement workers at once (two
    /// instances of the service on one database): escrows released per second, each a linked ledger batch.
    func settlement(dependencies: AppDependencies, database: Database) async throws -> [String: Any] {
        let ledger = dependencies.ledger
        let clearing = LedgerAccount.ID("gateway_clearing:mpesa:KES")!
        let holding = LedgerAccount.ID("escrow_holding:platform:KES")!
        _ = try await ledger.createAccounts([
            NewAccount(id: clearing, currency: .kes, code: .gatewayClearing, ownerReference: "mpesa"),
            NewAccount(
                id: holding, currency: .kes, code: .escrowHolding, ownerReference: "platform",
                flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: LedgerAccount.ID("platform_revenue:platform:KES")!, currency: .kes, code: .platformRevenue,
                ownerReference: "platform", flags: [.debitsMustNotExceedCredits]),
            NewAccount(
                id: LedgerAccount.ID("seller_payable:usr_seller:KES")!, currency: .kes, code: .sellerPayable,
                ownerReference: "usr_seller", flags: [.debitsMustNotExceedCredits, .history]),
        ])
        let link = "plink_" + UUIDv7(unixMilliseconds: 1, sequence: 0, random: 1).base32
        try await database.transaction { connection in
            try await connection.raw(
                """
                INSERT INTO payment_links (id, seller_reference, title, price, currency, quantity_sold, status,
                    created_at, updated_at)
                VALUES (\(bind: link), 'usr_seller', 'Basket', 10000, 'KES', 0, 'active', 0, 0)
                """
            ).run()
        }
        let chunk = 1_000
        for first in stride(from: 0, to: self.payments, by: chunk) {
            let range = first..<min(first + chunk, self.payments)
            try await database.transaction { connection in
                _ = try await ledger.apply(
                    range.map { index in
                        [
                            NewTransfer(
                                id: LedgerTransfer.ID("pay_\(index).captured")!,
                                operation: .single(
                                    debit: clearing, credit: holding, amount: Money(minorUnits: 10_000, currency: .kes)),
                                code: "payment_captured")
                        ]
                    }, on: connection)
                for index in range {
                    let id =
                        "esc_"
                        + UUIDv7(unixMilliseconds: 2, sequence: UInt16(index % 65_536), random: UInt64(index))
                        .base32
                    try await connection.raw(
                        """
                        INSERT INTO escrows (id, link_id, seller_reference, buyer_phone, buyer_name, title, amount, fee,
                            currency, status, payment_id, gateway, release_due_at, created_at, updated_at)
                        VALUES (\(bind: id), \(bind: link), 'usr_seller', '+254700000000', 'Amina', 'Basket', 10000, 250,
                            'KES', 'delivered', \(bind: "pay_\(index)"), 'mpesa', \(bind: Int64(1_000 + index)), 0, 0)
                        """
                    ).run()
                }
            }
        }
        let escrows = dependencies.escrows
        let clock = ContinuousClock()
        let start = clock.now
        let released = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    var count = 0
                    while true {
                        let batch = try await escrows.releaseDue()
                        count += batch
                        if batch == 0 { return count }
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = clock.now - start
        let report = try await LedgerVerifier.verify(database)
        return [
            "escrows": self.payments, "released": released,
            "released_per_second": Int(Double(released) / Self.seconds(elapsed)), "ledger_valid": report.isValid,
        ]
    }

    // MARK: - Plumbing

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func count(_ sql: String, database: Database) async throws -> Int {
        try await database.withConnection { connection in
            try await connection.raw(SQLQueryString(sql)).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    static func print(_ object: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        Swift.print(String(decoding: data, as: UTF8.self))
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

/// Counters the clients share.
final class Shared: Sendable {
    let next = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let sink = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three))

    func record(_ elapsed: Duration, ok: Bool) {
        guard ok else {
            self.errors.add(1, ordering: .relaxed)
            return
        }
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        self.sink.withLock { _ = $0.record(UInt64(max(1, micros))) }
    }
}
