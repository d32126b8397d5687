import Foundation
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriDatabase
import KauriServer
import KauriTestSupport
import Testing

/// The ledger's HTTP API, driven through the real application on SQLite and, when POSTGRES_URL is set, on a
/// fresh PostgreSQL schema.
@Suite("Ledger API")
struct LedgerAPITests {
    static let adminKey = "test-admin-key-0123456789abcdef0123456789"

    /// The engines to run each test on, as in the ledger's own tests.
    static var kinds: [Database.Kind] {
        ProcessInfo.processInfo.environment["POSTGRES_URL"].map { _ in [.sqlite, .postgres] } ?? [.sqlite]
    }

    /// A decoded response: status, content type and the JSON object of the body (empty if there is none).
    struct Reply {
        let status: HTTPResponse.Status
        let contentType: String?
        let json: [String: Any]

        var code: String? { self.json["code"] as? String }
        var data: [[String: Any]] { self.json["data"] as? [[String: Any]] ?? [] }
        var fieldErrors: [[String: Any]] { self.json["errors"] as? [[String: Any]] ?? [] }
        var nextCursor: String? { self.json["next_cursor"] as? String }
    }

    // MARK: Harness

    /// Runs `body` against the application with the admin key set, on a fresh database of `kind`.
    func withApp(
        _ kind: Database.Kind, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        var settings = ServerSettings()
        settings.adminAPIKey = Secret(Self.adminKey)
        switch kind {
        case .sqlite:
            try await TestApp.run(settings: settings) { client, _ in try await body(client) }
        case .postgres:
            let url = try #require(ProcessInfo.processInfo.environment["POSTGRES_URL"])
            let schema = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let admin = try Database(.postgres(url: .init(url), poolSize: 1), logger: TestApp.quietLogger)
            try await admin.withConnection { try await $0.raw("CREATE SCHEMA \(unsafeRaw: schema)").run() }
            let database = try Database(
                .postgres(url: .init(url), poolSize: 2, searchPath: [schema]), logger: TestApp.quietLogger,
                connectionRequestTimeout: TestDatabases.connectionRequestTimeout)
            func teardown() async {
                await database.shutdown()
                try? await admin.withConnection { try await $0.raw("DROP SCHEMA \(unsafeRaw: schema) CASCADE").run() }
                await admin.shutdown()
            }
            do {
                try await MigrationRunner(database: database, migrations: allMigrations, logger: TestApp.quietLogger)
                    .migrate()
                try await TestApp.run(settings: settings, database: database) { client, _ in try await body(client) }
            } catch {
                await teardown()
                throw error
            }
            await teardown()
        }
    }

