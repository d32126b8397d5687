import Foundation
import Hummingbird
import KauriDatabase
import KauriHTTP
import NIOCore
import Prometheus
import Synchronization

/// `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.
struct PlatformRoutes: Sendable {
    let database: Database
    let metrics: PrometheusCollectorRegistry
    let readinessTimeoutMilliseconds: Int
    let openAPI: OpenAPIHolder

    static let statusSchema: JSONValue = [
        "type": "object", "required": ["status"], "properties": ["status": ["type": "string"]],
    ]

    func addRoutes(to api: DocumentedRouter) {
        api.on(
            .get, "/healthz",
            OperationDoc(
                "getHealth", summary: "Liveness: the process is up and serving.", tag: "platform",
                responses: [.json(200, "The process is up.", schema: Self.statusSchema)])
        ) { _, _ in
            Self.json(#"{"status":"ok"}"#)
        }

        api.on(
            .get, "/readyz",
            OperationDoc(
                "getReadiness", summary: "Readiness: the database answers; 503 while it does not.", tag: "platform",
                responses: [.json(200, "Ready to serve.", schema: Self.statusSchema)], errorStatuses: [503])
        ) { _, _ in
            do {
                try await self.database.ping(timeoutMilliseconds: self.readinessTimeoutMilliseconds)
            } catch {
                throw APIError(.databaseUnavailable, detail: "the database did not answer: \(error)")
            }
            return Self.json(#"{"database":"\#(self.database.kind.rawValue)","status":"ready"}"#)
        }

        api.on(
            .get, "/metrics",
            OperationDoc(
                "getMetrics", summary: "Prometheus metrics: request counts and latency by route and status.",
                tag: "platform",
                responses: [
                    ResponseDoc(
                        status: 200, description: "Prometheus text exposition format.",
                        contentType: "text/plain", schema: ["type": "string"])
                ])
        ) { _, _ in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16_384)
            self.metrics.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }

        api.on(
            .get, "/openapi.json",
            OperationDoc(
                "getOpenAPI", summary: "This API's OpenAPI 3.1 description.", tag: "platform",
                responses: [.json(200, "The OpenAPI document.", schema: ["type": "object"])])
        ) { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "public, max-age=60"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.openAPI.bytes)))
        }
    }

    static func json(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The rendered OpenAPI document, set once after every route is registered.
final class OpenAPIHolder: Sendable {
    private let storage = Mutex<[UInt8]>([])

    var bytes: [UInt8] { self.storage.withLock { $0 } }

    func set(_ bytes: [UInt8]) { self.storage.withLock { $0 = bytes } }
}
