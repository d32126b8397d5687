import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriTestSupport
import NIOCore
import SQLKit
import Synchronization
import Testing

@Suite("Idempotency keys")
struct IdempotencyTests {
    static let start = Timestamp(unixMilliseconds: 1_800_000_000_000)
    static let callerField = HTTPField.Name("X-Test-Caller")!
    static let keyField = IdempotencyMiddleware.keyField
    static let replayedField = IdempotencyMiddleware.replayedField
    static let requiredPaths = ["/v1/payments", "/v1/payments/{id}/refunds"]
    static let hourMilliseconds: UInt64 = 3_600_000

    // MARK: Pure parts

    @Test(
        "sf-strings and bare Stripe-style keys are accepted and unquoted",
        arguments: [
            (#""8e03978e-40d5-43e8-bc93-6894a57f9324""#, "8e03978e-40d5-43e8-bc93-6894a57f9324"),
            ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
            ("order:42.retry_1~x", "order:42.retry_1~x"),
            (#""with space, comma; and ~!""#, "with space, comma; and ~!"),
            (#""a\"b\\c""#, #"a"b\c"#),
            ("k", "k"),
            (String(repeating: "k", count: 255), String(repeating: "k", count: 255)),
            ("\"" + String(repeating: "q", count: 255) + "\"", String(repeating: "q", count: 255)),
        ])
    func validKeys(header: String, key: String) throws {
        #expect(try #require(IdempotencyKey(headerValue: header)).value == key)
    }

    @Test(
        "malformed keys are refused before any lookup",
        arguments: [
            "", #""""#, String(repeating: "k", count: 256), "\"" + String(repeating: "q", count: 256) + "\"",
            #""unbalanced"#, #"unbalanced""#, #""a"b""#, #""a\nb""#, #""a\"#, "ab\u{01}cd", "\"ab\u{01}cd\"",
            "ab\u{7F}", "bare key", "bare,key", "caf\u{E9}", "\"caf\u{E9}\"", #""a", "b""#, #""a";p=1"#, "a/b",
            "{x}",
        ])
    func invalidKeys(header: String) {
        #expect(IdempotencyKey(headerValue: header) == nil)
    }

    @Test("path patterns match one segment per parameter")
    func pathPatterns() {
        let refunds = IdempotencyPathPattern("/v1/payments/{id}/refunds")
        #expect(refunds.matches("/v1/payments/pay_1/refunds"))
        #expect(refunds.matches("/v1/payments/pay_1/refunds/"))
        #expect(!refunds.matches("/v1/payments/refunds"))
        #expect(!refunds.matches("/v1/payments/a/b/refunds"))
        #expect(!refunds.matches("/v1/payments/pay_1/refunds/ref_1"))
        let payments = IdempotencyPathPattern("/v1/payments")
        #expect(payments.matches("/v1/payments"))
        #expect(!payments.matches("/v1/payments/pay_1"))
        #expect(!payments.matches("/v1/paymentsx"))
    }

    @Test("JSON is canonicalised: whitespace, key order and escapes do not matter, digits do")
    func canonicalJSON() throws {
        func canonical(_ text: String) -> String? {
            IdempotencyFingerprint.canonicalJSON(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(
            canonical(#" { "b" : [1, 2.50, {"z": null, "a": true}], "a": "x\u0041\/\n" } "#)
                == #"{"a":"xA/\u000a","b":[1,2.50,{"a":true,"z":null}]}"#)
        #expect(canonical(#"{"amount":12345678901234567890123}"#) != canonical(#"{"amount":12345678901234567890124}"#))
        #expect(canonical(#""\ud83d\ude00""#) == "\"\u{1F600}\"")
        for malformed in [
            "", "{", #"{"a":1,}"#, "[1 2]", "01", "1.", "-", "tru", #""\x""#, "\"a\u{01}\"", "{} {}",
            #""\udc00""#, String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
        ] {
            #expect(canonical(malformed) == nil, "\(malformed)")
        }
        #expect(canonical(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) != nil)

        let body = ByteBuffer(string: #"{"amount": 100, "currency": "GHS"}"#)
        let reordered = ByteBuffer(string: #"{"currency":"GHS","amount":100}"#)
        let base = IdempotencyFingerprint(method: .post, target: "/v1/payments", body: body)
        #expect(base == IdempotencyFingerprint(method: .post, target: "/v1/payments", body: reordered))
        #expect(base.hex.count == 64)
        #expect(base != IdempotencyFingerprint(method: .patch, target: "/v1/payments", body: body))
        #expect(base != IdempotencyFingerprint(method: .post, target: "/v1/payments?x=1", body: body))
        #expect(base != IdempotencyFingerprint(method: .post, target: "/v1/payments", body: ByteBuffer(string: "{}")))
    }

    @Test("every idempotency code is distinct and namespaced")
    func errorCodes() {
        let codes = IdempotencyErrorCodes.all.map(\.rawValue)
        #expect(Set(codes).count == 4)
        #expect(codes.allSatisfy { $0.hasPrefix("idempotency.") })
        #expect(ErrorCode.idempotencyKeyReused.status == 422)
        #expect(ErrorCode.idempotencyRequestInProgress.status == 409)
    }

    // MARK: Through the middleware, on every engine

    @Test(
        "200 concurrent identical POSTs run the handler once; the rest replay its bytes or get 409",
        arguments: TestDatabases.kinds)
    func concurrentDuplicates(kind: Database.Kind) async throws {
        try await Self.withHarness(kind, handlerDelay: .milliseconds(50)) { client, harness in
            let body = #"{"amount":5000,"currency":"GHS"}"#
            let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await Self.post(client, "/v1/payments", caller: "alice", key: "\"key-1\"", body: body)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(harness.executions.count == 1)
            #expect(try await harness.rowCount() == 1)
            #expect(responses.allSatisfy { $0.status.code < 500 })
            let originals = responses.filter { $0.status == .created && $0.headers[Self.replayedField] == nil }
            try #require(originals.count == 1)
            let original = originals[0]
            for response in responses {
                switch response.status {
                case .created:
                    #expect(response.body == original.body)
                    #expect(response.headers[.location] == original.headers[.location])
                    #expect(response.headers[.contentType] == "application/json")
                case .conflict:
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(try Self.code(response) == "idempotency.request_in_progress")
                default:
                    Issue.record("unexpected status \(response.status)")
                }
            }
            let replayed = responses.filter { $0.headers[Self.replayedField] == "true" }
            #expect(replayed.allSatisfy { $0.status == .created })
            // Once the first request finished, every retry is a byte-for-byte replay.
            let later = try await Self.post(client, "/v1/payments", caller: "alice", key: "\"key-1\"", body: body)
            #expect(later.status == .created)
            #expect(later.headers[Self.replayedField] == "true")
            #expect(later.body == original.body)
            #expect(later.headers[HTTPField.Name("X-Handler-Only")!] == nil)
            #expect(harness.executions.count == 1)
        }
    }

    @Test("50 keys with 40 concurrent requests each run the handler 50 times", arguments: TestDatabases.kinds)
    func manyKeysConcurrently(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { client, harness in
            let statuses = try await withThrowingTaskGroup(of: (Int, HTTPResponse.Status).self) { group in
                for keyIndex in 0..<50 {
                    for _ in 0..<40 {
                        group.addTask {
                            let response = try await Self.post(
                                client, "/v1/payments", caller: "alice", key: "key-\(keyIndex)",
                                body: #"{"amount":\#(keyIndex + 1)}"#)
                            return (keyIndex, response.status)
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.count == 2_000)
            #expect(statuses.allSatisfy { $0.1 == .created || $0.1 == .conflict })
            #expect(Set(statuses.filter { $0.1 == .created }.map(\.0)).count == 50)
            #expect(harness.executions.count == 50)
            #expect(try await harness.rowCount() == 50)
            let duplicates = try await harness.database.withConnection { connection in
                try await connection.raw(
                    """
                    SELECT idempotency_key FROM test_payments GROUP BY owner_reference, idempotency_key
                    HAVING COUNT(*) > 1
                    """
                ).all()
            }
            #expect(duplicates.isEmpty)
        }
    }

    @Test(
        "the same key with another body, route or method is refused with 422 and changes nothing",
        arguments: TestDatabases.kinds)
    func keyReuse(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { client, harness in
            let first = try await Self.post(client, "/v1/payments", caller: "alice", key: "k", body: #"{"amount":100}"#)
            #expect(first.status == .created)

            let otherBody = try await Self.post(
                client, "/v1/payments", caller: "alice", key: "k", body: #"{"amount":101}"#)
            #expect(otherBody.status == .unprocessableContent)
            #expect(otherBody.headers[.contentType] == APIError.problemContentType)
            #expect(try Self.code(otherBody) == "idempotency.key_reused")

            let otherRoute = try await Self.post(
                client, "/v1/payments/pay_1/refunds", caller: "alice", key: "k", body: #"{"amount":100}"#)
            #expect(otherRoute.status == .unprocessableContent)
            #expect(try Self.code(otherRoute) == "idempotency.key_reused")

            let otherMethod = try await Self.post(
                client, "/v1/payments", method: .patch, caller: "alice", key: "k", body: #"{"amount":100}"#)
            #expect(otherMethod.status == .unprocessableContent)

            // The same document serialised differently is the same request.
            let reformatted = try await Self.post(
                client, "/v1/payments", caller: "alice", key: "\"k\"", body: "{ \"amount\" : 100 }\n")
            #expect(reformatted.status == .created)
            #expect(reformatted.headers[Self.replayedField] == "true")
            #expect(reformatted.body == first.body)

            #expect(harness.executions.count == 1)
            #expect(try await harness.rowCount() == 1)
        }
    }

    @Test(
        "another caller's identical key gets its own execution and never the first caller's response",
        arguments: TestDatabases.kinds)
    func scopePerCaller(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { client, harness in
            let body = #"{"amount":100}"#
            let alice = try await Self.post(client, "/v1/payments", caller: "alice", key: "shared", body: body)
            let bob = try await Self.post(client, "/v1/payments", caller: "bob", key: "shared", body: body)
            #expect(alice.status == .created)
            #expect(bob.status == .created)
            #expect(bob.headers[Self.replayedField] == nil)
            #expect(bob.body != alice.body)
            #expect(String(buffer: bob.body).contains(#""owner":"bob""#))
            let bobAgain = try await Self.post(client, "/v1/payments", caller: "bob", key: "shared", body: body)
            #expect(bobAgain.body == bob.body)
            #expect(harness.executions.count == 2)

            // 200 random collisions between two callers: no response ever crosses over.
            for index in 0..<100 {
                let key = "collision-\(index)"
                let first = try await Self.post(client, "/v1/payments", caller: "carol", key: key, body: body)
                let second = try await Self.post(client, "/v1/payments", caller: "dave", key: key, body: body)
                #expect(String(buffer: first.body).contains(#""owner":"carol""#))
                #expect(String(buffer: second.body).contains(#""owner":"dave""#))
            }
            #expect(harness.executions.count == 202)
        }
    }

    @Test("a missing or malformed key is refused with 400 and nothing runs", arguments: TestDatabases.kinds)
    func keyValidation(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { client, harness in
            let body = #"{"amount":100}"#
            let missing = try await Self.post(client, "/v1/payments", caller: "alice", key: nil, body: body)
            #expect(missing.status == .badRequest)
            #expect(try Self.code(missing) == "idempotency.key_missing")
            let missingRefund = try await Self.post(
                client, "/v1/payments/pay_9/refunds", caller: "alice", key: nil, body: body)
            #expect(try Self.code(missingRefund) == "idempotency.key_missing")

            for invalid in [String(repeating: "k", count: 256), #""unbalanced"#, "ab\u{01}cd", #""""#] {
                let response = try await Self.post(client, "/v1/payments", caller: "alice", key: invalid, body: body)
                #expect(response.status == .badRequest, "\(invalid)")
                #expect(try Self.code(response) == "idempotency.key_invalid")
            }
            // An invalid key is refused on a route that does not require one, too.
            let optional = try await Self.post(client, "/v1/notes", caller: "alice", key: "bad key", body: body)
            #expect(try Self.code(optional) == "idempotency.key_invalid")

            var twice: HTTPFields = [Self.callerField: "alice", .contentType: "application/json"]
            twice.append(HTTPField(name: Self.keyField, value: "one"))
            twice.append(HTTPField(name: Self.keyField, value: "two"))
            let duplicated = try await client.execute(
                uri: "/v1/payments", method: .post, headers: twice, body: ByteBuffer(string: body))
            #expect(try Self.code(duplicated) == "idempotency.key_invalid")
            #expect(harness.executions.count == 0)

            // Without a caller the route answers 401 before any idempotency check.
            let anonymous = try await Self.post(client, "/v1/payments", caller: nil, key: nil, body: body)
            #expect(anonymous.status == .unauthorized)
            // A 255-character key is fine; routes that do not require a key run without one.
            let longest = try await Self.post(
                client, "/v1/payments", caller: "alice", key: String(repeating: "k", count: 255), body: body)
            #expect(longest.status == .created)
            let note = try await Self.post(client, "/v1/notes", caller: "alice", key: nil, body: body)
            #expect(note.status == .created)
            let get = try await client.execute(uri: "/v1/payments", method: .get, headers: [Self.keyField: "bad key"])
            #expect(get.status == .ok)
            #expect(harness.executions.count == 2)
        }
    }

    @Test("a handler that throws releases the key so the retry runs again", arguments: TestDatabases.kinds)
    func throwingHandlerReleases(kind: Database.Kind) async throws {
        try await Self.withHarness(kind, failures: 1) { client, harness in
            let failed = try await Self.post(client, "/v1/flaky", caller: "alice", key: "k", body: "{}")
            #expect(failed.status == .serviceUnavailable)
            #expect(try await harness.store.record(scope: "alice", key: "k") == nil)
            let retried = try await Self.post(client, "/v1/flaky", caller: "alice", key: "k", body: "{}")
            #expect(retried.status == .created)
            #expect(retried.headers[Self.replayedField] == nil)
            let replayed = try await Self.post(client, "/v1/flaky", caller: "alice", key: "k", body: "{}")
            #expect(replayed.headers[Self.replayedField] == "true")
            #expect(replayed.body == retried.body)
            #expect(harness.executions.count == 2)
        }
    }

    @Test("a response over the limit is not stored and the key is released", arguments: TestDatabases.kinds)
    func oversizedResponse(kind: Database.Kind) async throws {
        try await Self.withHarness(kind, responseBodyBytesMax: 64) { client, harness in
            let response = try await Self.post(client, "/v1/large", caller: "alice", key: "k", body: "{}")
            #expect(response.status == .internalServerError)
            #expect(try await harness.store.record(scope: "alice", key: "k") == nil)
        }
    }

    @Test(
        "a stored response replays until the retention ends; after the purge the key is new",
        arguments: TestDatabases.kinds)
    func retention(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { client, harness in
            let body = #"{"amount":100}"#
            let first = try await Self.post(client, "/v1/payments", caller: "alice", key: "k", body: body)
            #expect(first.status == .created)

            harness.clock.advance(milliseconds: 23 * Self.hourMilliseconds + 59 * 60_000)
            let replayed = try await Self.post(client, "/v1/payments", caller: "alice", key: "k", body: body)
            #expect(replayed.status == .created)
            #expect(replayed.headers[Self.replayedField] == "true")
            #expect(replayed.body == first.body)
            #expect(try await harness.purge.purgeOnce() == 0)

            harness.clock.advance(milliseconds: 60_000)
            #expect(try await harness.purge.purgeOnce() == 1)
            #expect(try await harness.store.record(scope: "alice", key: "k") == nil)
            let fresh = try await Self.post(client, "/v1/payments", caller: "alice", key: "k", body: body)
            #expect(fresh.status == .created)
            #expect(fresh.headers[Self.replayedField] == nil)
            #expect(fresh.body != first.body)
            #expect(harness.executions.count == 2)
        }
    }

    @Test("the purge deletes only expired keys, in bounded batches", arguments: TestDatabases.kinds)
    func purgeBatches(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { _, harness in
            for index in 0..<25 {
                _ = try await harness.store.claim(
                    scope: "alice", key: "old-\(index)", fingerprint: "f", method: "POST", path: "/v1/payments",
                    now: harness.clock.now(), leaseDuration: .seconds(60), retention: .seconds(86_400))
            }
            harness.clock.advance(milliseconds: 12 * Self.hourMilliseconds)
            for index in 0..<5 {
                _ = try await harness.store.claim(
                    scope: "alice", key: "young-\(index)", fingerprint: "f", method: "POST", path: "/v1/payments",
                    now: harness.clock.now(), leaseDuration: .seconds(60), retention: .seconds(86_400))
            }
            harness.clock.advance(milliseconds: 12 * Self.hourMilliseconds)
            let purge = IdempotencyPurgeService(
                database: harness.database, clock: harness.clock, batchSize: 10, logger: TestDatabases.logger)
            #expect(try await purge.purgeOnce() == 25)
            #expect(try await purge.purgeOnce() == 0)
            let remaining = try await harness.database.withConnection { connection in
                try await connection.raw("SELECT key FROM idempotency_keys").all()
                    .map { try $0.decode(column: "key", as: String.self) }
            }
            #expect(Set(remaining) == Set((0..<5).map { "young-\($0)" }))
        }
    }

    @Test(
        "an in-progress claim blocks retries with 409 until its lease runs out, then a retry takes it over",
        arguments: TestDatabases.kinds)
    func expiredLeaseTakeOver(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { client, harness in
            let body = #"{"amount":100}"#
            let fingerprint = IdempotencyFingerprint(
                method: .post, target: "/v1/payments", body: ByteBuffer(string: body))
            // A first request claimed the key, then its server died.
            let claim = try await harness.store.claim(
                scope: "alice", key: "k", fingerprint: fingerprint.hex, method: "POST", path: "/v1/payments",
                now: harness.clock.now(), leaseDuration: .seconds(60), retention: .seconds(86_400))
            guard case .claimed(let deadLease) = claim else {
                Issue.record("expected a fresh claim, got \(claim)")
                return
            }

            harness.clock.advance(milliseconds: 59_999)
            let blocked = try await Self.post(client, "/v1/payments", caller: "alice", key: "k", body: body)
            #expect(blocked.status == .conflict)
            #expect(blocked.headers[.retryAfter] == "1")
            #expect(harness.executions.count == 0)

            harness.clock.advance(milliseconds: 1)
            let takenOver = try await Self.post(client, "/v1/payments", caller: "alice", key: "k", body: body)
            #expect(takenOver.status == .created)
            #expect(takenOver.headers[Self.replayedField] == nil)
            #expect(harness.executions.count == 1)

            // The dead request's lease is void: it can neither overwrite nor delete the new result.
            let stale = IdempotencyStore.StoredResponse(status: 500, headers: [:], body: [])
            #expect(try await harness.store.complete(deadLease, response: stale, now: harness.clock.now()) == false)
            #expect(try await harness.store.release(deadLease) == false)
            let replayed = try await Self.post(client, "/v1/payments", caller: "alice", key: "k", body: body)
            #expect(replayed.headers[Self.replayedField] == "true")
            #expect(replayed.body == takenOver.body)
        }
    }

    @Test("only one of two concurrent retries takes over an expired claim", arguments: TestDatabases.kinds)
    func singleTakeOver(kind: Database.Kind) async throws {
        try await Self.withHarness(kind) { _, harness in
            _ = try await harness.store.claim(
                scope: "alice", key: "k", fingerprint: "f", method: "POST", path: "/v1/payments",
                now: harness.clock.now(), leaseDuration: .seconds(60), retention: .seconds(86_400))
            harness.clock.advance(milliseconds: 60_000)
            let record = try #require(try await harness.store.record(scope: "alice", key: "k"))
            let now = harness.clock.now()
            let leases = try await withThrowingTaskGroup(of: IdempotencyStore.Lease?.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await harness.store.takeOver(record, now: now, leaseDuration: .seconds(60))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(leases.compactMap { $0 }.count == 1)
        }
    }

    // MARK: Harness

    /// Counts the test handlers' executions.
    final class Executions: Sendable {
        private let value = Mutex(0)

        /// Counts one more execution and returns its number, from 1.
        func next() -> Int {
            self.value.withLock {
                $0 += 1
                return $0
            }
        }

        /// How many executions there were.
        var count: Int { self.value.withLock { $0 } }
    }

    /// What a test sees besides the client.
    struct Harness: Sendable {
        let database: Database
        let clock: ManualClock
        let executions: Executions
        let store: IdempotencyStore
        let purge: IdempotencyPurgeService

        /// The rows the handlers inserted.
        func rowCount() async throws -> Int {
            try await self.database.withConnection { connection in
                try await connection.raw("SELECT COUNT(*) AS n FROM test_payments").first()!
                    .decode(column: "n", as: Int.self)
            }
        }
    }

    /// Builds a router with a test authenticator, the idempotency middleware and counting routes on a fresh
    /// database of `kind`, and runs `body` against it.
    static func withHarness(
        _ kind: Database.Kind,
        handlerDelay: Duration = .zero,
        failures: Int = 0,
        responseBodyBytesMax: Int = IdempotencyMiddleware.Configuration.responseBodyBytesMaxDefault,
        _ body: @escaping @Sendable (any TestClientProtocol, Harness) async throws -> Void
    ) async throws {
        try await TestDatabases.with(kind) { databases in
            let database = databases[0]
            try await MigrationRunner(
                database: database, migrations: IdempotencyMigrations.all, logger: TestDatabases.logger
            ).migrate()
            try await database.transaction { connection in
                try await connection.raw(
                    """
                    CREATE TABLE test_payments (
                        id TEXT PRIMARY KEY, owner_reference TEXT NOT NULL, idempotency_key TEXT, body TEXT NOT NULL
                    )
                    """
                ).run()
            }
            let clock = ManualClock(Self.start)
            let harness = Harness(
                database: database, clock: clock, executions: Executions(),
                store: IdempotencyStore(database: database),
                purge: IdempotencyPurgeService(database: database, clock: clock, logger: TestDatabases.logger))
            let failuresLeft = Mutex(failures)

            let router = Router(context: AppRequestContext.self)
            router.add(middleware: ProblemRenderer())
            router.add(middleware: TestCallerAuthenticator())
            router.add(
                middleware: IdempotencyMiddleware(
                    database: database, clock: clock,
                    configuration: .init(requiredPaths: Self.requiredPaths, responseBodyBytesMax: responseBodyBytesMax))
            )
            let create: @Sendable (Request, AppRequestContext) async throws -> Response = { request, context in
                try await Self.create(request, context: context, harness: harness, delay: handlerDelay)
            }
            router.post("/v1/payments", use: create)
            router.patch("/v1/payments", use: create)
            router.post("/v1/payments/{id}/refunds", use: create)
            router.post("/v1/notes", use: create)
            router.get("/v1/payments") { _, _ in "[]" }
            router.post("/v1/flaky") { request, context in
                if failuresLeft.withLock({ left in
                    defer { left = max(0, left - 1) }
                    return left > 0
                }) {
                    _ = harness.executions.next()
                    throw APIError(.databaseUnavailable, detail: "scripted failure")
                }
                return try await Self.create(request, context: context, harness: harness, delay: .zero)
            }
            router.post("/v1/large") { _, _ in
                _ = harness.executions.next()
                return Response(
                    status: .ok, headers: [.contentType: "text/plain"],
                    body: ResponseBody { writer in
                        for _ in 0..<10 {
                            try await writer.write(ByteBuffer(string: String(repeating: "x", count: 10)))
                        }
                        try await writer.finish(nil)
                    })
            }
            try await Application(router: router, logger: TestDatabases.logger).test(.router) { client in
                try await body(client, harness)
            }
        }
    }

    /// The counting handler: needs a caller, inserts a row keyed by (caller, key), answers 201 with the row.
    static func create(
        _ request: Request, context: AppRequestContext, harness: Harness, delay: Duration
    ) async throws -> Response {
        let caller = try context.requireCaller()
        var request = request
        let body = String(buffer: try await request.collectBody(upTo: context.maxUploadSize))
        let execution = harness.executions.next()
        if delay > .zero { try await Task.sleep(for: delay) }
        let id = "pay_\(execution)"
        let key = context.idempotencyKey
        try await harness.database.transaction { connection in
            try await connection.raw(
                """
                INSERT INTO test_payments (id, owner_reference, idempotency_key, body)
                VALUES (\(bind: id), \(bind: caller.ownerReference), \(bind: key), \(bind: body))
                """
            ).run()
        }
        let json = #"{"execution":\#(execution),"id":"\#(id)","owner":"\#(caller.ownerReference)"}"#
        return Response(
            status: .created,
            headers: [
                .contentType: "application/json", .location: "/v1/payments/\(id)",
                HTTPField.Name("X-Handler-Only")!: "not replayed",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
    }

    /// Sends a request as `caller` with `key` (both optional).
    static func post(
        _ client: any TestClientProtocol, _ uri: String, method: HTTPRequest.Method = .post, caller: String?,
        key: String?, body: String
    ) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let caller { headers[Self.callerField] = caller }
        if let key { headers[Self.keyField] = key }
        return try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: body))
    }

    /// The problem+json `code` of a response.
    static func code(_ response: TestResponse) throws -> String? {
        let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
        return (object as? [String: Any])?["code"] as? String
    }

    /// Makes the caller named by `X-Test-Caller` the request's caller.
    struct TestCallerAuthenticator: RouterMiddleware {
        typealias Context = AppRequestContext

        func handle(
            _ request: Request, context: AppRequestContext,
            next: (Request, AppRequestContext) async throws -> Response
        ) async throws -> Response {
            var context = context
            if let name = request.headers[IdempotencyTests.callerField] {
                context.caller = Caller(ownerReference: name, roles: [.customer])
            }
            return try await next(request, context)
        }
    }

    /// Renders errors as `PlatformMiddleware` does: `APIError` as problem+json, anything else as a bare 500.
    struct ProblemRenderer: RouterMiddleware {
        typealias Context = AppRequestContext

        func handle(
            _ request: Request, context: AppRequestContext,
            next: (Request, AppRequestContext) async throws -> Response
        ) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as APIError {
                return error.response(requestID: "test", instance: request.uri.path)
            } catch {
                return APIError(.internalError).response(requestID: "test", instance: request.uri.path)
            }
        }
    }
}
