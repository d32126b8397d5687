import AsyncHTTPClient
import Foundation
import KauriSandbox
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Reliability bar §7A.1, scaled to a test's budget (the full 50 × 200 runs as a benchmark): many identical
/// `POST /v1/payments` at once for each of several keys → one payment and one provider charge per key; every answer
/// is the original (byte for byte, replays marked `Idempotent-Replayed: true`) or a 409 with `Retry-After`; no 5xx.
@Suite("Idempotency under concurrency", .serialized)
struct IdempotencyConcurrencyTests {
    static let keys = 10
    static let copies = 20

    struct Answer: Sendable {
        let key: Int
        let status: Int
        let replayed: Bool
        let retryAfter: String?
        let body: [UInt8]
    }

    /// Sends `copies` identical requests per key, all at once.
    static func postAll(url: String, keys: [String], body: [UInt8]) async throws -> [Answer] {
        try await withThrowingTaskGroup(of: Answer.self) { group in
            for _ in 0..<Self.copies {
                for (index, key) in keys.enumerated() {
                    group.addTask { try await Self.post(url: url, key: key, index: index, body: body) }
                }
            }
            var all: [Answer] = []
            for try await answer in group { all.append(answer) }
            return all
        }
    }

    static func post(url: String, key: String, index: Int, body: [UInt8]) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(PaymentHarness.adminKey)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: key)
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return Answer(
            key: index, status: Int(response.status.code),
            replayed: response.headers.first(name: "Idempotent-Replayed") == "true",
            retryAfter: response.headers.first(name: "Retry-After"), body: Array(bytes.readableBytesView))
    }

    @Test("10 keys × 20 concurrent identical payments: 10 payments, 10 provider charges, the rest replays or 409")
    func concurrentDuplicates() async throws {
        try await PaymentHarness.forEachEngine { harness in try await Self.run(harness) }
    }

    static func run(_ harness: PaymentHarness) async throws {
        do {  // (a separate function: the closure form crashes the 6.3.1 compiler's SendNonSendable pass)
            let url = "http://127.0.0.1:\(harness.port)/v1/payments"
            let keys = (0..<Self.keys).map { _ in UUID().uuidString }
            let body = try JSONSerialization.data(withJSONObject: GatewayCase.paystackMobileMoney.body())
            let answers = try await Self.postAll(url: url, keys: keys, body: Array(body))
            #expect(answers.count == Self.keys * Self.copies)
            #expect(answers.filter { $0.status >= 500 }.isEmpty, "5xx: \(answers.filter { $0.status >= 500 }.count)")
            var ids = Set<String>()
            for index in 0..<Self.keys {
                let mine = answers.filter { $0.key == index }
                let created = mine.filter { $0.status == 201 }
                let originals = created.filter { !$0.replayed }
                #expect(originals.count == 1, "key \(index): \(originals.count) first answers")
                // Every 201 is byte-identical to the first; everything else is a 409 with Retry-After.
                #expect(Set(created.map(\.body)).count == 1)
                for other in mine where other.status != 201 {
                    #expect(other.status == 409 && other.retryAfter != nil, "key \(index): \(other.status)")
                }
                if let first = originals.first,
                    let json = try JSONSerialization.jsonObject(with: Data(first.body)) as? [String: Any],
                    let id = json["id"] as? String
                {
                    ids.insert(id)
                }
            }
            #expect(ids.count == Self.keys)
            let payments = try await harness.count("SELECT COUNT(*) AS n FROM payments")
            #expect(payments == Self.keys)
            #expect(harness.sandbox.payments.records(for: .paystack).count == Self.keys)
            let stored = try await harness.count(
                "SELECT COUNT(*) AS n FROM (SELECT owner_reference, idempotency_key FROM payments "
                    + "GROUP BY owner_reference, idempotency_key HAVING COUNT(*) > 1) AS duplicated")
            #expect(stored == 0)
        }
    }
}
