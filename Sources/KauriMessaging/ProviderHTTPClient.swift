import AsyncHTTPClient
import Foundation
import NIOCore

/// The HTTP plumbing shared by the HTTP messaging adapters: one POST under a deadline, and the translation of
/// every way it can go wrong into a `DeliveryError` that says whether to try again.
///
/// Classification: 408, 429 and 5xx answers, timeouts and connection errors are retryable; other 4xx answers
/// are permanent. Error details are cut to a named length and scrubbed of the adapter's secrets, in case a
/// provider echoes them back.
struct ProviderHTTPClient: Sendable {
    /// The most response body bytes read; provider answers are a few hundred bytes.
    static let responseByteCountMax = 64 * 1024
    /// The most characters of provider text kept in a `DeliveryError.detail`.
    static let detailCharacterCountMax = 300

    /// What the provider answered.
    struct Response: Sendable {
        /// The HTTP status code.
        var status: Int
        /// The body, up to `responseByteCountMax`.
        var body: [UInt8]

        /// Whether the status is one of `accepted`.
        func hasStatus(in accepted: Set<Int>) -> Bool { accepted.contains(self.status) }
    }

    /// The adapter's name, the prefix of every error detail.
    let provider: String
    /// The shared client; its owner shuts it down.
    let httpClient: HTTPClient
    /// The deadline for one request, connection included.
    let requestTimeout: Duration
    /// Values that must never appear in an error detail.
    let secrets: [String]

    /// Posts `body` to `url` and returns the answer whatever its status.
    /// - Throws: `DeliveryError` when no answer came (retryable) or the URL cannot work (permanent).
    func post(url: String, headers: [(name: String, value: String)], body: [UInt8]) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for header in headers {
            request.headers.add(name: header.name, value: header.value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await self.httpClient.execute(request, timeout: TimeAmount(self.requestTimeout))
            let buffer = try await response.body.collect(upTo: Self.responseByteCountMax)
            return Response(status: Int(response.status.code), body: Array(buffer.readableBytesView))
        } catch let error as HTTPClientError
            where error == .invalidURL || error == .emptyHost || error == .emptyScheme
        {
            throw DeliveryError(.permanent, "\(self.provider): the base URL cannot work: \(error)")
        } catch {
            throw DeliveryError(.retryable, "\(self.provider): no answer: \(self.scrub(String(describing: error)))")
        }
    }

    /// The error for an answer that refused the message: retryable for 408, 429 and 5xx, permanent otherwise.
    /// - Parameter reason: The provider's own words when its error body was readable, else the body text is used.
    func failure(_ response: Response, reason: String?) -> DeliveryError {
        let text = reason ?? String(decoding: response.body, as: UTF8.self)
        let detail = "\(self.provider) answered HTTP \(response.status): \(self.scrub(text))"
        return DeliveryError(Self.kind(forStatus: response.status), detail)
    }

    /// A permanent error with `detail`, scrubbed.
    func permanent(_ detail: String) -> DeliveryError {
        DeliveryError(.permanent, "\(self.provider): \(self.scrub(detail))")
    }

    /// A 2xx answer whose body could not be read: the provider may or may not have taken the message, and
    /// sending again is the lesser harm for short notifications.
    func unreadable(_ response: Response) -> DeliveryError {
        DeliveryError(.retryable, "\(self.provider) answered HTTP \(response.status) with an unreadable body")
    }

    /// Decodes a JSON body, or `nil` when it is not that shape.
    func decode<Body: Decodable>(_ type: Body.Type, from response: Response) -> Body? {
        try? JSONDecoder().decode(type, from: Data(response.body))
    }

    /// Whether a status means "try again later".
    static func kind(forStatus status: Int) -> DeliveryError.Kind {
        status == 408 || status == 429 || status >= 500 ? .retryable : .permanent
    }

    /// The `Authorization` value for HTTP Basic authentication.
    static func basicAuthorization(user: String, password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    /// `text` on one line, without secrets, cut to `detailCharacterCountMax`.
    private func scrub(_ text: String) -> String {
        var scrubbed = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        for secret in self.secrets where !secret.isEmpty {
            scrubbed = scrubbed.replacingOccurrences(of: secret, with: "***")
        }
        if scrubbed.count > Self.detailCharacterCountMax {
            scrubbed = String(scrubbed.prefix(Self.detailCharacterCountMax)) + "…"
        }
        return scrubbed
    }
}
