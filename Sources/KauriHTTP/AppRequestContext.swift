import Hummingbird
import KauriCore

/// The per-request state every Kauri route sees: Hummingbird's core storage plus the request id and the
/// body limit set by `PlatformMiddleware`. Later modules add the caller's identity here.
public struct AppRequestContext: RequestContext {
    /// Hummingbird's storage (logger, parameters, endpoint path).
    public var coreContext: CoreRequestContextStorage
    /// The request id: the client's `X-Request-ID` when acceptable, else one Kauri made.
    public var requestID: String
    /// The largest body a route may read, in bytes.
    public var maxUploadSize: Int
    /// Who is calling, once an authenticator recognised the request's credentials.
    public var caller: Caller?
    /// Why presented credentials were refused (an expired or forged access token). Routes that need a caller
    /// answer with it; routes that do not, ignore it.
    public var authenticationFailure: APIError?
    /// The peer's IP address (the TCP connection's remote end), for per-client limits.
    public var clientAddress: String?
    /// The request's validated `Idempotency-Key`, set by `IdempotencyMiddleware`; a handler keys the rows it
    /// creates by (caller, key) so that re-running it after a crash finds them instead of creating new ones.
    public var idempotencyKey: String?

    /// Creates the context for a new request.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
        self.maxUploadSize = Limits().requestBodyBytesMax
        self.caller = nil
        self.authenticationFailure = nil
        self.clientAddress = source.channel.remoteAddress?.ipAddress
        self.idempotencyKey = nil
    }

    /// Decodes JSON bodies, insisting on a JSON content type and turning failures into problem details.
    public var requestDecoder: APIRequestDecoder { APIRequestDecoder() }

    /// Encodes responses as JSON.
    public var responseEncoder: APIResponseEncoder { APIResponseEncoder() }
}
