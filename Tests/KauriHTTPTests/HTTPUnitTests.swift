import Foundation
import KauriCore
import KauriHTTP
import Logging
import Testing

@Suite("HTTP building blocks")
struct HTTPUnitTests {
    struct Position: Codable, Equatable {
        let createdAt: String
        let id: String
    }

    @Test("cursors round-trip and refuse garbage")
    func cursors() {
        let position = Position(createdAt: "2026-11-21T22:00:00.000Z", id: "pay_01")
        let cursor = Cursor.encode(position)
        #expect(!cursor.contains("=") && !cursor.contains("+") && !cursor.contains("/"))
        #expect(Cursor.decode(Position.self, cursor) == position)
        #expect(Cursor.decode(Position.self, "not-a-cursor!") == nil)
        #expect(Cursor.decode(Position.self, Cursor.encode(["x": 1])) == nil)
    }

    @Test("JSON content types are recognised with parameters and +json suffixes", arguments: [
        ("application/json", true), ("application/json; charset=utf-8", true), ("Application/JSON", true),
        ("application/merge-patch+json", true), ("text/json", false), ("text/plain", false), ("", false),
    ])
    func jsonContentType(contentType: String, expected: Bool) {
        #expect(APIRequestDecoder.isJSON(contentType) == expected)
    }

    @Test("log lines are valid JSON whatever the message and metadata contain")
    func logLineEscaping() throws {
        let output = LogOutput.capture()
        let logger = Logger(label: "t") {
            JSONLogHandler(label: $0, level: .info, output: output, clock: ManualClock(Timestamp(unixMilliseconds: 0)))
        }
        logger.info("quote \" backslash \\ newline \n tab \t bell \u{7}", metadata: [
            "count": .stringConvertible(3), "ratio": .stringConvertible(0.5), "nested": ["a": "b"], "list": ["x", "y"],
        ])
        let line = try #require(output.lines.first)
        #expect(line.hasSuffix("}\n"))
        let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{7}")
        #expect(object["count"] as? Int == 3)
        #expect(object["ratio"] as? Double == 0.5)
        #expect(object["timestamp"] as? String == "1970-01-01T00:00:00.000Z")
        #expect((object["nested"] as? [String: String])?["a"] == "b")
    }

    @Test("405 matching treats {captures} as one segment")
    func routeMatching() {
        let registry = RouteRegistry()
        registry.add(.get, "/v1/payments/{id}", doc: OperationDoc("a", summary: "", tag: "t", responses: []))
        registry.add(.post, "/v1/payments/{id}/refunds", doc: OperationDoc("b", summary: "", tag: "t", responses: []))
        #expect(registry.allowedMethods(forPath: "/v1/payments/pay_1") == [.get])
        #expect(registry.allowedMethods(forPath: "/v1/payments/pay_1/refunds") == [.post])
        #expect(registry.allowedMethods(forPath: "/v1/payments").isEmpty)
    }
}
