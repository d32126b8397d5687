/// The named bounds Kauri puts on everything a client or a worker can make it do.
///
/// A limit lives here when more than one module needs it; module-specific limits live with their module.
public struct Limits: Sendable, Hashable {
    /// The largest request body accepted, in bytes; larger bodies answer 413.
    public var requestBodyBytesMax: Int
    /// The page size used when a list request names none.
    public var pageSizeDefault: Int
    /// The largest page size a list request may ask for.
    public var pageSizeMax: Int
    /// The longest cursor string accepted, in bytes.
    public var cursorBytesMax: Int
    /// The longest `X-Request-ID` accepted from a client; longer ones are replaced with our own.
    public var requestIDBytesMax: Int
    /// How long in-flight requests may take to finish after a shutdown signal, in seconds.
    public var shutdownGraceSeconds: Int
    /// How long a readiness probe waits for the database, in milliseconds.
    public var readinessTimeoutMilliseconds: Int

    /// Creates limits, each defaulting to the value documented in README.md.
    public init(
        requestBodyBytesMax: Int = 1_048_576,
        pageSizeDefault: Int = 20,
        pageSizeMax: Int = 100,
        cursorBytesMax: Int = 512,
        requestIDBytesMax: Int = 128,
        shutdownGraceSeconds: Int = 30,
        readinessTimeoutMilliseconds: Int = 2_000
    ) {
        precondition(pageSizeDefault > 0 && pageSizeDefault <= pageSizeMax)
        self.requestBodyBytesMax = requestBodyBytesMax
        self.pageSizeDefault = pageSizeDefault
        self.pageSizeMax = pageSizeMax
        self.cursorBytesMax = cursorBytesMax
        self.requestIDBytesMax = requestIDBytesMax
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.readinessTimeoutMilliseconds = readinessTimeoutMilliseconds
    }
}
