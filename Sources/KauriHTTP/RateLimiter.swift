import Foundation
import HTTPTypes
import Hummingbird
import KauriCore
import Synchronization

/// How many requests a client may make: a burst of `capacity`, refilled continuously at `refillPerSecond`.
public struct RateLimit: Sendable, Hashable {
    /// The most requests allowed at once (the bucket's size).
    public var capacity: Int
    /// How many requests' worth of allowance come back per second.
    public var refillPerSecond: Double

    /// Creates a limit; both numbers must be positive.
    public init(capacity: Int, refillPerSecond: Double) {
        precondition(capacity > 0, "a rate limit needs a positive capacity")
        precondition(refillPerSecond > 0 && refillPerSecond.isFinite, "a rate limit needs a positive refill rate")
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
    }

    /// Parses `"<count>/<second|minute|hour|day>"`, e.g. `"30/minute"`: a burst of 30, refilled at 30 per minute.
    /// Nil for anything else, including a count of zero.
    public init?(parsing text: String) {
        let parts = text.trimmingCharacters(in: .whitespaces).lowercased().split(
            separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0 >= "0" && $0 <= "9" }),
            let count = Int(parts[0]), count > 0
        else {
            return nil
        }
        let seconds: Double
        switch parts[1] {
        case "second": seconds = 1
        case "minute": seconds = 60
        case "hour": seconds = 3_600
        case "day": seconds = 86_400
        default: return nil
        }
        self.init(capacity: count, refillPerSecond: Double(count) / seconds)
    }
}

/// Token buckets per key (a client address, a phone number, an account), in memory.
///
/// Each key starts with a full bucket; a request takes tokens, and tokens come back continuously with time from
/// the injected clock. The table holds at most `maximumKeys` buckets: when it is full, buckets that have refilled
/// completely (which are indistinguishable from new ones) are dropped first, then the least recently used.
public final class TokenBucketLimiter: Sendable {
    /// The outcome of `take`.
    public enum Decision: Sendable, Hashable {
        /// Go ahead; `remaining` whole tokens are left.
        case allowed(remaining: Int)
        /// Refused; enough tokens will be back after `retryAfterSeconds` (at least 1).
        case limited(retryAfterSeconds: Int)
    }

    private struct Bucket {
        var tokens: Double
        var updatedMilliseconds: UInt64
    }

    /// The limit every key gets.
    public let limit: RateLimit
    private let clock: any WallClock
    private let maximumKeys: Int
    private let buckets: Mutex<[String: Bucket]>

    /// Creates a limiter.
    ///
    /// - Parameters:
    ///   - limit: The burst and refill rate of every key.
    ///   - clock: The source of time.
    ///   - maximumKeys: The most keys tracked at once; bounds the memory an attacker with many addresses can use.
    public init(limit: RateLimit, clock: any WallClock, maximumKeys: Int = 100_000) {
        precondition(maximumKeys > 0)
        self.limit = limit
        self.clock = clock
        self.maximumKeys = maximumKeys
        self.buckets = Mutex([:])
    }

    /// Takes `cost` tokens from `key`'s bucket if it has them.
    public func take(_ key: String, cost: Int = 1) -> Decision {
        precondition(cost > 0)
        let now = self.clock.now().unixMilliseconds
        let capacity = Double(self.limit.capacity)
        let rate = self.limit.refillPerSecond
        return self.buckets.withLock { buckets in
            var bucket: Bucket
            if let existing = buckets[key] {
                bucket = existing
                bucket.tokens = self.tokens(in: existing, at: now)
                bucket.updatedMilliseconds = max(existing.updatedMilliseconds, now)
            } else {
                if buckets.count >= self.maximumKeys { self.evict(from: &buckets, at: now) }
                bucket = Bucket(tokens: capacity, updatedMilliseconds: now)
            }
            let decision: Decision
            if bucket.tokens >= Double(cost) {
                bucket.tokens -= Double(cost)
                decision = .allowed(remaining: Int(bucket.tokens.rounded(.down)))
            } else {
                // The epsilon keeps a floating-point hair above a whole number (30.000000001) from adding a second.
                let seconds = ((Double(cost) - bucket.tokens) / rate - 1e-9).rounded(.up)
                decision = .limited(retryAfterSeconds: max(1, Int(min(seconds, Double(Int32.max)))))
            }
            buckets[key] = bucket
            return decision
        }
    }

    /// The number of keys currently tracked.
    public var trackedKeys: Int { self.buckets.withLock { $0.count } }

    /// The tokens a bucket holds at `now`, refilled since it was last updated and capped at the capacity.
    private func tokens(in bucket: Bucket, at now: UInt64) -> Double {
        let elapsedSeconds = Double(now &- min(now, bucket.updatedMilliseconds)) / 1_000
        return min(Double(self.limit.capacity), bucket.tokens + elapsedSeconds * self.limit.refillPerSecond)
    }

    /// Makes room: drops full buckets, then, if still above 90% of the maximum, the least recently used.
    /// Shrinking to 90% keeps this O(n) pass rare (amortised over a tenth of the maximum new keys).
    private func evict(from buckets: inout [String: Bucket], at now: UInt64) {
        let capacity = Double(self.limit.capacity)
        buckets = buckets.filter { self.tokens(in: $0.value, at: now) < capacity }
        let target = self.maximumKeys - max(1, self.maximumKeys / 10)
        guard buckets.count > target else { return }
        let oldest = buckets.sorted { $0.value.updatedMilliseconds < $1.value.updatedMilliseconds }
        for (key, _) in oldest.prefix(buckets.count - target) {
            buckets.removeValue(forKey: key)
        }
    }
}

extension ErrorCode {
    /// The client made too many requests; `Retry-After` says when to try again.
    public static let rateLimited = ErrorCode("request.rate_limited", status: 429, title: "Too many requests")
}

/// Refuses requests over a rate limit with 429 `request.rate_limited` and a `Retry-After` header.
public struct RateLimitMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext

    private let limiter: TokenBucketLimiter
    private let pathPrefixes: [String]
    private let key: @Sendable (Request, AppRequestContext) -> String?

    /// Limits requests whose path starts with one of `pathPrefixes` (all paths if empty), keyed by `key` (default: the
    /// client address); answers 429 `request.rate_limited` with `Retry-After`.
    ///
    /// A prefix matches whole path segments: `/v1/auth` matches `/v1/auth` and `/v1/auth/login`, not `/v1/authors`.
    /// A request for which `key` returns nil is not limited.
    public init(
        limiter: TokenBucketLimiter, pathPrefixes: [String] = [],
        key: @escaping @Sendable (Request, AppRequestContext) -> String? = { _, c in c.clientAddress }
    ) {
        self.limiter = limiter
        self.pathPrefixes = pathPrefixes
        self.key = key
    }

    /// Takes a token for the request's key, or throws the 429.
    public func handle(
        _ request: Request, context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard self.applies(to: request.uri.path), let key = self.key(request, context) else {
            return try await next(request, context)
        }
        switch self.limiter.take(key) {
        case .allowed:
            return try await next(request, context)
        case .limited(let retryAfterSeconds):
            throw APIError(
                .rateLimited, detail: "too many requests; retry in \(retryAfterSeconds) s",
                headers: [.retryAfter: String(retryAfterSeconds)])
        }
    }

    private func applies(to path: String) -> Bool {
        if self.pathPrefixes.isEmpty { return true }
        return self.pathPrefixes.contains { prefix in
            guard path.hasPrefix(prefix) else { return false }
            return path.count == prefix.count || prefix.hasSuffix("/") || path.dropFirst(prefix.count).first == "/"
        }
    }
}
