import Hummingbird
import HTTPTypes
import KauriHTTP
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// A context with a small body limit, for driving the decoder directly.
struct SmallLimitContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    init(source: ApplicationRequestContextSource) { self.coreContext = .init(source: source) }
    var maxUploadSize: Int { 1_024 }
}

@Suite("Request decoding")
struct DecoderTests {
    struct Body: Decodable { let name: String }

    static func request(_ body: ByteBuffer) -> Request {
        Request(
            head: HTTPRequest(method: .post, scheme: "http", authority: "test", path: "/", headerFields: [.contentType: "application/json"]),
            body: RequestBody(buffer: body))
    }

    static func context() -> SmallLimitContext {
        SmallLimitContext(source: ApplicationRequestContextSource(channel: EmbeddedChannel(), logger: Logger(label: "test")))
    }

    @Test("a body with no Content-Length is cut off at the limit with a 413 problem")
    func streamedBodyLimit() async throws {
        let big = ByteBuffer(string: "{\"name\":\"" + String(repeating: "x", count: 2_000) + "\"}")
        do {
            _ = try await APIRequestDecoder().decode(Body.self, from: Self.request(big), context: Self.context())
            Issue.record("an oversized body was accepted")
        } catch let error as APIError {
            #expect(error.code == .bodyTooLarge)
        }
        let small = try await APIRequestDecoder().decode(
            Body.self, from: Self.request(ByteBuffer(string: #"{"name":"ok"}"#)), context: Self.context())
        #expect(small.name == "ok")
    }
}
