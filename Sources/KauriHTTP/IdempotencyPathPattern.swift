/// A route pattern such as `/v1/payments/{id}/refunds`, matched against request paths segment by segment:
/// a `{name}` segment matches any one non-empty segment, every other segment only itself.
///
/// Used by `IdempotencyMiddleware` for the routes on which an `Idempotency-Key` is required. Empty segments (a
/// doubled or trailing slash) are ignored on both sides, so `/v1/payments/` matches `/v1/payments`.
public struct IdempotencyPathPattern: Sendable, Hashable, CustomStringConvertible {
    /// One segment of a pattern.
    enum Segment: Sendable, Hashable {
        /// Matches exactly this text.
        case literal(Substring)
        /// Matches any one segment.
        case parameter
    }

    /// The pattern as written.
    public let pattern: String
    let segments: [Segment]

    /// Parses a pattern; it must start with `/`.
    public init(_ pattern: String) {
        precondition(pattern.hasPrefix("/"), "an idempotency path pattern starts with /: \(pattern)")
        self.pattern = pattern
        self.segments = pattern.split(separator: "/").map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? .parameter : .literal(segment)
        }
    }

    /// The pattern as written.
    public var description: String { self.pattern }

    /// Whether `path` (without the query) matches the pattern.
    public func matches(_ path: String) -> Bool {
        let parts = path.split(separator: "/")
        guard parts.count == self.segments.count else { return false }
        for (part, segment) in zip(parts, self.segments) {
            switch segment {
            case .parameter: continue
            case .literal(let text): if part != text { return false }
            }
        }
        return true
    }
}
