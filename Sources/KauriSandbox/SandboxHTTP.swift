import Foundation
import Hummingbird
import KauriCore

/// Request reading and response writing shared by the simulators. Deliberately independent of the adapters'
/// code, so an adapter test checks the adapter against a second implementation of the wire format.
enum SandboxHTTP {
    /// The largest request body a simulator reads.
    static let requestByteCountMax = 64 * 1024

    /// The request body's bytes.
    /// - Throws: `HTTPError(.contentTooLarge)` past `requestByteCountMax`.
    static func body(of request: Request) async throws -> [UInt8] {
        let buffer = try await request.body.collect(upTo: self.requestByteCountMax)
        return Array(buffer.readableBytesView)
    }

    /// The user and password of a `Basic` `Authorization` header, or `nil` when there is none or it is malformed.
    static func basicCredentials(of request: Request) -> (user: String, password: String)? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: header.dropFirst("basic ".count).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The token of a `Bearer` `Authorization` header.
    static func bearerToken(of request: Request) -> String? {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
            return nil
        }
        return String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
    }

    /// The value of the header `name` (any case), which may not be one of `HTTPField.Name`'s predefined names.
    static func header(_ name: String, of request: Request) -> String? {
        let lowercased = name.lowercased()
        return request.headers.first { $0.name.canonicalName == lowercased }?.value
    }

    /// Whether two credentials match, in constant time.
    static func matches(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        return ConstantTime.isEqual(Array(given.utf8), Array(expected.utf8))
    }

    /// Whether the request's `Content-Type` is `type`, parameters ignored.
    static func hasContentType(_ request: Request, _ type: String) -> Bool {
        guard let header = request.headers[.contentType] else { return false }
        let mediaType = header.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return mediaType.lowercased() == type
    }

    /// The fields of an `application/x-www-form-urlencoded` body (`+` is a space, `%XX` a UTF-8 byte), or `nil`
    /// when an escape is broken or the text is not UTF-8. A repeated name keeps its last value.
    static func formFields(_ body: [UInt8]) -> [String: String]? {
        var fields: [String: String] = [:]
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = self.formDecode(parts[0]) else { return nil }
            let value = parts.count > 1 ? self.formDecode(parts[1]) : ""
            guard let value else { return nil }
            fields[name] = value
        }
        return fields
    }

    private static func formDecode(_ bytes: ArraySlice<UInt8>) -> String? {
        var decoded: [UInt8] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                decoded.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex,
                    let high = self.hexValue(bytes[index + 1]), let low = self.hexValue(bytes[index + 2])
                else { return nil }
                decoded.append(high << 4 | low)
                index += 2
            } else {
                decoded.append(byte)
            }
            index += 1
        }
        return String(bytes: decoded, encoding: .utf8)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A JSON response.
    static func json(_ status: Int, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A plain-text response.
    static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// A fresh id: 32 lower-case hex digits.
    static func hexID() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// Applies the next fault for `provider`: sleeps for a delay, or returns the error response for a status.
    static func applyFault(
        _ faults: SandboxFaults, _ provider: SandboxProvider, errorResponse: (Int) -> Response
    ) async throws -> Response? {
        switch faults.take(provider) {
        case .none:
            return nil
        case .delay(let duration):
            try await Task.sleep(for: duration)
            return nil
        case .status(let status):
            return errorResponse(status)
        }
    }
}

extension SandboxHTTP {
    /// A JSON response from a hand-built document, for the payment simulators' exact wire shapes.
    static func document(_ status: Int, _ document: SandboxJSON) -> Response {
        Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: document.bytes)))
    }

    /// `text` with the characters HTML gives meaning to escaped, for a text node or a quoted attribute.
    static func htmlEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// `text` percent-encoded for a URL query value: everything but unreserved characters is escaped.
    static func queryEscaped(_ text: String) -> String {
        let unreserved = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}
