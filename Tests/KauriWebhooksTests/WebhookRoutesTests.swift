import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriTestSupport
import KauriWebhooks
import NIOCore
import SQLKit
import Testing

/// The admin routes over HTTP (router-level), on SQLite and PostgreSQL: roles, validation codes, the secret
/// shown once, pagination, rotation, deletion, delivery listing and replay.
@Suite("Webhook routes")
struct WebhookRoutesTests {
    static let adminKey = "test-admin-key-0123456789abcdef"
    static let customerToken = "customer-token"

    /// Renders `APIError` as problem+json, as `PlatformMiddleware` does in the server, and lets a fixed bearer
    /// token stand for a customer.
    struct TestMiddleware: RouterMiddleware {
        typealias Context = AppRequestContext
        func handle(
            _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
        ) async throws -> Response {
            var context = context
            if request.headers[.authorization] == "Bearer \(WebhookRoutesTests.customerToken)" {
                context.caller = Caller(ownerReference: "usr_1", roles: [.customer])
            }
            do {
                return try await next(request, context)
            } catch let error as APIError {
                return error.response(requestID: "req_test", instance: request.uri.path)
            }
        }
    }

    struct Reply {
        let status: HTTPResponse.Status
        let json: [String: Any]
        var code: String? { self.json["code"] as? String }
    }

    static func withApp(
        _ body: @escaping @Sendable (any TestClientProtocol, WebhookEvents, StubResolver, Database) async throws -> Void
    ) async throws {
        for kind in TestDatabases.kinds {
            try await TestDatabases.with(kind) { databases in
                try await MigrationRunner(
                    database: databases[0], migrations: WebhookMigrations.all, logger: TestDatabases.logger
                ).migrate()
                let clock = ManualClock(Timestamp(unixMilliseconds: 1_795_000_000_000))
                let ids = IDGenerator(clock: clock, random: SeededRandom(seed: 3))
                let events = WebhookEvents(database: databases[0], ids: ids, clock: clock)
                let resolver = StubResolver(["hooks.example.com": ["93.184.216.34"]])
                let router = Router(context: AppRequestContext.self)
                router.add(middleware: TestMiddleware())
                router.add(middleware: AdminKeyAuthenticator(key: Self.adminKey))
                let api = DocumentedRouter(router: router, registry: RouteRegistry())
                WebhookEndpointRoutes(
                    events: events, urlGuard: WebhookURLGuard(resolver: resolver), limits: Limits(pageSizeDefault: 2)
                ).addRoutes(to: api)
                let app = Application(router: router)
                try await app.test(.router) { client in try await body(client, events, resolver, databases[0]) }
            }
        }
    }

