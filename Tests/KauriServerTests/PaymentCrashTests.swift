import Foundation
import KauriSandbox
import Logging
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Reliability bar §1 and §7A on the real process: the server is killed (`kill -9`) while the provider is still
/// working on its charge; after a restart, the client's retry with the same `Idempotency-Key` finds the same
/// payment, the provider holds one charge, and the ledger one credit — never two.
@Suite("Payment crash safety", .serialized)
struct PaymentCrashTests {
    static let key = LedgerCrashTests.key

    static func start(_ directory: URL, port: Int, sandbox: SandboxServer) async throws -> LedgerCrashTests.Server {
        let (process, out, _) = try CLITests.launch(
            ["--port", String(port), "--data-dir", "data", "--access-log", "false"],
            environment: [
                "KAURI_ADMIN_API_KEY": Self.key,
                "KAURI_PAYSTACK_SECRET_KEY": sandbox.credentials.paystackSecretKey,
                "KAURI_PAYSTACK_BASE_URL": sandbox.baseURL + "/paystack",
                "KAURI_IDEMPOTENCY_LEASE_SECONDS": "1",
            ], directory: directory)
        for _ in 0..<400 {
            if ((try? String(contentsOf: out, encoding: .utf8)) ?? "").contains("kauri ready") {
                return LedgerCrashTests.Server(process: process, port: port)
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        process.terminate()
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "server did not become ready"])
    }

