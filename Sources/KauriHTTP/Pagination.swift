import Foundation
import Hummingbird
import KauriCore

/// One page of a list: `{"data": [...], "next_cursor": "..." | null}`.
public struct Page<Item: Encodable & Sendable>: Encodable, Sendable, ResponseEncodable {
    /// The items on this page, in the list's order.
    public var data: [Item]
    /// The opaque cursor for the next page, or nil on the last page.
    public var nextCursor: String?

    /// Creates a page.
    public init(data: [Item], nextCursor: String?) {
        self.data = data
        self.nextCursor = nextCursor
    }

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
    }

    /// Encodes `next_cursor` as an explicit null on the last page.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.data, forKey: .data)
        try container.encode(self.nextCursor, forKey: .nextCursor)
    }
}

/// What a list request asked for: a page size and the position after which to continue.
///
/// The cursor is an opaque base64url string wrapping a JSON position the store chose (for example the last
/// row's sort key and id); clients never build one.
public struct PageRequest<Position: Codable & Sendable>: Sendable {
    /// How many items to return.
    public let limit: Int
    /// Where the previous page ended, or nil for the first page.
    public let after: Position?

    /// Reads `limit` and `cursor` from the query string, refusing out-of-range or forged values.
    public init(request: Request, limits: Limits) throws(APIError) {
        let query = request.uri.queryParameters
        if let text = query["limit"] {
            guard let limit = Int(String(text)), limit >= 1, limit <= limits.pageSizeMax else {
                throw APIError(.invalidQuery, detail: "limit must be an integer from 1 to \(limits.pageSizeMax)")
            }
            self.limit = limit
        } else {
            self.limit = limits.pageSizeDefault
        }
        if let text = query["cursor"], !text.isEmpty {
            guard text.utf8.count <= limits.cursorBytesMax, let position = Cursor.decode(Position.self, String(text))
            else {
                throw APIError(.invalidQuery, detail: "cursor is not one this server issued")
            }
            self.after = position
        } else {
            self.after = nil
        }
    }

    /// Builds the page from up to `limit + 1` fetched rows: the extra row only proves there is a next page.
    public func page<Row, Item>(
        from rows: [Row], item: (Row) -> Item, position: (Row) -> Position
    ) -> Page<Item> {
        let hasMore = rows.count > self.limit
        let pageRows = rows.prefix(self.limit)
        let cursor = hasMore ? pageRows.last.map { Cursor.encode(position($0)) } : nil
        return Page(data: pageRows.map(item), nextCursor: cursor)
    }
}

/// Encodes and decodes opaque cursors (base64url without padding, over JSON).
public enum Cursor {
    /// The cursor string for a position.
    public static func encode(_ position: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = (try? encoder.encode(position)) ?? Data()
        return data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The position in a cursor string, or nil if it is not a cursor for this kind of position.
    public static func decode<Position: Decodable>(_ type: Position.Type, _ cursor: String) -> Position? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return try? JSONDecoder().decode(Position.self, from: data)
    }
}
