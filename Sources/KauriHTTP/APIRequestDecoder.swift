import Foundation
import Hummingbird
import NIOCore

/// Decodes JSON request bodies for Kauri routes.
///
/// It refuses anything but a JSON media type (415), bodies over the limit (413), malformed JSON (400), and
/// reports missing or mistyped fields per field (422), always as problem details.
public struct APIRequestDecoder: RequestDecoder {
    /// Creates the decoder.
    public init() {}

    /// Decodes the body of `request` as `T`.
    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws
        -> T
    {
        guard Self.isJSON(request.headers[.contentType]) else {
            throw APIError(.unsupportedMediaType, detail: "send the body as application/json")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            // Collecting fails only on the size limit (NIOTooManyBytesError, or HTTPError 413 when streaming).
            guard error is NIOTooManyBytesError || (error as? HTTPError)?.status == .contentTooLarge else { throw error }
            throw APIError(.bodyTooLarge, detail: "the body exceeds \(context.maxUploadSize) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw Self.apiError(for: error)
        }
    }

    /// True for `application/json` and `application/<anything>+json`, with or without parameters.
    public static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    /// Maps a `DecodingError` to a problem: syntax errors are malformed JSON, everything else names the field.
    static func apiError(for error: DecodingError) -> APIError {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return APIError(.malformedJSON, detail: "the body is not valid JSON")
        case .dataCorrupted(let context):
            return .invalidField(Self.path(context.codingPath), code: "invalid", context.debugDescription)
        case .keyNotFound(let key, let context):
            return .invalidField(Self.path(context.codingPath + [key]), code: "missing", "this field is required")
        case .typeMismatch(let type, let context):
            return .invalidField(
                Self.path(context.codingPath), code: "invalid_type", "expected \(Self.jsonTypeName(type))")
        case .valueNotFound(let type, let context):
            return .invalidField(
                Self.path(context.codingPath), code: "missing", "expected \(Self.jsonTypeName(type)), got null")
        @unknown default:
            return APIError(.malformedJSON, detail: "the body could not be decoded")
        }
    }

    /// Renders a coding path as `items[0].quantity`.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var output = ""
        for key in codingPath {
            if let index = key.intValue {
                output += "[\(index)]"
            } else {
                output += output.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return output.isEmpty ? "$" : output
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}

/// Encodes route results as JSON with sorted keys (stable bytes, so ETags are stable).
public struct APIResponseEncoder: ResponseEncoder {
    /// Creates the encoder.
    public init() {}

    /// Encodes `value` as a 200 JSON response.
    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