    static func request(
        _ port: Int, _ method: String, _ path: String, body: String? = nil, idempotencyKey: String? = nil
    ) async throws -> (Int, [String: Any]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.setValue("Bearer \(Self.key)", forHTTPHeaderField: "Authorization")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.utf8)
        }
        if let idempotencyKey { request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key") }
        request.timeoutInterval = 20
        let (data, response) = try await URLSession.shared.data(for: request)
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, json)
    }

    /// Polls the payment for up to 40 s (webhook retry or reconciliation settles it); returns its last state.
    static func waitUntilSucceeded(_ port: Int, _ id: String) async throws -> [String: Any] {
        var payment: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(40)
        while ContinuousClock.now < deadline {
            (_, payment) = try await Self.request(port, "GET", "/v1/payments/\(id)")
            if payment["status"] as? String == "succeeded" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        return payment
    }

    @Test("kill -9 while the provider holds the charge; the retry with the same key charges once and credits once")
    func killDuringTheProviderCall() async throws {
        var quiet = Logger(label: "kauri.sandbox")
        quiet.logLevel = .critical
        let sandbox = try await SandboxServer.start(logger: quiet, callbackDelay: .milliseconds(50))
        do {
            try await Self.killAndRetry(sandbox)
        } catch {
            await sandbox.shutdown()
            throw error
        }
        await sandbox.shutdown()
    }

    static func killAndRetry(_ sandbox: SandboxServer) async throws {
        try await CLITests.withDirectory { directory in
            let port = try await ShutdownTests.freePort()
            sandbox.payments.setPaystackWebhookURL("http://127.0.0.1:\(port)/v1/webhooks/paystack")
            var server = try await Self.start(directory, port: port, sandbox: sandbox)
            let body = LedgerCrashTests.json([
                "amount": 2_500, "currency": "GHS", "gateway": "paystack",
                "method": ["type": "mobile_money", "phone": "+233551234987", "provider": "mtn"],
                "customer": ["email": "buyer@example.com"],
            ])
            let idempotencyKey = UUID().uuidString
            // The provider takes the charge but answers only after 3 s; the server dies before it hears back.
            sandbox.faults.delayNext(provider: .paystack, by: .seconds(3))
            let first = Task {
                (try? await Self.request(port, "POST", "/v1/payments", body: body, idempotencyKey: idempotencyKey))?.0
            }
            try await Task.sleep(for: .milliseconds(1_000))
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            #expect(server.process.terminationReason == .uncaughtSignal)
            let firstStatus = await first.value
            #expect(firstStatus == nil, "the first request must have died with the server")
            // Let the provider finish the charge (its webhook finds nobody listening).
            try await Task.sleep(for: .seconds(3))
            let charges = sandbox.payments.records(for: .paystack)
            #expect(charges.count == 1)

            server = try await Self.start(directory, port: port, sandbox: sandbox)
            try await Task.sleep(for: .milliseconds(1_100))  // past the dead request's idempotency lease
            let (status, retried) = try await Self.request(
                port, "POST", "/v1/payments", body: body, idempotencyKey: idempotencyKey)
            #expect(status == 201 || status == 200, "\(retried)")
            let id = try #require(retried["id"] as? String)
            // The same key once more is a replay of that answer.
            let (_, replayed) = try await Self.request(
                port, "POST", "/v1/payments", body: body, idempotencyKey: idempotencyKey)
            #expect(replayed["id"] as? String == id)

            // The charge the provider already holds settles the payment (webhook retry or reconciliation).
            let payment = try await Self.waitUntilSucceeded(port, id)
            #expect(payment["status"] as? String == "succeeded", "\(payment)")
            #expect(sandbox.payments.records(for: .paystack).count == 1, "the provider was charged twice")
            let (_, list) = try await Self.request(port, "GET", "/v1/payments")
            #expect((list["data"] as? [Any])?.count == 1)
            let transfers = try await LedgerCrashTests.storedTransferIDs(port)
            #expect(transfers.filter { $0.hasPrefix(id) }.count == 1, "\(transfers)")

            server.process.terminate()
            server.process.waitUntilExit()
            let verify = try CLITests.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(verify.status == 0, "\(verify.output)")
        }
    }

    @Test("kill -9 at random moments around the provider call, 6 times: each payment charged once and credited once")
    func killAtRandomRecoveryPoints() async throws {
        var quiet = Logger(label: "kauri.sandbox")
        quiet.logLevel = .critical
        let sandbox = try await SandboxServer.start(logger: quiet, callbackDelay: .milliseconds(50))
        do {
            try await Self.killRepeatedly(sandbox, iterations: 6)
        } catch {
            await sandbox.shutdown()
            throw error
        }
        await sandbox.shutdown()
    }

    /// Each iteration: a payment whose provider call takes 600 ms; the server dies 0–900 ms after the request
    /// (before the row, between the row and the call, during the call, or after the answer); a restart; the retry
    /// with the same key; then the payment must settle with one provider charge and one ledger credit.
    static func killRepeatedly(_ sandbox: SandboxServer, iterations: Int) async throws {
        try await CLITests.withDirectory { directory in
            let port = try await ShutdownTests.freePort()
            sandbox.payments.setPaystackWebhookURL("http://127.0.0.1:\(port)/v1/webhooks/paystack")
            var server = try await Self.start(directory, port: port, sandbox: sandbox)
            var ids: [String] = []
            for iteration in 0..<iterations {
                let body = LedgerCrashTests.json([
                    "amount": 2_500 + iteration, "currency": "GHS", "gateway": "paystack",
                    "method": ["type": "mobile_money", "phone": "+233551234987", "provider": "mtn"],
                    "customer": ["email": "buyer@example.com"],
                ])
                let idempotencyKey = UUID().uuidString
                let killAfter = Int.random(in: 0...900)
                sandbox.faults.delayNext(provider: .paystack, by: .milliseconds(600))
                let first = Task {
                    (try? await Self.request(port, "POST", "/v1/payments", body: body, idempotencyKey: idempotencyKey))?
                        .0
                }
                try await Task.sleep(for: .milliseconds(killAfter))
                kill(server.process.processIdentifier, SIGKILL)
                server.process.waitUntilExit()
                _ = await first.value
                try await Task.sleep(for: .milliseconds(700))  // the provider finishes whatever it received
                server = try await Self.start(directory, port: port, sandbox: sandbox)
                try await Task.sleep(for: .milliseconds(1_100))  // past the dead request's idempotency lease
                let (status, retried) = try await Self.request(
                    port, "POST", "/v1/payments", body: body, idempotencyKey: idempotencyKey)
                #expect(status == 201 || status == 200, "killed after \(killAfter) ms: \(retried)")
                let id = try #require(retried["id"] as? String, "killed after \(killAfter) ms")
                ids.append(id)
                let payment = try await Self.waitUntilSucceeded(port, id)
                #expect(payment["status"] as? String == "succeeded", "killed after \(killAfter) ms: \(payment)")
                let charges = sandbox.payments.records(
                    provider: .paystack, reference: id.replacingOccurrences(of: "_", with: "-"))
                #expect(charges.count == 1, "killed after \(killAfter) ms: \(charges.count) provider charges")
            }
            let (_, list) = try await Self.request(port, "GET", "/v1/payments?limit=100")
            #expect((list["data"] as? [Any])?.count == iterations)
            let transfers = try await LedgerCrashTests.storedTransferIDs(port)
            for id in ids {
                #expect(transfers.filter { $0.hasPrefix(id) }.count == 1, "\(id): \(transfers)")
            }
            server.process.terminate()
            server.process.waitUntilExit()
            let verify = try CLITests.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
            #expect(verify.status == 0, "\(verify.output)")
        }
    }
}