    static func call(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ path: String, json: Any? = nil,
        token: String? = Self.adminKey
    ) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        }
        return try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
            let data = Data(buffer: response.body)
            let object = data.isEmpty ? [:] : (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return Reply(status: response.status, json: object)
        }
    }

    @Test("every route is admin only: 401 without credentials, 403 for a customer")
    func adminOnly() async throws {
        try await Self.withApp { client, _, _, _ in
            let id = "whe_00000000000000000000000000"
            let routes: [(HTTPRequest.Method, String)] = [
                (.post, "/v1/webhook-endpoints"), (.get, "/v1/webhook-endpoints"),
                (.get, "/v1/webhook-endpoints/\(id)"),
                (.delete, "/v1/webhook-endpoints/\(id)"), (.post, "/v1/webhook-endpoints/\(id)/secret/rotate"),
                (.post, "/v1/webhook-endpoints/\(id)/enable"), (.get, "/v1/webhook-endpoints/\(id)/deliveries"),
                (.post, "/v1/webhook-deliveries/whd_00000000000000000000000000/retry"),
            ]
            let body: [String: Any] = ["url": "https://hooks.example.com/x", "events": ["*"]]
            for (method, path) in routes {
                let anonymous = try await Self.call(client, method, path, json: body, token: nil)
                #expect(anonymous.status == .unauthorized && anonymous.code == "auth.unauthenticated", "\(path)")
                let customer = try await Self.call(client, method, path, json: body, token: Self.customerToken)
                #expect(customer.status == .forbidden && customer.code == "auth.forbidden", "\(path)")
            }
        }
    }

    @Test("registration validates with webhook.* codes, including every forbidden address")
    func validation() async throws {
        try await Self.withApp { client, _, resolver, _ in
            func create(_ body: [String: Any]) async throws -> Reply {
                try await Self.call(client, .post, "/v1/webhook-endpoints", json: body)
            }
            let url = "https://hooks.example.com/x"
            let cases: [([String: Any], String)] = [
                (["url": url, "events": []], "webhook.event_type_invalid"),
                (["url": url, "events": ["Payment.Succeeded"]], "webhook.event_type_invalid"),
                (["url": url, "events": ["payment"]], "webhook.event_type_invalid"),
                (["url": url, "events": (0...50).map { "event.n\($0)" }], "webhook.too_many_event_types"),
                (
                    ["url": url, "events": ["*"], "description": String(repeating: "x", count: 501)],
                    "webhook.description_too_long"
                ),
                (["url": "not a url", "events": ["*"]], "webhook.url_invalid"),
                (["url": "ftp://hooks.example.com/x", "events": ["*"]], "webhook.url_not_allowed"),
                (["url": "https://unknown.example.com/x", "events": ["*"]], "webhook.url_not_allowed"),
                (["url": url, "events": "payment.succeeded"], "request.validation_failed"),
            ]
            for (body, code) in cases {
                let reply = try await create(body)
                #expect(reply.status.code == 422 && reply.code == code, "\(body): \(reply.json)")
            }
            for address in WebhookURLGuardTests.forbidden {
                let host = address.contains(":") ? "[\(address)]" : address
                let literal = try await create(["url": "https://\(host)/hook", "events": ["*"]])
                #expect(literal.code == "webhook.url_not_allowed", "\(address)")
                resolver.set("evil.example.com", [address])
                let resolved = try await create(["url": "https://evil.example.com/hook", "events": ["*"]])
                #expect(resolved.code == "webhook.url_not_allowed", "\(address)")
            }
            let listed = try await Self.call(client, .get, "/v1/webhook-endpoints")
            #expect((listed.json["data"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("create shows the secret once; get, list with pagination, rotate, delete")
    func lifecycle() async throws {
        try await Self.withApp { client, _, _, _ in
            var ids: [String] = []
            for index in 0..<3 {
                let created = try await Self.call(
                    client, .post, "/v1/webhook-endpoints",
                    json: [
                        "url": "https://hooks.example.com/\(index)",
                        "events": ["payment.succeeded", "payment.succeeded"],
                        "description": "shop \(index)",
                    ])
                #expect(created.status == .created)
                #expect((created.json["secret"] as? String)?.hasPrefix("whsec_") == true)
                #expect(created.json["events"] as? [String] == ["payment.succeeded"])
                #expect(created.json["state"] as? String == "enabled")
                ids.append(try #require(created.json["id"] as? String))
            }
            let one = try await Self.call(client, .get, "/v1/webhook-endpoints/\(ids[0])")
            #expect(one.status == .ok && one.json["secret"] == nil && one.json["description"] as? String == "shop 0")

            let first = try await Self.call(client, .get, "/v1/webhook-endpoints")
            let firstIDs = (first.json["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            #expect(firstIDs == Array(ids.prefix(2)))
            #expect((first.json["data"] as? [[String: Any]] ?? []).allSatisfy { $0["secret"] == nil })
            let cursor = try #require(first.json["next_cursor"] as? String)
            let second = try await Self.call(client, .get, "/v1/webhook-endpoints?cursor=\(cursor)")
            #expect((second.json["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } == [ids[2]])
            #expect(second.json["next_cursor"] is NSNull)
            let forged = try await Self.call(client, .get, "/v1/webhook-endpoints?cursor=forged!")
            #expect(forged.code == "request.invalid_query")

            let rotated = try await Self.call(client, .post, "/v1/webhook-endpoints/\(ids[0])/secret/rotate")
            #expect(rotated.status == .ok && (rotated.json["secret"] as? String)?.hasPrefix("whsec_") == true)
            #expect(
                rotated.json["previous_secret_expires_at"] as? String
                    == Timestamp(unixMilliseconds: 1_795_086_400_000).rfc3339)

            let enabled = try await Self.call(client, .post, "/v1/webhook-endpoints/\(ids[0])/enable")
            #expect(enabled.status == .ok && enabled.json["state"] as? String == "enabled")

            let deleted = try await Self.call(client, .delete, "/v1/webhook-endpoints/\(ids[0])")
            #expect(deleted.status == .noContent)
            let gone = try await Self.call(client, .get, "/v1/webhook-endpoints/\(ids[0])")
            #expect(gone.status == .notFound && gone.code == "webhook.endpoint_not_found")
            let again = try await Self.call(client, .delete, "/v1/webhook-endpoints/\(ids[0])")
            #expect(again.code == "webhook.endpoint_not_found")
            let malformed = try await Self.call(client, .get, "/v1/webhook-endpoints/nope")
            #expect(malformed.code == "webhook.endpoint_not_found")
        }
    }

    @Test("deliveries are listed with attempts and errors; only failed ones are replayed")
    func deliveriesAndReplay() async throws {
        try await Self.withApp { client, events, _, database in
            let created = try await Self.call(
                client, .post, "/v1/webhook-endpoints", json: ["url": "https://hooks.example.com/x", "events": ["*"]])
            let endpointID = try #require(created.json["id"] as? String)
            let messageID = try #require(
                try await database.transaction { connection in
                    try await events.emit(type: "refund.failed", data: ["refund_id": "ref_1"], on: connection)
                })
            let delivery = try #require(try await events.store.deliveries(messageID: messageID).first)
            let listed = try await Self.call(client, .get, "/v1/webhook-endpoints/\(endpointID)/deliveries")
            let rows = listed.json["data"] as? [[String: Any]] ?? []
            #expect(rows.count == 1)
            #expect(rows.first?["message_id"] as? String == messageID.description)
            #expect(rows.first?["state"] as? String == "pending" && rows.first?["attempts"] as? Int == 0)

            let notFailed = try await Self.call(client, .post, "/v1/webhook-deliveries/\(delivery.id)/retry")
            #expect(notFailed.status == .conflict && notFailed.code == "webhook.delivery_not_failed")
            try await database.withConnection { connection in
                try await connection.raw(
                    """
                    UPDATE webhook_deliveries SET state = 'failed', attempts = 10, last_status = 500,
                        last_error = 'HTTP 500'
                    """
                ).run()
            }
            let failed = try await Self.call(client, .get, "/v1/webhook-endpoints/\(endpointID)/deliveries")
            let failedRow = (failed.json["data"] as? [[String: Any]])?.first
            #expect(failedRow?["last_error"] as? String == "HTTP 500" && failedRow?["last_status"] as? Int == 500)
            let replayed = try await Self.call(client, .post, "/v1/webhook-deliveries/\(delivery.id)/retry")
            #expect(replayed.status == .accepted && replayed.json["state"] as? String == "pending")
            #expect(replayed.json["attempts"] as? Int == 0)
            let unknown = try await Self.call(
                client, .post, "/v1/webhook-deliveries/whd_00000000000000000000000000/retry")
            #expect(unknown.status == .notFound && unknown.code == "webhook.delivery_not_found")
            let missing = try await Self.call(
                client, .get, "/v1/webhook-endpoints/whe_00000000000000000000000000/deliveries")
            #expect(missing.code == "webhook.endpoint_not_found")
        }
    }
}
