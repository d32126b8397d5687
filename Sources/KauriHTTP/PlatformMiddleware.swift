import HTTPTypes
import Hummingbird
import KauriCore
import Logging
import Metrics
import NIOCore
import Synchronization

/// Settings of the HTTP platform layer.
public struct PlatformConfiguration: Sendable {
    /// Body, page and id limits.
    public var limits: Limits
    /// Origins (`https://shop.example`) allowed to call the API from a browser. Empty: none.
    public var corsAllowedOrigins: Set<String>
    /// Whether to write one access-log line per request.
    public var accessLog: Bool

    /// Creates the settings.
    public init(limits: Limits = Limits(), corsAllowedOrigins: Set<String> = [], accessLog: Bool = true) {
        self.limits = limits
        self.corsAllowedOrigins = corsAllowedOrigins
        self.accessLog = accessLog
    }
}

/// The outermost middleware of every route: request id, body limit, CORS, security headers, problem+json for
/// every error, one access-log line and the request metrics.
///
/// It is one middleware rather than six so that each request pays for one async frame, and so that the
/// order of these concerns is fixed in one place: the id first (everything else logs it), errors rendered
/// before headers are added (error responses get them too), and logging and metrics last (they see the final
/// status).
public struct PlatformMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext

    let configuration: PlatformConfiguration
    let registry: RouteRegistry
    let ids: IDGenerator
    let accessLogger: Logger
    let metrics: RequestMetrics

    static let requestIDField = HTTPField.Name("X-Request-ID")!
    static let securityHeaders: HTTPFields = [
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .strictTransportSecurity: "max-age=63072000; includeSubDomains",
        HTTPField.Name("Cross-Origin-Opener-Policy")!: "same-origin",
        HTTPField.Name("Cross-Origin-Resource-Policy")!: "same-origin",
    ]
    static let defaultContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"
    static let exposedHeaders = "X-Request-ID, Retry-After, Idempotency-Key, Idempotent-Replayed, Location"
    static let preflightMaxAgeSeconds = "600"

    /// Creates the middleware.
    public init(
        configuration: PlatformConfiguration,
        registry: RouteRegistry,
        ids: IDGenerator,
        accessLogger: Logger,
        metricsFactory: any MetricsFactory
    ) {
        self.configuration = configuration
        self.registry = registry
        self.ids = ids
        self.accessLogger = accessLogger
        self.metrics = RequestMetrics(factory: metricsFactory)
    }

    /// Handles one request.
    public func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        context.requestID = self.requestID(from: request)
        context.maxUploadSize = self.configuration.limits.requestBodyBytesMax
        context.logger[metadataKey: "request.id"] = .string(context.requestID)

        let origin = request.headers[.origin]
        let originAllowed = origin.map { self.configuration.corsAllowedOrigins.contains($0) } ?? false
        var response: Response
        if request.method == .options, origin != nil, request.headers[.accessControlRequestMethod] != nil {
            response = self.preflight(request, originAllowed: originAllowed, context: context)
        } else {
            response = await self.respond(request, context: &context, next: next)
        }

        response.headers[Self.requestIDField] = context.requestID
        for field in Self.securityHeaders where response.headers[field.name] == nil {
            response.headers.append(field)
        }
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = Self.defaultContentSecurityPolicy
        }
        if response.headers[.cacheControl] == nil {
            response.headers[.cacheControl] = "no-store"
        }
        if let origin, originAllowed {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.accessControlExposeHeaders] = Self.exposedHeaders
            response.headers.append(HTTPField(name: .vary, value: "Origin"))
        }

        let route = context.endpointPath ?? "unmatched"
        self.record(request: request, route: route, status: response.status.code, start: start, context: context)
        return response
    }

    private func respond(
        _ request: Request,
        context: inout AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async -> Response {
        let instance = request.uri.path
        do {
            if let length = request.headers[.contentLength].flatMap(Int.init),
                length > self.configuration.limits.requestBodyBytesMax
            {
                throw APIError(
                    .bodyTooLarge, detail: "the body exceeds \(self.configuration.limits.requestBodyBytesMax) bytes")
            }
            return try await next(request, context)
        } catch {
            let apiError = self.apiError(for: error, request: request, context: &context)
            return apiError.response(requestID: context.requestID, instance: instance)
        }
    }

    /// Maps anything a route or Hummingbird threw to the API error it is answered with.
    private func apiError(for error: any Error, request: Request, context: inout AppRequestContext) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .notFound where context.endpointPath == "NotFound" || context.endpointPath == nil:
                context.coreContext.endpointPath.value = nil
                let allowed = self.registry.allowedMethods(forPath: request.uri.path)
                if allowed.isEmpty {
                    return APIError(.notFound, detail: "no route for \(request.uri.path)")
                }
                return .methodNotAllowed(request.method, allowed: allowed)
            case .notFound:
                return APIError(.notFound, detail: error.body)
            case .contentTooLarge:
                return APIError(
                    .bodyTooLarge, detail: "the body exceeds \(self.configuration.limits.requestBodyBytesMax) bytes")
            case .unsupportedMediaType:
                return APIError(.unsupportedMediaType, detail: error.body)
            case .methodNotAllowed:
                return .methodNotAllowed(
                    request.method, allowed: self.registry.allowedMethods(forPath: request.uri.path))
            case .badRequest:
                return APIError(.malformedJSON, detail: error.body)
            default:
                return self.internalError(error, context: context)
            }
        case is NIOTooManyBytesError:
            return APIError(
                .bodyTooLarge, detail: "the body exceeds \(self.configuration.limits.requestBodyBytesMax) bytes")
        case let error as DecodingError:
            return APIRequestDecoder.apiError(for: error)
        case let error as any APIErrorConvertible:
            return error.apiError
        default:
            return self.internalError(error, context: context)
        }
    }

    private func internalError(_ error: any Error, context: AppRequestContext) -> APIError {
        context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
        return APIError(.internalError, detail: "quote request id \(context.requestID) when reporting this")
    }

    private func preflight(_ request: Request, originAllowed: Bool, context: AppRequestContext) -> Response {
        guard originAllowed else {
            return APIError(.originNotAllowed, detail: "this origin may not call the API from a browser")
                .response(requestID: context.requestID, instance: request.uri.path)
        }
        var headers: HTTPFields = [
            .accessControlAllowMethods: "GET, POST, PUT, PATCH, DELETE, OPTIONS",
            .accessControlAllowHeaders: "Authorization, Content-Type, Idempotency-Key, X-Request-ID",
            .accessControlMaxAge: Self.preflightMaxAgeSeconds,
        ]
        headers[.accessControlAllowCredentials] = "true"
        return Response(status: .noContent, headers: headers)
    }

    /// The client's request id when it is short and printable, otherwise a fresh one.
    private func requestID(from request: Request) -> String {
        if let given = request.headers[Self.requestIDField], !given.isEmpty,
            given.utf8.count <= self.configuration.limits.requestIDBytesMax,
            given.utf8.allSatisfy(Self.isRequestIDByte)
        {
            return given
        }
        return "req_" + self.ids.makeUUID().base32
    }

    private static func isRequestIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
            UInt8(ascii: ":"):
            true
        default: false
        }
    }

    private func record(
        request: Request, route: String, status: Int, start: ContinuousClock.Instant, context: AppRequestContext
    ) {
        let elapsed = ContinuousClock.now - start
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        self.metrics.record(method: request.method, route: route, status: status, nanoseconds: nanoseconds)
        if self.configuration.accessLog {
            self.accessLogger.info(
                "request",
                metadata: [
                    "http.method": .string(request.method.rawValue),
                    "http.route": .string(route),
                    "http.status": .stringConvertible(status),
                    "http.duration_ms": .stringConvertible(Double(nanoseconds / 1_000) / 1_000),
                    "request.id": .string(context.requestID),
                ])
        }
    }
}

