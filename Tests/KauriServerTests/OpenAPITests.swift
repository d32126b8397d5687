import Foundation
import HTTPTypes
import HummingbirdTesting
import KauriServer
import NIOCore
import Synchronization
import Testing

@Suite("OpenAPI document")
struct OpenAPITests {
    @Test("/openapi.json documents every route the server answers, and only those")
    func documentsEveryRoute() async throws {
        try await TestApp.run { client, _ in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                let document = try TestApp.json(response.body)
                #expect(document["openapi"] as? String == "3.1.0")
                let paths = try #require(document["paths"] as? [String: [String: Any]])
                let documented = Set(
                    paths.flatMap { path, methods in methods.keys.map { "\($0.uppercased()) \(path)" } })
                #expect(
                    documented == [
                        "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /v1/balances",
                        "GET /v1/ledger/transfers", "GET /v1/ledger/accounts/{id}", "POST /v1/ledger/accounts",
                        "POST /v1/ledger/transfers", "POST /v1/auth/otp", "POST /v1/auth/otp/verify",
                        "POST /v1/auth/refresh", "POST /v1/auth/logout", "POST /v1/auth/register",
                        "POST /v1/auth/login",
                        "POST /v1/auth/email/verify", "POST /v1/auth/password/forgot", "POST /v1/auth/password/reset",
                        "POST /v1/auth/totp/enroll", "POST /v1/auth/totp/confirm", "POST /v1/auth/totp/disable",
                        "GET /v1/me", "PATCH /v1/me", "POST /v1/me/phone/verify", "GET /v1/me/sessions",
                        "DELETE /v1/me/sessions/{id}", "GET /v1/users/{id}", "PATCH /v1/users/{id}",
                        "GET /v1/dev/messages", "POST /v1/payments", "GET /v1/payments", "GET /v1/payments/{id}",
                        "GET /v1/payments/{id}/return", "POST /v1/payments/{id}/refunds",
                        "POST /v1/payment-links", "GET /v1/payment-links", "GET /v1/payment-links/{id}",
                        "POST /v1/payment-links/{id}/close", "POST /v1/payment-links/{id}/checkout", "GET /v1/escrows",
                        "GET /v1/escrows/{id}", "POST /v1/sessions", "GET /v1/sessions/{id}",
                        "POST /v1/sessions/{id}/complete",
                        "POST /v1/escrows/{id}/ship", "POST /v1/escrows/{id}/deliver",
                        "POST /v1/escrows/{id}/confirm", "POST /v1/escrows/{id}/disputes",
                        "POST /v1/escrows/{id}/dispute/resolve", "POST /v1/escrows/{id}/review/clear",
                        "PUT /v1/payout-destinations/{currency}", "GET /v1/payout-destinations/{currency}",
                        "POST /v1/payouts", "GET /v1/payouts", "GET /v1/payouts/{id}", "GET /pay/{id}",
                        "POST /pay/{id}", "GET /track/{id}",
                        "GET /v1/payments/{id}/refunds",
                        "POST /v1/webhooks/{gateway}", "POST /v1/callbacks/{id}/{token}", "POST /v1/webhook-endpoints",
                        "GET /v1/webhook-endpoints", "GET /v1/webhook-endpoints/{id}",
                        "DELETE /v1/webhook-endpoints/{id}",
                        "POST /v1/webhook-endpoints/{id}/enable", "POST /v1/webhook-endpoints/{id}/secret/rotate",
                        "GET /v1/webhook-endpoints/{id}/deliveries", "POST /v1/webhook-deliveries/{id}/retry",
                    ])
            }
            // Every documented operation is really served: no route-level 404 or 405.
            for path in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/dev/messages"] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .ok, "\(path)") }
            }
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/v1/balances"), (.get, "/v1/ledger/transfers"), (.get, "/v1/ledger/accounts/x"),
                (.post, "/v1/ledger/accounts"), (.post, "/v1/ledger/transfers"), (.post, "/v1/auth/logout"),
                (.post, "/v1/auth/totp/enroll"), (.post, "/v1/auth/totp/confirm"), (.post, "/v1/auth/totp/disable"),
                (.get, "/v1/me"), (.patch, "/v1/me"), (.post, "/v1/me/phone/verify"), (.get, "/v1/me/sessions"),
                (.delete, "/v1/me/sessions/x"), (.get, "/v1/users/x"), (.patch, "/v1/users/x"),
                (.post, "/v1/payments"), (.get, "/v1/payments"), (.get, "/v1/payments/x"),
                (.post, "/v1/payments/x/refunds"), (.get, "/v1/payments/x/refunds"), (.post, "/v1/webhook-endpoints"),
                (.get, "/v1/webhook-endpoints"), (.get, "/v1/webhook-endpoints/x"),
                (.delete, "/v1/webhook-endpoints/x"),
                (.post, "/v1/webhook-endpoints/x/enable"), (.post, "/v1/webhook-endpoints/x/secret/rotate"),
                (.get, "/v1/webhook-endpoints/x/deliveries"), (.post, "/v1/webhook-deliveries/x/retry"),
            ]
            for (method, path) in routes {
                try await client.execute(uri: path, method: method, body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == .unauthorized, "\(method) \(path)")
                }
            }
            // Public sign-in routes answer (a validation error for the empty body), never 404/405.
            let publicRoutes = [
                "/v1/auth/otp", "/v1/auth/otp/verify", "/v1/auth/refresh", "/v1/auth/register", "/v1/auth/login",
                "/v1/auth/email/verify", "/v1/auth/password/forgot", "/v1/auth/password/reset",
            ]
            for path in publicRoutes {
                try await client.execute(
                    uri: path, method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: "{}")
                ) { response in
                    #expect(response.status == .unprocessableContent, "POST \(path)")
                }
            }
        }
    }

    @Test("the document validates with openapi-spec-validator (PyPI)")
    func validatesWithOpenAPISpecValidator() async throws {
        let captured = Mutex<Data>(Data())
        try await TestApp.run { client, _ in
            let data = try await client.execute(uri: "/openapi.json", method: .get) { Data($0.body.readableBytesView) }
            captured.withLock { $0 = data }
        }
        let document = captured.withLock { $0 }
        #expect(!document.isEmpty)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kauri-openapi-\(UUID()).json")
        try document.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "openapi_spec_validator", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(
            process.terminationStatus == 0,
            "openapi-spec-validator failed (pip install openapi-spec-validator if it is missing): \(output)")
    }
}
