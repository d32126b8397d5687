import AsyncHTTPClient
import Foundation
import KauriCore
import NIOCore
import Synchronization

/// The HTTP plumbing shared by the payment gateway adapters: one JSON request under an explicit deadline over the
/// shared `HTTPClient`, and the translation of every way it can go wrong into a `GatewayError` that says what the
/// caller does next.
///
/// Transport failures are classified by whether the provider could have acted:
/// - A POST whose body was never pulled by the connection was never sent: `.unavailable` (safe to retry).
/// - A POST that was (at least partly) sent and then timed out: `.timedOut`; lost any other way: `.outcomeUnknown`.
/// - A GET creates nothing at the provider: a timeout is `.timedOut`, anything else `.unavailable`.
///
/// Answers are classified by status (`failure(for:providerMessage:)`): 429 → `.rateLimited`, 401/403 →
/// `.authenticationFailed`, 408 and 5xx → `.unavailable`, other 4xx → `.invalidRequest`, anything else
/// unexpected → `.outcomeUnknown`. Adapters look at the provider's body first for the answers they recognise
/// (declined, duplicate reference). Error text is cut to a named length and scrubbed of the adapter's secrets.
struct GatewayHTTPClient: Sendable {
    /// The most response body bytes read; a Paystack list page of refunds is the largest answer we read.
    static let responseByteCountMax = 512 * 1024
    /// The most characters of provider text kept in an error.
    static let detailCharacterCountMax = 300
    /// The longest `Retry-After` we pass on, in seconds; a longer one is clamped.
    static let retryAfterSecondsMax = 3_600

    /// The HTTP methods the adapters use.
    enum Method: Sendable {
        /// A read; creates nothing at the provider.
        case get
        /// A write; may create a charge, refund or transfer.
        case post
    }

    /// What the provider answered.
    struct Response: Sendable {
        /// The HTTP status code.
        var status: Int
        /// The `Retry-After` header in whole seconds, clamped to `retryAfterSecondsMax`; nil when absent or a date.
        var retryAfterSeconds: Int?
        /// The body, up to `responseByteCountMax`.
        var body: [UInt8]

        /// Whether the status is 2xx.
        var isSuccess: Bool { (200...299).contains(self.status) }
    }

    /// The gateway's name, the prefix of every error text.
    let gateway: GatewayName
    /// The shared client; its owner shuts it down.
    let httpClient: HTTPClient
    /// The deadline for one request, connection included.
    let requestTimeout: Duration
    /// Values that must never appear in an error's text.
    let secrets: [String]

    /// Sends one request and returns the answer whatever its status.
    /// - Parameters:
    ///   - method: GET or POST.
    ///   - url: The full URL, query included.
    ///   - headers: Extra headers (authorization); `Accept: application/json` is always sent, and
    ///     `Content-Type: application/json` with a body.
    ///   - body: The JSON body of a POST.
    /// - Throws: `GatewayError` when no complete answer came.
    func send(
        _ method: Method, url: String, headers: [(name: String, value: String)], body: [UInt8]? = nil
    ) async throws(GatewayError) -> Response {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        for header in headers {
            request.headers.add(name: header.name, value: header.value)
        }
        let sendStarted = SendStarted()
        switch method {
        case .get:
            request.method = .GET
        case .post:
            request.method = .POST
            let bytes = body ?? []
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .stream(
                ObservedBody(buffer: ByteBuffer(bytes: bytes), sendStarted: sendStarted), length: .known(bytes.count))
        }
        let response: HTTPClientResponse
        do {
            response = try await self.httpClient.execute(request, timeout: Self.timeAmount(self.requestTimeout))
        } catch {
            throw self.transportFailure(error, method: method, sent: sendStarted.value)
        }
        do {
            let buffer = try await response.body.collect(upTo: Self.responseByteCountMax)
            return Response(
                status: Int(response.status.code),
                retryAfterSeconds: Self.retryAfterSeconds(response.headers.first(name: "Retry-After")),
                body: Array(buffer.readableBytesView))
        } catch {
            // The status line arrived, so the provider received the whole request; the answer was lost.
            if Self.isTimeout(error) { throw .timedOut }
            throw .outcomeUnknown(
                "\(self.gateway) answered HTTP \(response.status.code) but the body could not be read: "
                    + self.scrub(String(describing: error)))
        }
    }

    /// The error for an answer the adapter did not recognise as success, by status.
    /// - Parameter providerMessage: The provider's own words when its error body was readable; else the body text.
    func failure(for response: Response, providerMessage: String?) -> GatewayError {
        let text = providerMessage ?? String(decoding: response.body, as: UTF8.self)
        let detail = "\(self.gateway) answered HTTP \(response.status): \(self.scrub(text))"
        switch response.status {
        case 429:
            return .rateLimited(retryAfterSeconds: response.retryAfterSeconds)
        case 401, 403:
            return .authenticationFailed(detail)
        case 408, 500...599:
            return .unavailable(detail)
        case 400...499:
            return .invalidRequest(detail)
        default:
            return .outcomeUnknown(detail)
        }
    }

