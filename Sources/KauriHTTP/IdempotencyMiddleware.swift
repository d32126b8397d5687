import HTTPTypes
import Hummingbird
import KauriCore
import KauriDatabase
import Logging
import NIOCore

/// Makes POST (and PATCH) requests safe to retry with an `Idempotency-Key` header
/// (draft-ietf-httpapi-idempotency-key-header, with Stripe's semantics).
///
/// The first request with a key claims it for its caller and runs; its status, `Content-Type`, `Location` and body
/// are stored, and every retry with the same key and the same request gets exactly those bytes back with
/// `Idempotent-Replayed: true`. A retry while the first request still runs gets 409
/// `idempotency.request_in_progress` with `Retry-After`; the same key with another body, path or method gets 422
/// `idempotency.key_reused`. If the handler throws, the claim is released and nothing is stored, so the retry runs
/// afresh (validation errors can be fixed and resent with the same key). If the server dies mid-request, the
/// claim's lease runs out and a retry takes it over and runs the handler again; handlers key the rows they create
/// by (caller, key) through `AppRequestContext.idempotencyKey`, so the second run finds the first run's work.
///
/// Keys are scoped to `Caller.ownerReference`, so it must run after the authenticators; requests without a caller
/// pass through untouched and the route answers 401.
public struct IdempotencyMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext

    /// The middleware's policy.
    public struct Configuration: Sendable {
        /// Stripe's floor: keys live at least a day.
        public static let retentionDefault: Duration = .seconds(86_400)
        /// Long enough for a request that calls a payment provider (whose own timeouts are shorter).
        public static let leaseDurationDefault: Duration = .seconds(60)
        /// Enough for any JSON response of the API.
        public static let responseBodyBytesMaxDefault = 1_048_576

        /// Route patterns (`/v1/payments/{id}/refunds`) on which a POST without `Idempotency-Key` is refused
        /// with 400 `idempotency.key_missing`; `{name}` matches one path segment.
        public var requiredPaths: [String]
        /// How long a key and its response are kept; afterwards the key is new again.
        public var retention: Duration
        /// How long a running request's claim makes retries wait (409) before one may take it over, on the
        /// presumption that the server running the first request died.
        public var leaseDuration: Duration
        /// The largest response body stored for replay. A larger response is not stored: the claim is released
        /// and the request answers 500, because a response that cannot be replayed must not be half-remembered.
        public var responseBodyBytesMax: Int

        /// Creates the policy.
        public init(
            requiredPaths: [String] = [],
            retention: Duration = Self.retentionDefault,
            leaseDuration: Duration = Self.leaseDurationDefault,
            responseBodyBytesMax: Int = Self.responseBodyBytesMaxDefault
        ) {
            precondition(leaseDuration > .zero, "an idempotency lease lasts a positive time")
            precondition(retention > leaseDuration, "idempotency keys must outlive their leases")
            precondition(responseBodyBytesMax > 0, "stored responses need room for a body")
            self.requiredPaths = requiredPaths
            self.retention = retention
            self.leaseDuration = leaseDuration
            self.responseBodyBytesMax = responseBodyBytesMax
        }
    }

    /// The request header carrying the key.
    public static let keyField = HTTPField.Name("Idempotency-Key")!
    /// The response header marking a replayed response.
    public static let replayedField = HTTPField.Name("Idempotent-Replayed")!
    /// The response headers stored and replayed with the body; the platform middleware adds the rest afresh.
    public static let replayedHeaderNames: [HTTPField.Name] = [.contentType, .location]
    /// The `Retry-After` of a 409 for a request still in progress, in seconds.
    public static let inProgressRetryAfterSeconds = 1

    /// The table of claims and responses.
    public let store: IdempotencyStore
    /// The policy.
    public let configuration: Configuration
    /// The source of "now" for leases and retention.
    private let clock: any WallClock
    /// `configuration.requiredPaths`, parsed once.
    private let requiredPatterns: [IdempotencyPathPattern]

    /// Creates the middleware over `database`, whose migrations must include `IdempotencyMigrations.all`.
    public init(database: Database, clock: any WallClock, configuration: Configuration = Configuration()) {
        self.store = IdempotencyStore(database: database)
        self.configuration = configuration
        self.clock = clock
        self.requiredPatterns = configuration.requiredPaths.map(IdempotencyPathPattern.init)
    }

    /// Answers from the stored response, refuses, or runs the request under a claim on its key.
    public func handle(
        _ request: Request, context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard request.method == .post || request.method == .patch else { return try await next(request, context) }
        let values = request.headers[values: Self.keyField]
        let isRequired = request.method == .post && self.requiredPatterns.contains { $0.matches(request.uri.path) }
        guard !values.isEmpty || isRequired else { return try await next(request, context) }
        // Without a caller there is no scope that keeps one client's responses from another; such requests are
        // refused by their routes (401) or are public and not idempotent through this middleware.
        guard let caller = context.caller else { return try await next(request, context) }
        guard !values.isEmpty else {
            throw APIError(
                .idempotencyKeyMissing,
                detail: "\(request.method.rawValue) \(request.uri.path) needs an Idempotency-Key header (a UUID)")
        }
        guard values.count == 1, let key = IdempotencyKey(headerValue: values[0]) else {
            throw APIError(
                .idempotencyKeyInvalid,
                detail: "send one Idempotency-Key: a quoted string of printable ASCII or a token of "
                    + "A-Z a-z 0-9 - _ . : ~, 1 to \(IdempotencyKey.lengthMax) characters")
        }

        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        let target = request.uri.path + (request.uri.query.map { "?" + $0 } ?? "")
        let fingerprint = IdempotencyFingerprint(method: request.method, target: target, body: body)
        let now = self.clock.now()
        let claim = try await self.store.claim(
            scope: caller.ownerReference, key: key.value, fingerprint: fingerprint.hex,
            method: request.method.rawValue, path: request.uri.path, now: now,
            leaseDuration: self.configuration.leaseDuration, retention: self.configuration.retention)
        switch claim {
        case .claimed(let lease):
            return try await self.execute(request, context: context, key: key, lease: lease, next: next)
        case .existing(let record):
            guard record.fingerprint == fingerprint.hex else {
                throw APIError(
                    .idempotencyKeyReused,
                    detail: "this key was used for a different request (\(record.method) \(record.path) with "
                        + "another body); use a new key for a new request")
            }
            switch record.state {
            case .completed(let stored):
                return Self.replay(stored)
            case .inProgress(let lockedUntil, _):
                if lockedUntil <= now,
                    let lease = try await self.store.takeOver(
                        record, now: now, leaseDuration: self.configuration.leaseDuration)
                {
                    context.logger.info(
                        "idempotency claim taken over after its lease ran out",
                        metadata: ["http.method": .string(record.method), "http.path": .string(record.path)])
                    return try await self.execute(request, context: context, key: key, lease: lease, next: next)
                }
                throw Self.inProgress
            }
        case .contended:
            throw Self.inProgress
        }
    }

    /// 409 `idempotency.request_in_progress` with `Retry-After`.
    static let inProgress = APIError(
        .idempotencyRequestInProgress,
        detail: "the first request with this key is still being processed; retry after it finishes",
        headers: [.retryAfter: String(IdempotencyMiddleware.inProgressRetryAfterSeconds)])

    /// Runs the handler under `lease` and stores what it answered; releases the claim if it throws.
    private func execute(
        _ request: Request, context: AppRequestContext, key: IdempotencyKey, lease: IdempotencyStore.Lease,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.idempotencyKey = key.value
        var response: Response
        let body: ByteBuffer
        do {
            response = try await next(request, context)
            body = try await self.collect(response.body)
        } catch {
            await self.release(lease, context: context)
            throw error
        }
        var headers = HTTPFields()
        for name in Self.replayedHeaderNames {
            for value in response.headers[values: name] { headers.append(HTTPField(name: name, value: value)) }
        }
        let stored = IdempotencyStore.StoredResponse(
            status: response.status.code, headers: headers, body: Array(body.readableBytesView))
        do {
            if try await !self.store.complete(lease, response: stored, now: self.clock.now()) {
                context.logger.warning(
                    "idempotency claim was taken over before the response was stored; not storing it",
                    metadata: ["http.path": .string(request.uri.path)])
            }
        } catch {
            // The handler's work is done: answer with it. A retry re-runs the handler, which finds its own rows.
            context.logger.error(
                "storing the idempotent response failed; releasing the key",
                metadata: ["http.path": .string(request.uri.path), "error": "\(String(reflecting: error))"])
            await self.release(lease, context: context)
        }
        response.body = ResponseBody(byteBuffer: body)
        return response
    }

    /// Releases a claim; a failure only logs, since the lease runs out by itself.
    private func release(_ lease: IdempotencyStore.Lease, context: AppRequestContext) async {
        do {
            try await self.store.release(lease)
        } catch {
            context.logger.warning(
                "releasing an idempotency claim failed; it frees itself when its lease runs out",
                metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// Reads the whole response body, refusing more than `responseBodyBytesMax` bytes.
    private func collect(_ body: ResponseBody) async throws -> ByteBuffer {
        let limit = self.configuration.responseBodyBytesMax
        if let length = body.contentLength, length > limit { throw ResponseTooLargeError(limit: limit) }
        let sink = CollectedBody(limit: limit)
        try await body.write(CollectingWriter(sink: sink))
        return sink.buffer
    }

    /// The stored response with `Idempotent-Replayed: true`.
    static func replay(_ stored: IdempotencyStore.StoredResponse) -> Response {
        var headers = stored.headers
        headers[Self.replayedField] = "true"
        return Response(
            status: HTTPResponse.Status(code: stored.status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: stored.body)))
    }
}

/// A handler answered with a body larger than `IdempotencyMiddleware.Configuration.responseBodyBytesMax`;
/// answered as 500 `internal_error` by the platform middleware.
struct ResponseTooLargeError: Error, CustomStringConvertible {
    /// The limit that was exceeded, in bytes.
    let limit: Int

    /// For the log.
    var description: String { "response body exceeds the idempotency store's limit of \(self.limit) bytes" }
}

/// The bytes a `CollectingWriter` has received; a class because the writer is consumed by `ResponseBody.write`.
private final class CollectedBody {
    /// The most bytes accepted.
    let limit: Int
    /// The bytes so far.
    var buffer = ByteBuffer()

    /// An empty collection accepting up to `limit` bytes.
    init(limit: Int) {
        self.limit = limit
    }
}

/// A response body writer that keeps what it is given, up to a limit.
private struct CollectingWriter: ResponseBodyWriter {
    /// Where the bytes go.
    let sink: CollectedBody

    /// Appends `buffer`, or throws `ResponseTooLargeError` if that would pass the limit.
    mutating func write(_ buffer: ByteBuffer) async throws {
        guard self.sink.buffer.readableBytes + buffer.readableBytes <= self.sink.limit else {
            throw ResponseTooLargeError(limit: self.sink.limit)
        }
        var buffer = buffer
        self.sink.buffer.writeBuffer(&buffer)
    }

    /// Nothing to flush; trailing headers are not replayed.
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