/// A domain error that knows its API form; modules conform their error enums with one exhaustive switch.
public protocol APIErrorConvertible: Error {
    /// The API error this error is answered with.
    var apiError: APIError { get }
}

/// The request counter and latency histogram per (method, route, status), created once and reused.
///
/// Methods outside the standard set are counted as `OTHER` and unknown paths as route `unmatched`, so a
/// client cannot grow the number of series.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let method: String
        let route: String
        let status: Int
    }

    private struct Instruments: @unchecked Sendable {
        // Counter and Timer are thread-safe handles; they lack only the annotation.
        let requests: Counter
        let duration: Metrics.Timer
    }

    private static let knownMethods: Set<HTTPRequest.Method> = [
        .get, .head, .post, .put, .patch, .delete, .options, .connect, .trace,
    ]

    private let factory: any MetricsFactory
    private let instruments = Mutex<[Key: Instruments]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func record(method: HTTPRequest.Method, route: String, status: Int, nanoseconds: Int64) {
        let key = Key(
            method: Self.knownMethods.contains(method) ? method.rawValue : "OTHER", route: route, status: status)
        let instruments = self.instruments.withLock { cache in
            if let existing = cache[key] { return existing }
            let dimensions = [("method", key.method), ("route", key.route), ("status", String(key.status))]
            let created = Instruments(
                requests: Counter(label: "kauri_http_requests_total", dimensions: dimensions, factory: self.factory),
                duration: Metrics.Timer(
                    label: "kauri_http_request_duration_seconds", dimensions: dimensions, factory: self.factory))
            cache[key] = created
            return created
        }
        instruments.requests.increment()
        instruments.duration.recordNanoseconds(nanoseconds)
    }
}
