import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension APIError {
    /// The RFC 9457 body: `type`, `title`, `status`, `detail`, `instance`, plus Kauri's `code`,
    /// `request_id` and, for validation errors, `errors`.
    struct ProblemBody: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String?
        let instance: String
        let code: String
        let requestID: String
        let errors: [FieldError]?

        enum CodingKeys: String, CodingKey {
            case type, title, status, detail, instance, code
            case requestID = "request_id"
            case errors
        }
    }

    /// The `application/problem+json` media type.
    public static let problemContentType = "application/problem+json"

    /// Renders the error as a problem+json response.
    public func response(requestID: String, instance: String) -> Response {
        let body = ProblemBody(
            type: "urn:kauri:error:\(self.code.rawValue)",
            title: self.code.title,
            status: self.code.status,
            detail: self.detail,
            instance: instance,
            code: self.code.rawValue,
            requestID: requestID,
            errors: self.fieldErrors.isEmpty ? nil : self.fieldErrors)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings and ints cannot fail.
        let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
        var headers = self.headers
        headers[.contentType] = Self.problemContentType
        return Response(
            status: HTTPResponse.Status(code: self.code.status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