    /// Sends a request (with the admin key unless `key` says otherwise) and decodes the answer.
    func send(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, body: [String: Any]? = nil,
        key: String? = LedgerAPITests.adminKey
    ) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let key { headers[.authorization] = "Bearer \(key)" }
        var buffer: ByteBuffer?
        if let body {
            headers[.contentType] = "application/json"
            buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))
        }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: buffer)
        let json = response.body.readableBytes == 0 ? [:] : try TestApp.json(response.body)
        return Reply(status: response.status, contentType: response.headers[.contentType], json: json)
    }

    /// Creates an account and expects 201.
    @discardableResult
    func createAccount(
        _ client: any TestClientProtocol, _ id: String, currency: String = "NGN", code: String = "test_account",
        owner: String? = nil, flags: [String] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        var body: [String: Any] = ["id": id, "currency": currency, "code": code, "flags": flags]
        if let owner { body["owner_reference"] = owner }
        let reply = try await self.send(client, .post, "/v1/ledger/accounts", body: body)
        #expect(reply.status == .created, "create account \(id): \(reply.json)", sourceLocation: sourceLocation)
        return reply
    }

    /// One `single` transfer item.
    func single(
        _ id: String, from debit: String, to credit: String, _ amount: Int64, currency: String = "NGN"
    ) -> [String: Any] {
        [
            "id": id, "kind": "single", "debit_account_id": debit, "credit_account_id": credit, "amount": amount,
            "currency": currency, "code": "manual_entry",
        ]
    }

    /// Submits a chain of transfers.
    func submit(_ client: any TestClientProtocol, _ transfers: [[String: Any]]) async throws -> Reply {
        try await self.send(client, .post, "/v1/ledger/transfers", body: ["transfers": transfers])
    }

    /// Every transfer id in commit order, read through the paginated list.
    func allTransferIDs(_ client: any TestClientProtocol, accountID: String? = nil) async throws -> [String] {
        var ids: [String] = []
        var cursor: String?
        repeat {
            var uri = "/v1/ledger/transfers?limit=100"
            if let accountID { uri += "&account_id=\(accountID)" }
            if let cursor { uri += "&cursor=\(cursor)" }
            let reply = try await self.send(client, .get, uri)
            #expect(reply.status == .ok)
            ids += reply.data.compactMap { $0["id"] as? String }
            cursor = reply.nextCursor
        } while cursor != nil
        return ids
    }

    /// The balances of an account: debits_pending, debits_posted, credits_pending, credits_posted, available.
    func balances(_ client: any TestClientProtocol, _ id: String, query: String = "") async throws -> [Int] {
        let reply = try await self.send(client, .get, "/v1/ledger/accounts/\(id)\(query)")
        #expect(reply.status == .ok, "GET account \(id)\(query): \(reply.json)")
        return ["debits_pending", "debits_posted", "credits_pending", "credits_posted", "available"].map {
            reply.json[$0] as? Int ?? -1
        }
    }

    // MARK: 1. Authentication

    @Test("ledger routes answer 401 auth.unauthenticated without a bearer key or with a wrong one", arguments: kinds)
    func unauthenticated(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            let uris = ["/v1/balances", "/v1/ledger/transfers", "/v1/ledger/accounts/anything"]
            let keys: [String?] = [nil, "wrong-key-0123456789abcdef0123456789abcdef", Self.adminKey + "x", ""]
            for uri in uris {
                for key in keys {
                    let reply = try await self.send(client, .get, uri, key: key)
                    #expect(reply.status == .unauthorized, "\(uri) key \(key ?? "none")")
                    #expect(reply.contentType == "application/problem+json")
                    #expect(reply.code == "auth.unauthenticated", "\(uri) key \(key ?? "none")")
                }
            }
            let response = try await client.execute(uri: "/v1/balances", method: .get)
            #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="kauri""#)
            // A write without the key is refused too, before its body is looked at.
            let post = try await self.send(
                client, .post, "/v1/ledger/accounts", body: ["id": "a", "currency": "NGN", "code": "x"], key: nil)
            #expect(post.status == .unauthorized)
            #expect(post.code == "auth.unauthenticated")
            // Other schemes are not the admin key.
            let basic = try await client.execute(
                uri: "/v1/balances", method: .get, headers: [.authorization: "Basic \(Self.adminKey)"])
            #expect(basic.status == .unauthorized)
        }
    }

    // MARK: 2. Accounts

    @Test(
        "POST /v1/ledger/accounts creates (201), replays (200) and refuses a conflicting replay (409)",
        arguments: kinds)
    func createAccountIdempotent(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            let body: [String: Any] = [
                "id": "wallet:usr_1:NGN", "currency": "NGN", "code": "wallet", "owner_reference": "usr_1",
                "flags": ["debits_must_not_exceed_credits"],
            ]
            let created = try await self.send(client, .post, "/v1/ledger/accounts", body: body)
            #expect(created.status == .created)
            #expect(created.json["id"] as? String == "wallet:usr_1:NGN")
            #expect(created.json["currency"] as? String == "NGN")
            #expect(created.json["code"] as? String == "wallet")
            #expect(created.json["owner_reference"] as? String == "usr_1")
            #expect(created.json["flags"] as? [String] == ["debits_must_not_exceed_credits"])
            for field in ["debits_pending", "debits_posted", "credits_pending", "credits_posted", "available"] {
                #expect(created.json[field] as? Int == 0, "\(field)")
            }
            let createdAt = try #require(created.json["created_at"] as? String)
            #expect(Timestamp(rfc3339: createdAt) != nil)
            #expect(created.json["as_of"] == nil)

            let replay = try await self.send(client, .post, "/v1/ledger/accounts", body: body)
            #expect(replay.status == .ok)
            #expect(replay.json["id"] as? String == "wallet:usr_1:NGN")
            #expect(replay.json["created_at"] as? String == createdAt)

            var otherCurrency = body
            otherCurrency["currency"] = "KES"
            let conflict = try await self.send(client, .post, "/v1/ledger/accounts", body: otherCurrency)
            #expect(conflict.status == .conflict)
            #expect(conflict.contentType == "application/problem+json")
            #expect(conflict.code == "ledger.account_exists_with_different_currency")

            var otherFlags = body
            otherFlags["flags"] = ["history"]
            let flagConflict = try await self.send(client, .post, "/v1/ledger/accounts", body: otherFlags)
            #expect(flagConflict.status == .conflict)
            #expect(flagConflict.code == "ledger.account_exists_with_different_flags")

            // The conflicting replays changed nothing.
            let stored = try await self.send(client, .get, "/v1/ledger/accounts/wallet:usr_1:NGN")
            #expect(stored.json["currency"] as? String == "NGN")
            #expect(stored.json["flags"] as? [String] == ["debits_must_not_exceed_credits"])
        }
    }

    @Test("POST /v1/ledger/accounts with a bad currency or unknown flag is 422 with field errors", arguments: kinds)
    func createAccountValidation(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            let bad = try await self.send(
                client, .post, "/v1/ledger/accounts",
                body: ["id": "acct_1", "currency": "XYZ", "code": "wallet", "flags": ["history", "overdraft"]])
            #expect(bad.status == .unprocessableContent)
            #expect(bad.contentType == "application/problem+json")
            #expect(bad.code == "request.validation_failed")
            let errors = bad.fieldErrors.map { "\($0["field"] as? String ?? "?")/\($0["code"] as? String ?? "?")" }
            #expect(errors == ["currency/unsupported", "flags[1]/unknown"])

            let badIDAndCode = try await self.send(
                client, .post, "/v1/ledger/accounts", body: ["id": "has space", "currency": "NGN", "code": "Wallet"])
            #expect(badIDAndCode.status == .unprocessableContent)
            let fields = badIDAndCode.fieldErrors.compactMap { $0["field"] as? String }
            #expect(fields == ["id", "code"])

            let exclusive = try await self.send(
                client, .post, "/v1/ledger/accounts",
                body: [
                    "id": "acct_2", "currency": "NGN", "code": "wallet",
                    "flags": ["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"],
                ])
            #expect(exclusive.status == .unprocessableContent)
            #expect(exclusive.code == "ledger.flags_are_mutually_exclusive")

            // Nothing was created.
            for id in ["acct_1", "acct_2"] {
                let missing = try await self.send(client, .get, "/v1/ledger/accounts/\(id)")
                #expect(missing.status == .notFound, "\(id)")
            }
        }
    }

    // MARK: 3. Transfers

    @Test(
        "POST /v1/ledger/transfers commits (201), replays (200) and refuses a different amount (409)",
        arguments: kinds)
    func singleTransferIdempotent(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            try await self.createAccount(client, "funding")
            try await self.createAccount(client, "wallet")
            let transfer = self.single("t_1", from: "funding", to: "wallet", 2_500)
            let created = try await self.submit(client, [transfer])
            #expect(created.status == .created, "\(created.json)")
            #expect(created.data.count == 1)
            let first = try #require(created.data.first)
            #expect(first["id"] as? String == "t_1")
            #expect(first["kind"] as? String == "single")
            #expect(first["amount"] as? Int == 2_500)
            #expect(first["currency"] as? String == "NGN")
            #expect(first["code"] as? String == "manual_entry")
            #expect(first["debit_account_id"] as? String == "funding")
            #expect(first["credit_account_id"] as? String == "wallet")
            #expect(first["pending_id"] is NSNull)
            #expect(first["expires_at"] is NSNull)
            let createdAt = try #require(first["created_at"] as? String)
            #expect(Timestamp(rfc3339: createdAt) != nil)

            let replay = try await self.submit(client, [transfer])
            #expect(replay.status == .ok)
            #expect(replay.data.count == 1)
            #expect(replay.data.first?["id"] as? String == "t_1")
            #expect(replay.data.first?["amount"] as? Int == 2_500)
            #expect(replay.data.first?["created_at"] as? String == createdAt)

            let different = try await self.submit(client, [self.single("t_1", from: "funding", to: "wallet", 2_501)])
            #expect(different.status == .conflict)
            #expect(different.contentType == "application/problem+json")
            #expect(different.code == "ledger.exists_with_different_amount")

            // Moved once.
            #expect(try await self.balances(client, "wallet") == [0, 0, 0, 2_500, 2_500])
            #expect(try await self.balances(client, "funding") == [0, 2_500, 0, 0, -2_500])
            #expect(try await self.allTransferIDs(client) == ["t_1"])
        }
    }

    @Test("POST /v1/ledger/transfers with a bad item is 422 with the item's field path", arguments: kinds)
    func transferValidation(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            let empty = try await self.submit(client, [])
            #expect(empty.status == .unprocessableContent)
            #expect(empty.code == "request.validation_failed")
            #expect(empty.fieldErrors.first?["field"] as? String == "transfers")

            var badKind = self.single("t_1", from: "a", to: "b", 1)
            badKind["kind"] = "refund"
            var noAmount = self.single("t_2", from: "a", to: "b", 1)
            noAmount["amount"] = nil
            let reply = try await self.submit(client, [badKind, noAmount])
            #expect(reply.status == .unprocessableContent)
            let fields = reply.fieldErrors.compactMap { $0["field"] as? String }
            #expect(fields == ["transfers[0].kind", "transfers[1].amount"])

            let unknownAccount = try await self.submit(client, [self.single("t_3", from: "nope", to: "nada", 1)])
            #expect(unknownAccount.status == .unprocessableContent)
            #expect(unknownAccount.code == "ledger.debit_account_not_found")
        }
    }

    // MARK: 4. Overdraft and linked chains

    @Test("a debit beyond credits is 422 ledger.exceeds_credits and commits nothing", arguments: kinds)
    func overdraftRefused(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            try await self.createAccount(client, "funding")
            try await self.createAccount(client, "wallet", flags: ["debits_must_not_exceed_credits"])
            try await self.createAccount(client, "merchant")
            let funded = try await self.submit(client, [self.single("fund", from: "funding", to: "wallet", 1_000)])
            #expect(funded.status == .created)
            #expect(try await self.balances(client, "wallet") == [0, 0, 0, 1_000, 1_000])

            let overdraft = try await self.submit(client, [self.single("spend", from: "wallet", to: "merchant", 1_001)])
            #expect(overdraft.status == .unprocessableContent)
            #expect(overdraft.contentType == "application/problem+json")
            #expect(overdraft.code == "ledger.exceeds_credits")
            #expect(try await self.allTransferIDs(client) == ["fund"])
            #expect(try await self.balances(client, "wallet") == [0, 0, 0, 1_000, 1_000])

            // The refused id was not used: a smaller debit under it commits.
            let smaller = try await self.submit(client, [self.single("spend", from: "wallet", to: "merchant", 999)])
            #expect(smaller.status == .created, "\(smaller.json)")
            #expect(try await self.balances(client, "wallet") == [0, 999, 0, 1_000, 1])
        }
    }

    @Test(
        "a debit of exactly the credits posted is allowed: the limit is debits ≤ credits, not debits < credits",
        arguments: kinds)
    func debitOfExactBalanceAllowed(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            try await self.createAccount(client, "funding")
            try await self.createAccount(client, "wallet", flags: ["debits_must_not_exceed_credits"])
            try await self.createAccount(client, "merchant")
            let funded = try await self.submit(client, [self.single("fund", from: "funding", to: "wallet", 1_000)])
            #expect(funded.status == .created)

            let exact = try await self.submit(client, [self.single("spend", from: "wallet", to: "merchant", 1_000)])
            #expect(exact.status == .created, "\(exact.json)")
            #expect(try await self.balances(client, "wallet") == [0, 1_000, 0, 1_000, 0])

            // The mirror limit already allows equality: credits up to exactly the debits posted.
            try await self.createAccount(client, "clearing", flags: ["credits_must_not_exceed_debits"])
            let owed = try await self.submit(client, [self.single("owed", from: "clearing", to: "funding", 300)])
            #expect(owed.status == .created, "\(owed.json)")
            let settled = try await self.submit(client, [self.single("settle", from: "funding", to: "clearing", 300)])
            #expect(settled.status == .created, "\(settled.json)")
        }
    }

    @Test("a linked chain whose second transfer fails answers that one's code and commits neither", arguments: kinds)
    func linkedChainAllOrNothing(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            try await self.createAccount(client, "funding")
            try await self.createAccount(client, "wallet", flags: ["debits_must_not_exceed_credits"])
            try await self.createAccount(client, "merchant")
            let first = self.single("chain_1", from: "funding", to: "wallet", 500)
            let second = self.single("chain_2", from: "wallet", to: "merchant", 501)
            let reply = try await self.submit(client, [first, second])
            #expect(reply.status == .unprocessableContent)
            #expect(reply.code == "ledger.exceeds_credits")
            let detail = reply.json["detail"] as? String ?? ""
            #expect(detail.hasPrefix("transfers[1]:"), "\(detail)")
            #expect(try await self.allTransferIDs(client).isEmpty)
            #expect(try await self.balances(client, "wallet") == [0, 0, 0, 0, 0])
            #expect(try await self.balances(client, "funding") == [0, 0, 0, 0, 0])

            // The first id was not used: it commits now, and the chain then commits whole.
            let alone = try await self.submit(client, [first])
            #expect(alone.status == .created)
            let chain = try await self.submit(
                client, [first, self.single("chain_2", from: "wallet", to: "merchant", 400)])
            #expect(chain.status == .created, "\(chain.json)")
            #expect(chain.data.compactMap { $0["id"] as? String } == ["chain_1", "chain_2"])
            #expect(try await self.allTransferIDs(client) == ["chain_1", "chain_2"])
        }
    }

    // MARK: 5. Two-phase

    @Test("a pending transfer posted in part moves posted balances; posting it again is 409", arguments: kinds)
    func pendingThenPost(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            try await self.createAccount(client, "customer")
            try await self.createAccount(client, "merchant")
            let pending = try await self.submit(
                client,
                [
                    [
                        "id": "hold_1", "kind": "pending", "debit_account_id": "customer",
                        "credit_account_id": "merchant", "amount": 1_000, "currency": "NGN", "code": "hold",
                        "timeout_seconds": 3_600,
                    ]
                ])
            #expect(pending.status == .created, "\(pending.json)")
            #expect(pending.data.first?["kind"] as? String == "pending")
            let expiresAt = pending.data.first?["expires_at"] as? String
            #expect(expiresAt.flatMap(Timestamp.init(rfc3339:)) != nil)
            #expect(try await self.balances(client, "customer") == [1_000, 0, 0, 0, -1_000])
            #expect(try await self.balances(client, "merchant") == [0, 0, 1_000, 0, 0])

            let post = try await self.submit(
                client, [["id": "capture_1", "kind": "post", "pending_id": "hold_1", "amount": 600, "code": "capture"]])
            #expect(post.status == .created, "\(post.json)")
            let posted = try #require(post.data.first)
            #expect(posted["kind"] as? String == "post")
            #expect(posted["pending_id"] as? String == "hold_1")
            #expect(posted["amount"] as? Int == 600)
            #expect(posted["debit_account_id"] as? String == "customer")
            #expect(posted["credit_account_id"] as? String == "merchant")
            #expect(try await self.balances(client, "customer") == [0, 600, 0, 0, -600])
            #expect(try await self.balances(client, "merchant") == [0, 0, 0, 600, 600])

            let again = try await self.submit(
                client, [["id": "capture_2", "kind": "post", "pending_id": "hold_1", "amount": 100, "code": "capture"]])
            #expect(again.status == .conflict)
            #expect(again.code == "ledger.pending_transfer_already_posted")
            let void = try await self.submit(
                client, [["id": "void_1", "kind": "void", "pending_id": "hold_1", "code": "void"]])
            #expect(void.status == .conflict)
            #expect(void.code == "ledger.pending_transfer_already_posted")
            #expect(try await self.balances(client, "merchant") == [0, 0, 0, 600, 600])
            #expect(try await self.allTransferIDs(client) == ["hold_1", "capture_1"])
        }
    }

    // MARK: 6. Balances and account reads

    @Test(
        "GET /v1/balances?owner= lists that owner's accounts with balances; an unknown account is 404",
        arguments: kinds)
    func balancesByOwner(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            try await self.createAccount(client, "wallet:usr_42:NGN", code: "wallet", owner: "usr_42")
            try await self.createAccount(client, "wallet:usr_42:KES", currency: "KES", code: "wallet", owner: "usr_42")
            try await self.createAccount(client, "wallet:usr_7:NGN", code: "wallet", owner: "usr_7")
            try await self.createAccount(client, "revenue:NGN", code: "platform_revenue", owner: "platform")
            try await self.createAccount(client, "funding:NGN", code: "external_funding")
            let funded = try await self.submit(
                client, [self.single("fund", from: "funding:NGN", to: "wallet:usr_42:NGN", 7_000)])
            #expect(funded.status == .created)

            let mine = try await self.send(client, .get, "/v1/balances?owner=usr_42")
            #expect(mine.status == .ok)
            #expect(mine.data.compactMap { $0["id"] as? String } == ["wallet:usr_42:KES", "wallet:usr_42:NGN"])
            #expect(mine.data.allSatisfy { $0["owner_reference"] as? String == "usr_42" })
            #expect(mine.data.last?["credits_posted"] as? Int == 7_000)
            #expect(mine.data.last?["available"] as? Int == 7_000)
            #expect(mine.data.first?["credits_posted"] as? Int == 0)

            let platform = try await self.send(client, .get, "/v1/balances")
            #expect(platform.status == .ok)
            #expect(platform.data.compactMap { $0["id"] as? String } == ["revenue:NGN"])

            let nobody = try await self.send(client, .get, "/v1/balances?owner=usr_none")
            #expect(nobody.status == .ok)
            #expect(nobody.data.isEmpty)

            for id in ["wallet:usr_99:NGN", "not%20an%20id"] {
                let missing = try await self.send(client, .get, "/v1/ledger/accounts/\(id)")
                #expect(missing.status == .notFound, "\(id)")
                #expect(missing.contentType == "application/problem+json")
                #expect(missing.code == "ledger.account_not_found", "\(id)")
            }
        }
    }

    // MARK: 7. Transfer pages

    @Test(
        "GET /v1/ledger/transfers pages in commit order by cursor, filters by account, refuses forged cursors",
        arguments: kinds)
    func transferPagination(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            for id in ["a", "b", "c"] { try await self.createAccount(client, id) }
            let plan: [(String, String, String)] = [
                ("p_5", "a", "b"), ("p_3", "b", "c"), ("p_1", "a", "c"), ("p_4", "c", "a"), ("p_2", "b", "a"),
            ]
            for (index, (id, debit, credit)) in plan.enumerated() {
                let reply = try await self.submit(client, [self.single(id, from: debit, to: credit, Int64(index + 1))])
                #expect(reply.status == .created, "\(id)")
            }

            var pages: [[String]] = []
            var cursor: String?
            repeat {
                let uri = "/v1/ledger/transfers?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let reply = try await self.send(client, .get, uri)
                #expect(reply.status == .ok, "\(uri): \(reply.json)")
                pages.append(reply.data.compactMap { $0["id"] as? String })
                #expect(reply.json.keys.contains("next_cursor"))
                cursor = reply.nextCursor
            } while cursor != nil && pages.count < 10
            #expect(pages == [["p_5", "p_3"], ["p_1", "p_4"], ["p_2"]])

            let full = try await self.send(client, .get, "/v1/ledger/transfers")
            #expect(full.data.compactMap { $0["id"] as? String } == ["p_5", "p_3", "p_1", "p_4", "p_2"])
            #expect(full.json["next_cursor"] is NSNull)

            #expect(try await self.allTransferIDs(client, accountID: "a") == ["p_5", "p_1", "p_4", "p_2"])
            #expect(try await self.allTransferIDs(client, accountID: "c") == ["p_3", "p_1", "p_4"])
            let filtered = try await self.send(client, .get, "/v1/ledger/transfers?account_id=b&limit=1")
            #expect(filtered.data.compactMap { $0["id"] as? String } == ["p_5"])
            let next = try #require(filtered.nextCursor)
            let rest = try await self.send(client, .get, "/v1/ledger/transfers?account_id=b&limit=5&cursor=\(next)")
            #expect(rest.data.compactMap { $0["id"] as? String } == ["p_3", "p_2"])
            let noneYet = try await self.send(client, .get, "/v1/ledger/transfers?account_id=unknown_account")
            #expect(noneYet.status == .ok)
            #expect(noneYet.data.isEmpty)

            let badQueries = [
                "cursor=forged!!", "cursor=eyJhIjoxfQ", "limit=0", "limit=101", "limit=two", "account_id=bad%20id",
            ]
            for query in badQueries {
                let reply = try await self.send(client, .get, "/v1/ledger/transfers?\(query)")
                #expect(reply.status == .badRequest, "\(query)")
                #expect(reply.contentType == "application/problem+json")
                #expect(reply.code == "request.invalid_query", "\(query)")
            }
        }
    }

    // MARK: 8. Balances as of a time

    @Test(
        "GET /v1/ledger/accounts/{id}?as_of= answers a history account's balances then; a bad as_of is 400",
        arguments: kinds)
    func balancesAsOf(kind: Database.Kind) async throws {
        try await self.withApp(kind) { client in
            try await self.createAccount(client, "funding")
            try await self.createAccount(client, "savings", flags: ["history"])
            let first = try await self.submit(client, [self.single("h_1", from: "funding", to: "savings", 100)])
            let firstAt = try #require(first.data.first?["created_at"] as? String)
            // Let the clock move on so the second transfer has a later millisecond.
            try await Task.sleep(for: .milliseconds(20))
            let second = try await self.submit(client, [self.single("h_2", from: "funding", to: "savings", 50)])
            let secondAt = try #require(second.data.first?["created_at"] as? String)
            #expect(firstAt < secondAt)

            let then = try await self.send(client, .get, "/v1/ledger/accounts/savings?as_of=\(firstAt)")
            #expect(then.status == .ok, "\(then.json)")
            #expect(then.json["credits_posted"] as? Int == 100)
            #expect(then.json["available"] as? Int == 100)
            #expect(then.json["as_of"] as? String == firstAt)
            #expect(try await self.balances(client, "savings", query: "?as_of=\(secondAt)") == [0, 0, 0, 150, 150])
            let before = try await self.balances(client, "savings", query: "?as_of=2001-01-01T00:00:00Z")
            #expect(before == [0, 0, 0, 0, 0])
            #expect(try await self.balances(client, "savings") == [0, 0, 0, 150, 150])

            for asOf in ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01", ""] {
                let reply = try await self.send(client, .get, "/v1/ledger/accounts/savings?as_of=\(asOf)")
                #expect(reply.status == .badRequest, "as_of=\(asOf)")
                #expect(reply.code == "request.invalid_query", "as_of=\(asOf)")
            }
            let noHistory = try await self.send(client, .get, "/v1/ledger/accounts/funding?as_of=\(firstAt)")
            #expect(noHistory.status == .badRequest)
            #expect(noHistory.code == "request.invalid_query")
        }
    }
}
