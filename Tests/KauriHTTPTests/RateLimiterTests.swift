import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KauriCore
import KauriHTTP
import NIOCore
import Testing

@Suite("Rate limiting")
struct RateLimiterTests {
    static let start = Timestamp(unixMilliseconds: 1_800_000_000_000)

    @Test("limits parse from <count>/<unit>", arguments: [
        ("30/minute", 30, 0.5), ("5/second", 5, 5.0), ("100/hour", 100, 100.0 / 3_600), (" 10/Minute ", 10, 10.0 / 60),
        ("10/day", 10, 10.0 / 86_400),
    ])
    func parsing(text: String, capacity: Int, refill: Double) throws {
        let limit = try #require(RateLimit(parsing: text))
        #expect(limit.capacity == capacity)
        #expect(abs(limit.refillPerSecond - refill) < 1e-12)
    }

    @Test("malformed limits are refused", arguments: [
        "", "30", "30/", "/minute", "0/minute", "-1/minute", "+5/minute", "30/min", "30/minute/x", "3.5/second",
        "99999999999999999999/second", "thirty/minute",
    ])
    func parsingRefuses(text: String) {
        #expect(RateLimit(parsing: text) == nil)
    }

    @Test("a bucket allows a burst of its capacity, then refills continuously")
    func burstAndRefill() {
        let clock = ManualClock(Self.start)
        let limiter = TokenBucketLimiter(limit: RateLimit(capacity: 3, refillPerSecond: 1), clock: clock)
        #expect(limiter.take("a") == .allowed(remaining: 2))
        #expect(limiter.take("a") == .allowed(remaining: 1))
        #expect(limiter.take("a") == .allowed(remaining: 0))
        #expect(limiter.take("a") == .limited(retryAfterSeconds: 1))
        clock.advance(milliseconds: 500)
        #expect(limiter.take("a") == .limited(retryAfterSeconds: 1))
        clock.advance(milliseconds: 500)
        #expect(limiter.take("a") == .allowed(remaining: 0))
        // A long pause refills to the capacity, never beyond.
        clock.advance(milliseconds: 3_600_000)
        #expect(limiter.take("a") == .allowed(remaining: 2))
        #expect(limiter.take("a", cost: 2) == .allowed(remaining: 0))
    }

    @Test("Retry-After rounds the wait up to whole seconds")
    func retryAfterRoundsUp() throws {
        let clock = ManualClock(Self.start)
        let limiter = TokenBucketLimiter(limit: try #require(RateLimit(parsing: "30/minute")), clock: clock)
        for index in 0..<30 { #expect(limiter.take("a") == .allowed(remaining: 29 - index)) }
        #expect(limiter.take("a") == .limited(retryAfterSeconds: 2))
        clock.advance(milliseconds: 1_500)
        #expect(limiter.take("a") == .limited(retryAfterSeconds: 1))
        clock.advance(milliseconds: 500)
        #expect(limiter.take("a") == .allowed(remaining: 0))
        #expect(limiter.take("a", cost: 3) == .limited(retryAfterSeconds: 6))
    }

    @Test("keys have separate buckets")
    func separateKeys() {
        let limiter = TokenBucketLimiter(
            limit: RateLimit(capacity: 1, refillPerSecond: 0.01), clock: ManualClock(Self.start))
        #expect(limiter.take("a") == .allowed(remaining: 0))
        #expect(limiter.take("a") == .limited(retryAfterSeconds: 100))
        #expect(limiter.take("b") == .allowed(remaining: 0))
    }

    @Test("the table stays bounded: full buckets go first, then the least recently used")
    func eviction() {
        let clock = ManualClock(Self.start)
        let limiter = TokenBucketLimiter(
            limit: RateLimit(capacity: 1, refillPerSecond: 1), clock: clock, maximumKeys: 10)
        for index in 0..<10 { _ = limiter.take("k\(index)") }
        #expect(limiter.trackedKeys == 10)
        clock.advance(milliseconds: 5_000)
        _ = limiter.take("new")
        #expect(limiter.trackedKeys == 1)

        let slow = TokenBucketLimiter(
            limit: RateLimit(capacity: 1, refillPerSecond: 0.001), clock: clock, maximumKeys: 10)
        for index in 0..<10 {
            _ = slow.take("k\(index)")
            clock.advance(milliseconds: 1)
        }
        _ = slow.take("new")
        #expect(slow.trackedKeys <= 10)
        #expect(slow.take("k9") == .limited(retryAfterSeconds: 1000))
        #expect(slow.take("k0") == .allowed(remaining: 0))
    }

    @Test("the middleware answers 429 problem+json with Retry-After for limited paths only")
    func middleware() async throws {
        let clock = ManualClock(Self.start)
        let limiter = TokenBucketLimiter(limit: try #require(RateLimit(parsing: "2/minute")), clock: clock)
        let clientField = try #require(HTTPField.Name("X-Test-Client"))
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: ProblemRenderer())
        router.add(middleware: RateLimitMiddleware(limiter: limiter, pathPrefixes: ["/v1/auth"]) { request, _ in
            request.headers[clientField]
        })
        router.get("/v1/auth/login") { _, _ in "ok" }
        router.get("/v1/authors") { _, _ in "ok" }
        let app = Application(router: router)
        try await app.test(.router) { client in
            let alice: HTTPFields = [clientField: "alice"]
            for _ in 0..<2 {
                #expect(try await client.execute(uri: "/v1/auth/login", method: .get, headers: alice).status == .ok)
            }
            let limited = try await client.execute(uri: "/v1/auth/login", method: .get, headers: alice)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] == "30")
            #expect(limited.headers[.contentType] == APIError.problemContentType)
            let body = try #require(
                try JSONSerialization.jsonObject(with: Data(String(buffer: limited.body).utf8)) as? [String: Any])
            #expect(body["code"] as? String == "request.rate_limited")
            #expect(body["status"] as? Int == 429)

            // Other paths, other clients and requests without a key are not limited.
            #expect(try await client.execute(uri: "/v1/authors", method: .get, headers: alice).status == .ok)
            let bob: HTTPFields = [clientField: "bob"]
            #expect(try await client.execute(uri: "/v1/auth/login", method: .get, headers: bob).status == .ok)
            #expect(try await client.execute(uri: "/v1/auth/login", method: .get).status == .ok)

            clock.advance(milliseconds: 30_000)
            #expect(try await client.execute(uri: "/v1/auth/login", method: .get, headers: alice).status == .ok)
        }
    }

    /// Renders `APIError` as problem+json, as `PlatformMiddleware` does in the real application.
    struct ProblemRenderer: RouterMiddleware {
        typealias Context = AppRequestContext

        func handle(
            _ request: Request, context: AppRequestContext,
            next: (Request, AppRequestContext) async throws -> Response
        ) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as APIError {
                return error.response(requestID: "test", instance: request.uri.path)
            }
        }
    }
}
