import Foundation
import Synchronization
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Reliability bar §3.4.9 and §7 D.14 on the real process: transfers acknowledged with a 2xx survive `kill -9`
/// of the server, nothing is half-applied, and `kauri ledger verify` holds after every restart.
@Suite("Ledger crash safety", .serialized)
struct LedgerCrashTests {
    static let key = "crash-test-admin-key-0123456789abcdefghij"

    struct Server {
        let process: Process
        let port: Int
    }

    static func start(_ directory: URL) async throws -> Server {
        let port = try await ShutdownTests.freePort()
        let (process, out, _) = try CLITests.launch(
            ["--port", String(port), "--data-dir", "data", "--access-log", "false"],
            environment: ["KAURI_ADMIN_API_KEY": Self.key], directory: directory)
        for _ in 0..<400 {
            if ((try? String(contentsOf: out, encoding: .utf8)) ?? "").contains("kauri ready") {
                return Server(process: process, port: port)
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        process.terminate()
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "server did not become ready"])
    }

    static func post(_ port: Int, _ path: String, _ body: String) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = "POST"
        request.setValue("Bearer \(Self.key)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// The body of `POST /v1/ledger/transfers` with one single-phase transfer.
    static func transfer(id: String, from: String, to: String, amount: Int) -> String {
        Self.json([
            "transfers": [
                [
                    "id": id, "kind": "single", "debit_account_id": from, "credit_account_id": to, "amount": amount,
                    "currency": "KES", "code": "move",
                ]
            ]
        ])
    }

    static func storedTransferIDs(_ port: Int) async throws -> Set<String> {
        var ids = Set<String>()
        var cursor: String?
        repeat {
            var components = URLComponents(string: "http://127.0.0.1:\(port)/v1/ledger/transfers")!
            components.queryItems =
                [URLQueryItem(name: "limit", value: "100")]
                + (cursor.map { [URLQueryItem(name: "cursor", value: $0)] } ?? [])
            var request = URLRequest(url: components.url!)
            request.setValue("Bearer \(Self.key)", forHTTPHeaderField: "Authorization")
            let (data, _) = try await URLSession.shared.data(for: request)
            let page = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            for item in page["data"] as? [[String: Any]] ?? [] {
                if let id = item["id"] as? String { ids.insert(id) }
            }
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        return ids
    }

    @Test("transfers acknowledged before kill -9 are all there after restart, and ledger verify holds each time")
    func acknowledgedTransfersSurviveKill() async throws {
        try await CLITests.withDirectory { directory in
            var server = try await Self.start(directory)
            let accounts = (0..<10).map { "acct\($0)" }
            _ = try await Self.post(
                server.port, "/v1/ledger/accounts", #"{"id":"bank","currency":"KES","code":"external_funding"}"#)
            for account in accounts {
                let (status, _) = try await Self.post(
                    server.port, "/v1/ledger/accounts",
                    Self.json([
                        "id": account, "currency": "KES", "code": "seller_payable",
                        "flags": ["debits_must_not_exceed_credits"],
                    ]))
                #expect(status == 201)
                let (funded, _) = try await Self.post(
                    server.port, "/v1/ledger/transfers",
                    Self.transfer(id: "fund-\(account)", from: "bank", to: account, amount: 100_000))
                #expect(funded == 201)
            }
            let acknowledged = Acknowledged()
            for cycle in 0..<3 {
                let port = server.port
                // Eight clients post transfers until the server dies under them.
                let clients = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for client in 0..<8 {
                            group.addTask {
                                var random = SystemRandomNumberGenerator()
                                for step in 0..<10_000 {
                                    let from = accounts.randomElement(using: &random)!
                                    let to = accounts.filter { $0 != from }.randomElement(using: &random)!
                                    let id = "c\(cycle)-\(client)-\(step)"
                                    let body = Self.transfer(
                                        id: id, from: from, to: to, amount: Int.random(in: 1...5_000, using: &random))
                                    guard let (status, _) = try? await Self.post(port, "/v1/ledger/transfers", body)
                                    else { return }
                                    if status == 201 { acknowledged.insert(id) }
                                }
                            }
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(1_500 + 500 * cycle))
                kill(server.process.processIdentifier, SIGKILL)
                server.process.waitUntilExit()
                #expect(server.process.terminationReason == .uncaughtSignal)
                await clients.value

                let verify = try CLITests.run(["ledger", "verify", "--data-dir", "data"], directory: directory)
                #expect(verify.status == 0, "\(verify.output)")
                server = try await Self.start(directory)
                let stored = try await Self.storedTransferIDs(server.port)
                let acked = acknowledged.ids
                #expect(acked.count > 0)
                #expect(acked.isSubset(of: stored), "lost: \(acked.subtracting(stored).sorted().prefix(5))")
            }
            server.process.terminate()
            server.process.waitUntilExit()
        }
    }
}

/// The transfer ids the server acknowledged with 201, shared by the client tasks.
final class Acknowledged: Sendable {
    private let state = Mutex(Set<String>())

    func insert(_ id: String) { self.state.withLock { _ = $0.insert(id) } }

    var ids: Set<String> { self.state.withLock { $0 } }
}
