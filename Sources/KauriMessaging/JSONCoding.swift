import Foundation

/// JSON encoding for provider request bodies.
enum JSONCoding {
    /// The UTF-8 JSON of `value`, keys sorted so bodies are stable.
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }
}

extension String {
    /// The string without any trailing `suffix`es, for base URLs given with a trailing slash.
    func trimmingSuffix(_ suffix: String) -> String {
        var trimmed = self
        while !suffix.isEmpty, trimmed.hasSuffix(suffix) {
            trimmed.removeLast(suffix.count)
        }
        return trimmed
    }
}
