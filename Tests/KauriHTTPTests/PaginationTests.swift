import Hummingbird
import HTTPTypes
import KauriCore
import KauriHTTP
import NIOCore
import Testing

@Suite("Pagination")
struct PaginationTests {
    struct Position: Codable, Sendable, Equatable {
        let id: Int
    }

    static func request(_ query: String) -> Request {
        Request(
            head: HTTPRequest(method: .get, scheme: "http", authority: "test", path: "/v1/things" + query),
            body: RequestBody(buffer: ByteBuffer()))
    }

    @Test("limit defaults, bounds and cursors are read from the query")
    func pageRequest() throws {
        let limits = Limits()
        let first = try PageRequest<Position>(request: Self.request(""), limits: limits)
        #expect(first.limit == limits.pageSizeDefault)
        #expect(first.after == nil)
        let cursor = Cursor.encode(Position(id: 41))
        let next = try PageRequest<Position>(request: Self.request("?limit=5&cursor=\(cursor)"), limits: limits)
        #expect(next.limit == 5)
        #expect(next.after == Position(id: 41))
        for bad in ["?limit=0", "?limit=101", "?limit=ten", "?cursor=garbage!", "?cursor=" + String(repeating: "a", count: 600)] {
            #expect(throws: APIError.self) { try PageRequest<Position>(request: Self.request(bad), limits: limits) }
        }
    }

    @Test("a page of limit+1 fetched rows has a next cursor pointing at its last item; a short page has none")
    func pageBuilding() throws {
        let request = try PageRequest<Position>(request: Self.request("?limit=2"), limits: Limits())
        let full = request.page(from: [1, 2, 3], item: { $0 }, position: { Position(id: $0) })
        #expect(full.data == [1, 2])
        #expect(full.nextCursor.flatMap { Cursor.decode(Position.self, $0) } == Position(id: 2))
        let last = request.page(from: [7], item: { $0 }, position: { Position(id: $0) })
        #expect(last.data == [7])
        #expect(last.nextCursor == nil)
    }
}
