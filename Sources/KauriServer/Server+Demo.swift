import AsyncHTTPClient
import Foundation
import Hummingbird
import KauriCore
import KauriLedger
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

extension Server {
    /// `kauri demo`: the whole S4 story against this build — a fresh SQLite database in a new folder under the data
    /// directory, the gateway sandbox and the API in-process, driven over HTTP like any client. Prints each step;
    /// returns whether every step (and the final ledger verification) passed.
    public static func demo(_ settings: ServerSettings, logger: Logger, print: @escaping @Sendable (String) -> Void)
        async throws -> Bool
    {
        var settings = settings
        settings.mode = .sandbox
        settings.databaseURL = nil
        settings.host = "127.0.0.1"
        settings.port = 0
        settings.dataDirectory += "/demo-\(SystemClock().now().unixMilliseconds)"
        settings.rateLimit = nil
        settings.authRateLimit = nil
        if settings.escrow.feeBasisPoints == 0 && settings.escrow.feeFixed.isEmpty {
            settings.escrow.feeBasisPoints = 150
            settings.escrow.feeFixed = [.kes: 1_000]
        }
        return try await Self.withDependencies(settings, logger: logger, accessLogger: logger) { dependencies, _ in
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let app = buildApplication(dependencies, onListening: { portContinuation.yield($0) })
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(services: [.init(service: app)], logger: logger))
            let server = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw StartupError(description: "the server did not start") }
            let client = DemoClient(
                base: "http://127.0.0.1:\(port)", adminKey: dependencies.settings.adminAPIKey?.value ?? "")
            print(
                "kauri demo: a fresh SQLite database at \(dependencies.settings.sqlitePath), the gateway sandbox, "
                    + "and the API at \(client.base)")
            let story = DemoStory(client: client, print: print)
            var passed = false
            do {
                try await story.run()
                let report = try await LedgerVerifier.verify(dependencies.database)
                passed = report.isValid
                story.step("9. kauri ledger verify", passed ? "ok: \(report.summary)" : "FAILED: \(report.violations)")
            } catch {
                print("FAILED: \(error)")
            }
            print(passed ? "demo complete: every step passed" : "demo failed")
            try await client.shutdown()
            await group.triggerGracefulShutdown()
            _ = await server.result
            return passed
        }
    }
}

/// A failed demo step: what was expected and what the API answered.
struct DemoFailure: Error, CustomStringConvertible {
    let description: String
}

/// The S4 story, step by step, through the public API.
struct DemoStory: Sendable {
    let client: DemoClient
    let print: @Sendable (String) -> Void
    static let sellerPhone = "+254711000111"
    /// Ends in 0000: the sandbox approves the STK push.
    static let buyerPhone = "+254700000000"

    func step(_ name: String, _ result: String) {
        let dots = String(repeating: ".", count: max(2, 42 - name.count))
        self.print("  \(name) \(dots) \(result)")
    }

    func run() async throws {
        let seller = try await self.signIn(Self.sellerPhone)
        self.step("1. seller signs in by SMS code", "ok")
        let link = try await self.client.expect(
            201, .POST, "/v1/payment-links",
            ["title": "Kitenge dress", "description": "Size M, cotton", "price": 150_000, "currency": "KES"],
            token: seller)
        let linkID = try self.client.string(link, "id")
        self.step(
            "2. seller creates a payment link", "ok \(linkID) KES 1,500.00 → \(try self.client.string(link, "url"))")
        let checkout = try await self.client.expect(
            201, .POST, "/v1/payment-links/\(linkID)/checkout", ["phone": "0700000000", "name": "Amina"],
            idempotencyKey: UUID().uuidString)
        let escrowID = try self.client.string(checkout, "id")
        self.step("3. buyer pays by M-Pesa STK push", "ok \(escrowID), prompt sent to the buyer's phone")
        let paid = try await self.client.waitFor(escrowID, status: "paid", token: seller)
        self.step("4. payment confirmed, money held", "ok escrow \(try self.client.string(paid, "status"))")
        _ = try await self.client.expect(
            200, .POST, "/v1/escrows/\(escrowID)/ship", ["carrier": "G4S", "tracking_number": "KE-0042"], token: seller)
        self.step("5. seller ships", "ok")
        _ = try await self.client.expect(200, .POST, "/v1/escrows/\(escrowID)/deliver", nil, token: seller)
        self.step("6. seller marks delivered", "ok (the buyer has 72 h to confirm or dispute)")
        let buyer = try await self.signIn(Self.buyerPhone)
        let confirmed = try await self.client.expect(
            200, .POST, "/v1/escrows/\(escrowID)/confirm", nil, token: buyer)
        let released = confirmed["seller_amount"] as? Int ?? 0
        let fee = confirmed["fee"] as? Int ?? 0
        self.step(
            "7. buyer confirms, funds released",
            "ok \(Self.kes(released)) to the seller, fee \(Self.kes(fee))")
        _ = try await self.client.expect(
            200, .PUT, "/v1/payout-destinations/KES",
            ["gateway": "mpesa", "type": "mobile_money", "phone": "0711000111", "name": "Wanjiru"], token: seller)
        // M-Pesa pays whole shillings.
        let amount = released / 100 * 100
        let payout = try await self.client.expect(
            201, .POST, "/v1/payouts", ["amount": amount, "currency": "KES"], token: seller,
            idempotencyKey: UUID().uuidString)
        let payoutID = try self.client.string(payout, "id")
        let done = try await self.client.waitForPayout(payoutID, token: seller)
        self.step(
            "8. seller is paid out by M-Pesa B2C",
            "ok \(payoutID) \(Self.kes(amount)) \(try self.client.string(done, "status"))")
    }

