import KauriCore

/// Daraja's OAuth access token, fetched once and shared by every call until shortly before it expires.
///
/// Concurrent callers that find no usable token wait for one fetch rather than each fetching their own. A token
/// Daraja refuses ("Invalid Access Token") is dropped with `invalidate(_:)`, so the next caller fetches anew.
actor DarajaTokenCache {
    /// How long before its stated expiry a token stops being used, so a call never starts with a token that dies
    /// on the way.
    static let refreshMarginMilliseconds: UInt64 = 60_000
    /// The longest lifetime believed, in seconds; Daraja states 3599.
    static let lifetimeSecondsMax: Int64 = 3_600

    /// A token and when it stops being usable.
    struct Token: Sendable {
        /// The bearer token.
        var value: String
        /// Its expiry as Daraja stated it.
        var expiresAt: Timestamp
    }

    /// Fetches a token: the access token and its lifetime in seconds.
    typealias Fetch = @Sendable () async throws(GatewayError) -> (value: String, lifetimeSeconds: Int64)

    private let clock: any WallClock
    private var token: Token?
    private var inFlight: Task<Token, any Error>?

    /// A cache reading the time from `clock`.
    init(clock: any WallClock) {
        self.clock = clock
    }

    /// A usable token: the cached one while it is more than `refreshMarginMilliseconds` from expiry, else a new
    /// one from `fetch`.
    func accessToken(fetch: @escaping Fetch) async throws(GatewayError) -> String {
        if let token = self.token,
            self.clock.now().unixMilliseconds + Self.refreshMarginMilliseconds < token.expiresAt.unixMilliseconds
        {
            return token.value
        }
        let task: Task<Token, any Error>
        if let inFlight = self.inFlight {
            task = inFlight
        } else {
            let clock = self.clock
            task = Task {
                let (value, lifetimeSeconds) = try await fetch()
                let seconds = UInt64(min(max(lifetimeSeconds, 0), Self.lifetimeSecondsMax))
                return Token(value: value, expiresAt: clock.now().adding(milliseconds: seconds * 1_000))
            }
            self.inFlight = task
        }
        do {
            let token = try await task.value
            self.finish(task, with: token)
            return token.value
        } catch {
            self.finish(task, with: nil)
            if let error = error as? GatewayError { throw error }
            throw .unavailable("mpesa: the access token could not be fetched: \(error)")
        }
    }

    /// Drops `value` if it is the cached token, after Daraja refused it.
    func invalidate(_ value: String) {
        if self.token?.value == value { self.token = nil }
    }

    /// Records the outcome of `task` if it is still the fetch in flight.
    private func finish(_ task: Task<Token, any Error>, with token: Token?) {
        guard self.inFlight == task else { return }
        self.inFlight = nil
        if let token { self.token = token }
    }
}
