import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import KauriServer
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
                let documented = Set(paths.flatMap { path, methods in methods.keys.map { "\($0.uppercased()) \(path)" } })
                #expect(
                    documented == [
                        "GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /v1/balances",
                        "GET /v1/ledger/transfers", "GET /v1/ledger/accounts/{id}", "POST /v1/ledger/accounts",
                        "POST /v1/ledger/transfers",
                    ])
            }
            // Every documented operation is really served: no route-level 404 or 405.
            for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .ok, "\(path)") }
            }
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/v1/balances"), (.get, "/v1/ledger/transfers"), (.get, "/v1/ledger/accounts/x"),
                (.post, "/v1/ledger/accounts"), (.post, "/v1/ledger/transfers"),
            ]
            for (method, path) in routes {
                try await client.execute(uri: path, method: method, body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == .unauthorized, "\(method) \(path)")
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