    /// Requests a code, reads it from the sandbox's message sink, and signs in; returns the access token.
    private func signIn(_ phone: String) async throws -> String {
        _ = try await self.client.expect(202, .POST, "/v1/auth/otp", ["phone": phone])
        let code = try await self.client.latestCode(to: phone)
        let signedIn = try await self.client.expect(200, .POST, "/v1/auth/otp/verify", ["phone": phone, "code": code])
        return try self.client.string(signedIn, "access_token")
    }

    static func kes(_ minorUnits: Int) -> String {
        "KES \(Money(minorUnits: Int64(minorUnits), currency: .kes).decimalString)"
    }
}

/// JSON over HTTP to the demo's own server.
struct DemoClient: Sendable {
    let base: String
    let adminKey: String
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    static let timeout: TimeAmount = .seconds(10)

    func shutdown() async throws {
        try await self.http.shutdown()
    }

    /// Sends a request and fails unless the status is `status`.
    func expect(
        _ status: Int, _ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil, token: String? = nil,
        idempotencyKey: String? = nil
    ) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: self.base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let idempotencyKey { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await self.http.execute(request, timeout: Self.timeout)
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes)) as? [String: Any]) ?? [:]
        guard Int(response.status.code) == status else {
            throw DemoFailure(
                description: "\(method.rawValue) \(path) answered \(response.status.code), expected \(status): \(json)")
        }
        return json
    }

    func string(_ json: [String: Any], _ key: String) throws -> String {
        guard let value = json[key] as? String else { throw DemoFailure(description: "no \(key) in \(json)") }
        return value
    }

    /// The six-digit code in the newest SMS to `phone` (the dev sink, read with the admin key), within 10 s.
    func latestCode(to phone: String) async throws -> String {
        let encoded = phone.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? phone
        for _ in 0..<200 {
            let messages = try await self.expect(200, .GET, "/v1/dev/messages?to=\(encoded)", token: self.adminKey)
            if let body = (messages["data"] as? [[String: Any]])?.first?["body"] as? String,
                let code = body.firstMatch(of: /\d{6}/)
            {
                return String(code.output)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DemoFailure(description: "no sign-in code reached \(phone)")
    }

    func waitFor(_ escrowID: String, status: String, token: String) async throws -> [String: Any] {
        for _ in 0..<300 {
            let escrow = try await self.expect(200, .GET, "/v1/escrows/\(escrowID)", token: token)
            if escrow["status"] as? String == status { return escrow }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DemoFailure(description: "escrow \(escrowID) never became \(status)")
    }

    func waitForPayout(_ id: String, token: String) async throws -> [String: Any] {
        for _ in 0..<300 {
            let payout = try await self.expect(200, .GET, "/v1/payouts/\(id)", token: token)
            if payout["status"] as? String == "succeeded" { return payout }
            if payout["status"] as? String == "failed" { throw DemoFailure(description: "payout failed: \(payout)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw DemoFailure(description: "payout \(id) never completed")
    }
}
