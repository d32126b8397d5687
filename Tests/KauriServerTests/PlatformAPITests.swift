import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriDatabase
import KauriHTTP
import KauriServer
import Testing

/// A request body used to exercise validation.
struct EchoRequest: Decodable {
    let amount: Int64
    let currency: Currency
    let items: [Item]

    struct Item: Decodable {
        let quantity: Int
    }
}

/// Adds test-only routes: a JSON echo, a route that needs the database, and one that crashes.
func addTestRoutes(_ api: DocumentedRouter, _ database: Database) {
    api.on(
        .post, "/test/echo",
        OperationDoc("testEcho", summary: "echo", tag: "test", requestSchema: ["type": "object"], responses: [])
    ) { request, context in
        let body = try await request.decode(as: EchoRequest.self, context: context)
        guard body.amount > 0 else { throw APIError.invalidField("amount", code: "not_positive", "must be > 0") }
        return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"amount\":\(body.amount)}")))
    }
    api.on(.get, "/test/items/{id}", OperationDoc("testItem", summary: "item", tag: "test", responses: [])) {
        _, context in
        context.parameters.get("id") ?? ""
    }
    api.on(.get, "/test/database", OperationDoc("testDatabase", summary: "db", tag: "test", responses: [])) { _, _ in
        try await database.withConnection { try await $0.raw("SELECT 1 AS one").run() }
        return "ok"
    }
    api.on(.get, "/test/crash", OperationDoc("testCrash", summary: "crash", tag: "test", responses: [])) {
        _, _ -> String in
        struct Secretive: Error { let password = "hunter2" }
        throw Secretive()
    }
}