    /// A 2xx answer whose body is not the documented shape: the provider may or may not have acted.
    func unreadable(_ response: Response) -> GatewayError {
        .outcomeUnknown("\(self.gateway) answered HTTP \(response.status) with a body in an unexpected shape")
    }

    /// An `.invalidRequest` with `detail`, prefixed and scrubbed.
    func invalidRequest(_ detail: String) -> GatewayError {
        .invalidRequest("\(self.gateway): \(self.scrub(detail))")
    }

    /// A `.declined` with the provider's code and words, scrubbed.
    func declined(code: String, message: String) -> GatewayError {
        .declined(code: code, message: self.scrub(message))
    }

    /// The provider's text made safe for an error: one line, no secrets, at most `detailCharacterCountMax`.
    func scrub(_ text: String) -> String {
        var scrubbed = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        for secret in self.secrets where !secret.isEmpty {
            scrubbed = scrubbed.replacingOccurrences(of: secret, with: "***")
        }
        if scrubbed.count > Self.detailCharacterCountMax {
            scrubbed = String(scrubbed.prefix(Self.detailCharacterCountMax)) + "…"
        }
        return scrubbed
    }

    /// Decodes a JSON body, or `nil` when it is not that shape.
    static func decode<Body: Decodable>(_ type: Body.Type, from bytes: [UInt8]) -> Body? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }

    /// The UTF-8 JSON of `value`, keys sorted so bodies are stable.
    static func encode(_ value: some Encodable) throws(GatewayError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw .invalidRequest("the request body could not be encoded: \(error)")
        }
    }

    /// The `Authorization` value for HTTP Basic authentication.
    static func basicAuthorization(user: String, password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// `text` percent-encoded for a URL path segment or query value: everything but RFC 3986 unreserved
    /// characters is escaped.
    static func percentEncoded(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                encoded += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]], as: UTF8.self)
            }
        }
        return encoded
    }

    /// A base URL without trailing slashes, so paths can be appended with one.
    static func normalizedBaseURL(_ baseURL: String) -> String {
        var trimmed = baseURL
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        return trimmed
    }

    /// `text` cut to at most `count` characters.
    static func clipped(_ text: String, to count: Int) -> String {
        text.count <= count ? text : String(text.prefix(count))
    }

    /// The whole seconds of a `Retry-After: <seconds>` value, clamped to `retryAfterSecondsMax`; nil when absent
    /// or in the HTTP-date form.
    static func retryAfterSeconds(_ value: String?) -> Int? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), let seconds = Int(value), seconds >= 0
        else { return nil }
        return min(seconds, Self.retryAfterSecondsMax)
    }

    /// The NIO time amount for a Swift `Duration`, to nanosecond precision.
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// Whether an AsyncHTTPClient error is one of its timeouts.
    static func isTimeout(_ error: any Error) -> Bool {
        guard let error = error as? HTTPClientError else { return false }
        return error == .deadlineExceeded || error == .readTimeout || error == .writeTimeout
            || error == .connectTimeout || error == .tlsHandshakeTimeout || error == .getConnectionFromPoolTimeout
    }

    private func transportFailure(_ error: any Error, method: Method, sent: Bool) -> GatewayError {
        if let error = error as? HTTPClientError, error == .invalidURL || error == .emptyHost || error == .emptyScheme {
            return .invalidRequest("\(self.gateway): the base URL cannot work: \(error)")
        }
        let detail = "\(self.gateway): no answer: \(self.scrub(String(describing: error)))"
        switch method {
        case .get:
            return Self.isTimeout(error) ? .timedOut : .unavailable(detail)
        case .post:
            guard sent else { return .unavailable(detail) }
            return Self.isTimeout(error) ? .timedOut : .outcomeUnknown(detail)
        }
    }
}

/// Remembers whether the connection started pulling a request body, i.e. whether any of the request may have
/// reached the provider.
private final class SendStarted: Sendable {
    private let started = Atomic<Bool>(false)

    /// Whether the body was pulled.
    var value: Bool { self.started.load(ordering: .acquiring) }

    /// Records that the body was pulled.
    func mark() { self.started.store(true, ordering: .releasing) }
}

/// A request body of one buffer that records when AsyncHTTPClient first pulls it, which happens only once a
/// connection is established and the request head is being written.
private struct ObservedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    /// The whole body.
    let buffer: ByteBuffer
    /// Set on the first pull.
    let sendStarted: SendStarted

    func makeAsyncIterator() -> Iterator { Iterator(buffer: self.buffer, sendStarted: self.sendStarted) }

    /// Yields the buffer once.
    struct Iterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        let sendStarted: SendStarted

        mutating func next() async -> ByteBuffer? {
            self.sendStarted.mark()
            defer { self.buffer = nil }
            return self.buffer
        }
    }
}