@Suite("HTTP platform")
struct PlatformAPITests {
    @Test("GET /healthz answers 200 with security headers and a generated request id")
    func healthz() async throws {
        try await TestApp.run { client, _ in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                let value1 = try TestApp.json(response.body)["status"] as? String
                #expect(value1 == "ok")
                let requestID = try #require(response.headers[HTTPField.Name("X-Request-ID")!])
                #expect(requestID.hasPrefix("req_"))
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(response.headers[.contentSecurityPolicy] != nil)
                #expect(response.headers[.cacheControl] == "no-store")
            }
        }
    }

    @Test("a client's X-Request-ID is echoed and appears in problem details; an unsafe one is replaced")
    func requestIDPropagation() async throws {
        try await TestApp.run { client, _ in
            let header = HTTPField.Name("X-Request-ID")!
            try await client.execute(uri: "/nowhere", method: .get, headers: [header: "abc-123.def:9"]) { response in
                #expect(response.headers[header] == "abc-123.def:9")
                let value2 = try TestApp.json(response.body)["request_id"] as? String
                #expect(value2 == "abc-123.def:9")
            }
            try await client.execute(uri: "/healthz", method: .get, headers: [header: "bad id\u{7f}"]) { response in
                #expect(response.headers[header]?.hasPrefix("req_") == true)
            }
            let tooLong = String(repeating: "a", count: 129)
            try await client.execute(uri: "/healthz", method: .get, headers: [header: tooLong]) { response in
                #expect(response.headers[header] != tooLong)
            }
        }
    }

    @Test("an unknown route is a 404 problem")
    func notFound() async throws {
        try await TestApp.run { client, _ in
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try TestApp.json(response.body)
                #expect(problem["code"] as? String == "request.not_found")
                #expect(problem["status"] as? Int == 404)
                #expect(problem["type"] as? String == "urn:kauri:error:request.not_found")
                #expect(problem["instance"] as? String == "/v1/nothing-here")
                #expect(problem["title"] as? String == "Not found")
            }
        }
    }

    @Test("a known path with the wrong method is a 405 problem with Allow")
    func methodNotAllowed() async throws {
        try await TestApp.run(configureRoutes: addTestRoutes) { client, _ in
            try await client.execute(uri: "/healthz", method: .delete) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET")
                let value3 = try TestApp.json(response.body)["code"] as? String
                #expect(value3 == "request.method_not_allowed")
            }
            try await client.execute(uri: "/test/items/42", method: .post) { response in
                #expect(response.status == .methodNotAllowed)
            }
            try await client.execute(uri: "/test/items/42", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "42")
            }
        }
    }

    @Test("malformed JSON is a 400 problem")
    func malformedJSON() async throws {
        try await TestApp.run(configureRoutes: addTestRoutes) { client, _ in
            for body in ["{\"amount\": ", "", "not json", "[1,2"] {
                try await client.execute(
                    uri: "/test/echo", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    let value4 = try TestApp.json(response.body)["code"] as? String
                    #expect(value4 == "request.malformed_json")
                }
            }
        }
    }

    @Test("a body that is not JSON by content type is a 415 problem")
    func unsupportedMediaType() async throws {
        try await TestApp.run(configureRoutes: addTestRoutes) { client, _ in
            for contentType in ["text/plain", "application/x-www-form-urlencoded", nil] as [String?] {
                var headers: HTTPFields = [:]
                if let contentType { headers[.contentType] = contentType }
                try await client.execute(
                    uri: "/test/echo", method: .post, headers: headers,
                    body: ByteBuffer(string: #"{"amount":1,"currency":"NGN","items":[]}"#)
                ) { response in
                    #expect(response.status == .unsupportedMediaType)
                    let value5 = try TestApp.json(response.body)["code"] as? String
                    #expect(value5 == "request.unsupported_media_type")
                }
            }
            try await client.execute(
                uri: "/test/echo", method: .post, headers: [.contentType: "application/json; charset=utf-8"],
                body: ByteBuffer(string: #"{"amount":1,"currency":"NGN","items":[]}"#)
            ) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("an oversized body is a 413 problem, whether Content-Length says so or not")
    func bodyTooLarge() async throws {
        var settings = ServerSettings()
        settings.limits.requestBodyBytesMax = 1_024
        try await TestApp.run(settings: settings, configureRoutes: addTestRoutes) { client, _ in
            let big =
                "{\"amount\":1,\"currency\":\"NGN\",\"items\":[],\"pad\":\"" + String(repeating: "x", count: 2_000)
                + "\"}"
            try await client.execute(
                uri: "/test/echo", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: big)
            ) { response in
                #expect(response.status == .contentTooLarge)
                let value6 = try TestApp.json(response.body)["code"] as? String
                #expect(value6 == "request.body_too_large")
            }
        }
    }

    @Test("validation failures list every bad field with a path and a code")
    func validation() async throws {
        try await TestApp.run(configureRoutes: addTestRoutes) { client, _ in
            let cases: [(String, String, String)] = [
                (#"{"currency":"NGN","items":[]}"#, "amount", "missing"),
                (#"{"amount":"12","currency":"NGN","items":[]}"#, "amount", "invalid_type"),
                (#"{"amount":12,"currency":"XYZ","items":[]}"#, "currency", "invalid"),
                (#"{"amount":12,"currency":"NGN","items":[{"quantity":"two"}]}"#, "items[0].quantity", "invalid_type"),
                (#"{"amount":0,"currency":"NGN","items":[]}"#, "amount", "not_positive"),
            ]
            for (body, field, code) in cases {
                try await client.execute(
                    uri: "/test/echo", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .unprocessableContent, "\(body)")
                    let problem = try TestApp.json(response.body)
                    #expect(problem["code"] as? String == "request.validation_failed")
                    let errors = try #require(problem["errors"] as? [[String: Any]])
                    #expect(errors.first?["field"] as? String == field, "\(body)")
                    #expect(errors.first?["code"] as? String == code, "\(body)")
                }
            }
        }
    }

    @Test("an unexpected error is a 500 internal_error that reveals nothing")
    func internalError() async throws {
        try await TestApp.run(configureRoutes: addTestRoutes) { client, _ in
            try await client.execute(uri: "/test/crash", method: .get) { response in
                #expect(response.status == .internalServerError)
                let text = String(buffer: response.body)
                #expect(!text.contains("hunter2"))
                #expect(!text.contains("Secretive"))
                let value7 = try TestApp.json(response.body)["code"] as? String
                #expect(value7 == "internal_error")
            }
        }
    }

    @Test("CORS: allowed origins get headers and preflight answers; others get neither")
    func cors() async throws {
        var settings = ServerSettings()
        settings.corsAllowedOrigins = ["https://shop.example"]
        try await TestApp.run(settings: settings) { client, _ in
            try await client.execute(
                uri: "/healthz", method: .options,
                headers: [.origin: "https://shop.example", .accessControlRequestMethod: "POST"]
            ) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == "https://shop.example")
                #expect(response.headers[.accessControlAllowHeaders]?.contains("Idempotency-Key") == true)
            }
            try await client.execute(uri: "/healthz", method: .get, headers: [.origin: "https://shop.example"]) {
                response in
                #expect(response.headers[.accessControlAllowOrigin] == "https://shop.example")
                #expect(response.headers[.vary] == "Origin")
            }
            try await client.execute(
                uri: "/healthz", method: .options,
                headers: [.origin: "https://evil.example", .accessControlRequestMethod: "POST"]
            ) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.accessControlAllowOrigin] == nil)
                let value8 = try TestApp.json(response.body)["code"] as? String
                #expect(value8 == "request.origin_not_allowed")
            }
            try await client.execute(uri: "/healthz", method: .get, headers: [.origin: "https://evil.example"]) {
                response in
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test("each request writes one JSON access-log line with method, route template, status, duration and id")
    func accessLog() async throws {
        let output = LogOutput.capture()
        try await TestApp.run(accessLog: output, configureRoutes: addTestRoutes) { client, _ in
            try await client.execute(
                uri: "/test/items/7", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "trace-1"]
            ) { _ in }
            try await client.execute(uri: "/missing", method: .get) { _ in }
        }
        let lines = output.lines
        #expect(lines.count == 2)
        let first = try #require(
            JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["http.method"] as? String == "GET")
        #expect(first["http.route"] as? String == "/test/items/{id}")
        #expect(first["http.status"] as? Int == 200)
        #expect(first["http.duration_ms"] is Double)
        #expect(first["request.id"] as? String == "trace-1")
        #expect(first["level"] as? String == "info")
        let second = try #require(JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["http.route"] as? String == "unmatched")
        #expect(second["http.status"] as? Int == 404)
    }

    @Test("GET /metrics exposes request counts and latency histograms by route and status")
    func metrics() async throws {
        try await TestApp.run { client, _ in
            for _ in 0..<3 { try await client.execute(uri: "/healthz", method: .get) { _ in } }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"kauri_http_requests_total{method="GET",route="/healthz",status="200"} 3"#))
                #expect(text.contains("kauri_http_request_duration_seconds_bucket"))
            }
        }
    }

    @Test("GET /readyz answers 200 while the database is reachable")
    func readyz() async throws {
        try await TestApp.run { client, _ in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                let value9 = try TestApp.json(response.body)["database"] as? String
                #expect(value9 == "sqlite")
            }
        }
    }

    @Test("with the database gone, /readyz and routes that need it answer 503 problems")
    func databaseGone() async throws {
        try await TestApp.withDataDirectory { directory in
            let database = try Database(
                .sqlite(path: directory + "/gone.sqlite", poolSize: 2), logger: TestApp.quietLogger)
            await database.shutdown()
            try await TestApp.run(configureRoutes: addTestRoutes, database: database) { client, _ in
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    let value10 = try TestApp.json(response.body)["code"] as? String
                    #expect(value10 == "service.database_unavailable")
                }
                try await client.execute(uri: "/test/database", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    let value11 = try TestApp.json(response.body)["code"] as? String
                    #expect(value11 == "service.database_unavailable")
                }
            }
        }
    }
}
